//! `/api/v1/namespaces/{ns}/deployment-targets`

mod common;

use common::*;
use serde_json::json;

const TARGETS: &str = "/api/v1/namespaces/default/deployment-targets";

#[tokio::test]
async fn create_list_get_delete() {
    let s = start().await;
    let r = s.post(TARGETS, &json!({"metadata": {"name": "local"}, "spec": {"flinkSessionCluster": {"restUrl": "http://127.0.0.1:8081"}}})).await;
    let t = r.ok(201);
    assert_eq!(t["kind"], "DeploymentTarget");
    assert_eq!(
        t["spec"]["flinkSessionCluster"]["restUrl"],
        "http://127.0.0.1:8081"
    );
    assert_eq!(
        s.get(TARGETS).await.ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.get(&format!("{TARGETS}/local")).await.ok(200);
    let r = s.post(TARGETS, &json!({"metadata": {"name": "local"}, "spec": {"flinkSessionCluster": {"restUrl": "http://x:1"}}})).await;
    r.error(409, "ALREADY_EXISTS");
    s.delete(&format!("{TARGETS}/local")).await.ok(200);
    s.get(&format!("{TARGETS}/local"))
        .await
        .error(404, "NOT_FOUND");
}

#[tokio::test]
async fn bad_targets_name_the_field() {
    let s = start().await;
    let r = s.post(TARGETS, &json!({"metadata": {"name": "t"}, "spec": {"flinkSessionCluster": {"restUrl": "127.0.0.1:8081"}}})).await;
    assert_eq!(
        r.error(422, "INVALID_FIELD")["field"],
        "spec.flinkSessionCluster.restUrl"
    );
    let r = s.post(TARGETS, &json!({"metadata": {"name": "T"}, "spec": {"flinkSessionCluster": {"restUrl": "http://x"}}})).await;
    assert_eq!(r.error(422, "INVALID_FIELD")["field"], "metadata.name");
    let r = s
        .post(
            TARGETS,
            &json!({"metadata": {"name": "t"}, "spec": {"flinkSessionCluster": {"restUrl": 8081}}}),
        )
        .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "spec.flinkSessionCluster.restUrl"
    );
    let r = s.post(TARGETS, &json!({"metadata": {"name": "t"}})).await;
    r.error(422, "MALFORMED_FIELD");
    assert_eq!(
        s.get(TARGETS).await.json["items"].as_array().unwrap().len(),
        0
    );
}

#[tokio::test]
async fn delete_is_refused_while_a_deployment_uses_it() {
    let s = start().await;
    s.post(TARGETS, &json!({"metadata": {"name": "prod"}, "spec": {"flinkSessionCluster": {"restUrl": "http://flink:8081"}}})).await.ok(201);
    s.create_deployment(
        "default",
        "uses-prod",
        json!({"deploymentTargetName": "prod"}),
    )
    .await;
    let r = s.delete(&format!("{TARGETS}/prod")).await;
    let m = r.error(409, "TARGET_IN_USE")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains("uses-prod"), "{m}");
    s.get(&format!("{TARGETS}/prod")).await.ok(200);
    s.delete("/api/v1/namespaces/default/deployments/uses-prod")
        .await
        .ok(200);
    s.delete(&format!("{TARGETS}/prod")).await.ok(200);
}
