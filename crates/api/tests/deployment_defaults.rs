//! `/api/v1/namespaces/{ns}/deployment-defaults`

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

const DEFAULTS: &str = "/api/v1/namespaces/default/deployment-defaults";

#[tokio::test]
async fn defaults_start_empty_and_merge_under_new_deployments() {
    let s = start().await;
    let d = s.get(DEFAULTS).await;
    assert_eq!(d.ok(200)["spec"], json!({}));
    assert_eq!(d.json["metadata"]["resourceVersion"], 0);

    let r = s
        .patch(
            DEFAULTS,
            &json!({"spec": {
                "upgradeStrategy": {"kind": "STATELESS"},
                "restoreStrategy": {"kind": "LATEST_SAVEPOINT"},
                "template": {"spec": {"parallelism": 2, "flinkConfiguration": {"a": "1", "b": "1"}}}
            }}),
        )
        .await;
    assert_eq!(r.ok(200)["spec"]["template"]["spec"]["parallelism"], 2);

    // explicit fields win, the rest comes from the defaults
    let dep = s
        .create_deployment(
            "default",
            "merged",
            json!({
                "restoreStrategy": {"kind": "NONE"},
                "template": {"spec": {"flinkConfiguration": {"b": "2"}}}
            }),
        )
        .await;
    assert_eq!(dep["spec"]["upgradeStrategy"]["kind"], "STATELESS");
    assert_eq!(dep["spec"]["restoreStrategy"]["kind"], "NONE");
    assert_eq!(dep["spec"]["template"]["spec"]["parallelism"], 2);
    assert_eq!(
        dep["spec"]["template"]["spec"]["flinkConfiguration"],
        json!({"a": "1", "b": "2"})
    );

    // a merge patch: null removes, other keys stay
    let r = s
        .patch(DEFAULTS, &json!({"spec": {"upgradeStrategy": null}}))
        .await;
    assert!(r.ok(200)["spec"].get("upgradeStrategy").is_none());
    assert_eq!(r.json["spec"]["template"]["spec"]["parallelism"], 2);
}

#[tokio::test]
async fn defaults_with_wrong_types_are_refused_naming_the_field() {
    let s = start().await;
    let r = s
        .patch(
            DEFAULTS,
            &json!({"spec": {"template": {"spec": {"parallelism": "two"}}}}),
        )
        .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "spec.template.spec.parallelism"
    );
    let r = s
        .patch(
            DEFAULTS,
            &json!({"spec": {"upgradeStrategy": {"kind": "SIDEWAYS"}}}),
        )
        .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "spec.upgradeStrategy.kind"
    );
    let r = s
        .patch(
            DEFAULTS,
            &json!({"spec": {"template": {"spec": {"parallelism": 0}}}}),
        )
        .await;
    assert_eq!(
        r.error(422, "INVALID_FIELD")["field"],
        "spec.template.spec.parallelism"
    );
    let r = s
        .patch(
            DEFAULTS,
            &json!({"spec": {"deploymentTargetName": "missing"}}),
        )
        .await;
    assert_eq!(
        r.error(422, "INVALID_FIELD")["field"],
        "spec.deploymentTargetName"
    );
    let r = s.patch(DEFAULTS, &json!({"spce": {}})).await;
    assert_eq!(r.error(422, "INVALID_FIELD")["field"], "spce");
    assert_eq!(
        s.get(DEFAULTS).await.json["metadata"]["resourceVersion"],
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn stale_versions_conflict_and_yaml_patches_work() {
    let s = start().await;
    let yaml = "spec:\n  template:\n    spec:\n      parallelism: 3\n";
    let r = s
        .raw(
            Method::PATCH,
            DEFAULTS,
            &[("content-type", "application/yaml")],
            Some(yaml.into()),
        )
        .await;
    let v = r.ok(200)["metadata"]["resourceVersion"].as_i64().unwrap();
    let r = s
        .patch(
            DEFAULTS,
            &json!({"metadata": {"resourceVersion": v - 1}, "spec": {"state": "RUNNING"}}),
        )
        .await;
    r.error(409, "CONFLICT");
    let r = s
        .patch(
            DEFAULTS,
            &json!({"metadata": {"resourceVersion": v}, "spec": {"state": "RUNNING"}}),
        )
        .await;
    assert_eq!(r.ok(200)["spec"]["state"], "RUNNING");
    // a patch that changes nothing writes nothing
    let again = s
        .patch(DEFAULTS, &json!({"spec": {"state": "RUNNING"}}))
        .await;
    assert_eq!(
        again.ok(200)["metadata"]["resourceVersion"],
        r.json["metadata"]["resourceVersion"]
    );
}
