//! `/api/v1/namespaces/{ns}/deployments`

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::json;
use stateplane_model::{DeploymentId, DeploymentState, SPEC_VERSION_ANNOTATION};

const DEPLOYMENTS: &str = "/api/v1/namespaces/default/deployments";

fn version(d: &serde_json::Value) -> &str {
    d["metadata"]["annotations"][SPEC_VERSION_ANNOTATION]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn create_assigns_server_fields_and_spec_version_one() {
    let s = start().await;
    let r = s
        .post(DEPLOYMENTS, &json!({
            "metadata": {"name": "wordcount", "displayName": "Word count", "labels": {"team": "a"},
                         "annotations": {SPEC_VERSION_ANNOTATION: "7", "owner": "me"}},
            "spec": minimal_spec()
        }))
        .await;
    let d = r.ok(201);
    assert_eq!(d["apiVersion"], "v1");
    assert_eq!(d["kind"], "Deployment");
    assert!(d["metadata"]["id"]
        .as_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .is_ok());
    assert_eq!(d["metadata"]["namespace"], "default");
    assert_eq!(d["metadata"]["resourceVersion"], 1);
    assert!(d["metadata"]["createdAt"].is_string());
    assert_eq!(version(d), "1", "a client's spec version is overwritten");
    assert_eq!(d["metadata"]["annotations"]["owner"], "me");
    assert_eq!(d["metadata"]["labels"]["team"], "a");
    assert_eq!(d["metadata"]["displayName"], "Word count");
    assert_eq!(d["spec"]["state"], "CANCELLED");
    assert_eq!(d["status"]["state"], "CANCELLED");

    // by id and by name
    let id = id_of(d);
    assert_eq!(
        s.get(&format!("{DEPLOYMENTS}/{id}")).await.ok(200)["metadata"]["name"],
        "wordcount"
    );
    assert_eq!(
        s.get(&format!("{DEPLOYMENTS}/wordcount")).await.ok(200)["metadata"]["id"],
        id.as_str()
    );
    let list = s.get(DEPLOYMENTS).await;
    assert_eq!(list.ok(200)["kind"], "ResourceListOfDeployment");
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);

    // names are unique per namespace, and free in another one
    s.post(
        DEPLOYMENTS,
        &json!({"metadata": {"name": "wordcount"}, "spec": minimal_spec()}),
    )
    .await
    .error(409, "ALREADY_EXISTS");
    s.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await
    .ok(201);
    s.create_deployment("other", "wordcount", json!({})).await;
    // another namespace's deployment is not found here, by id or by name
    s.get(&format!("/api/v1/namespaces/other/deployments/{id}"))
        .await
        .error(404, "NOT_FOUND");
}

#[tokio::test]
async fn invalid_deployments_name_the_field() {
    let s = start().await;
    let cases = [
        (
            json!({"metadata": {"name": "Bad_Name"}, "spec": minimal_spec()}),
            "metadata.name",
        ),
        (json!({"spec": minimal_spec()}), "metadata.name"),
        (
            json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "job.jar"}}}}}),
            "spec.template.spec.artifact.jarUri",
        ),
        (
            json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"parallelism": 0, "artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}}}),
            "spec.template.spec.parallelism",
        ),
        (
            json!({"metadata": {"name": "x"}, "spec": {"deploymentTargetName": "nowhere", "template": minimal_spec()["template"]}}),
            "spec.deploymentTargetName",
        ),
        (
            json!({"metadata": {"name": "x", "namespace": "elsewhere"}, "spec": minimal_spec()}),
            "metadata.namespace",
        ),
    ];
    for (body, field) in cases {
        let r = s.post(DEPLOYMENTS, &body).await;
        assert_eq!(r.error(422, "INVALID_FIELD")["field"], field, "{}", r.text);
    }
    let r = s
        .post(DEPLOYMENTS, &json!({"metadata": {"name": "x"}}))
        .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "spec",
        "{}",
        r.text
    );
    assert!(
        r.json["message"].as_str().unwrap().contains("template"),
        "{}",
        r.text
    );
    assert_eq!(
        s.get(DEPLOYMENTS).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing was written"
    );
}

/// Durations out of their bounds are refused on create and on PATCH, naming the field and the
/// allowed range, and nothing is written.
#[tokio::test]
async fn durations_out_of_bounds_are_refused_and_change_nothing() {
    let s = start().await;
    let cases = [
        (
            json!({"periodicSavepointInterval": "0ms"}),
            "spec.periodicSavepointInterval",
            "10s to 365d",
        ),
        (
            json!({"periodicSavepointInterval": "9999999999d"}),
            "spec.periodicSavepointInterval",
            "10s to 365d",
        ),
        (
            json!({"savepointRetention": {"maxAge": "0s"}}),
            "spec.savepointRetention.maxAge",
            "1m to 3650d",
        ),
        (
            json!({"savepointRetention": {"maxAge": "9999999999d"}}),
            "spec.savepointRetention.maxAge",
            "1m to 3650d",
        ),
    ];
    for (extra, field, range) in &cases {
        let mut spec = minimal_spec();
        stateplane_model::merge::merge_patch(&mut spec, extra);
        let r = s
            .post(
                DEPLOYMENTS,
                &json!({"metadata": {"name": "bad"}, "spec": spec}),
            )
            .await;
        assert_eq!(r.error(422, "INVALID_FIELD")["field"], *field, "{}", r.text);
        let m = r.json["message"].as_str().unwrap();
        assert!(m.contains(field) && m.contains(range), "{m}");
    }
    s.get(&format!("{DEPLOYMENTS}/bad"))
        .await
        .error(404, "NOT_FOUND");

    let d = s
        .create_deployment(
            "default",
            "timed",
            json!({"periodicSavepointInterval": "30m"}),
        )
        .await;
    let path = format!("{DEPLOYMENTS}/timed");
    for (extra, field, range) in &cases {
        let r = s.patch(&path, &json!({"spec": extra})).await;
        assert_eq!(r.error(422, "INVALID_FIELD")["field"], *field, "{}", r.text);
        assert!(
            r.json["message"].as_str().unwrap().contains(range),
            "{}",
            r.text
        );
    }
    let now = s.get(&path).await;
    assert_eq!(now.ok(200), &d, "nothing was written");
    assert_eq!(now.json["spec"]["periodicSavepointInterval"], "30m");

    // the bounds themselves are accepted
    let r = s
        .patch(
            &path,
            &json!({"spec": {"periodicSavepointInterval": "10s", "savepointRetention": {"maxAge": "1m"}}}),
        )
        .await;
    assert_eq!(r.ok(200)["spec"]["periodicSavepointInterval"], "10s");
}

#[tokio::test]
async fn spec_version_grows_with_template_changes_only() {
    let s = start().await;
    let d = s.create_deployment("default", "versions", json!({})).await;
    let path = format!("{DEPLOYMENTS}/{}", id_of(&d));

    let r = s
        .patch(&path, &json!({"metadata": {"labels": {"env": "prod"}}}))
        .await;
    assert_eq!(
        version(r.ok(200)),
        "1",
        "a label change keeps the spec version"
    );
    assert_eq!(r.json["metadata"]["resourceVersion"], 2);

    let r = s.patch(&path, &json!({"spec": {"state": "RUNNING"}})).await;
    assert_eq!(
        version(r.ok(200)),
        "1",
        "a state change keeps the spec version"
    );

    let r = s
        .patch(
            &path,
            &json!({"spec": {"template": {"spec": {"parallelism": 4}}}}),
        )
        .await;
    assert_eq!(version(r.ok(200)), "2", "a template change bumps it");
    assert_eq!(
        r.json["spec"]["template"]["spec"]["artifact"]["jarUri"], "file:///opt/jobs/job.jar",
        "merge keeps the rest"
    );

    let r = s
        .patch(
            &path,
            &json!({"spec": {"template": {"spec": {"flinkConfiguration": {"x": "y"}}}}}),
        )
        .await;
    assert_eq!(version(r.ok(200)), "3");
    let rv = r.json["metadata"]["resourceVersion"].clone();

    // a PATCH that changes nothing bumps nothing
    let r = s
        .patch(
            &path,
            &json!({"spec": {"template": {"spec": {"parallelism": 4}}}}),
        )
        .await;
    assert_eq!(version(r.ok(200)), "3");
    assert_eq!(r.json["metadata"]["resourceVersion"], rv);

    // clients cannot set the spec version
    let r = s
        .patch(
            &path,
            &json!({"metadata": {"annotations": {SPEC_VERSION_ANNOTATION: "99", "note": "hi"}}}),
        )
        .await;
    assert_eq!(version(r.ok(200)), "3");
    assert_eq!(r.json["metadata"]["annotations"]["note"], "hi");
}

#[tokio::test]
async fn stale_resource_versions_conflict() {
    let s = start().await;
    let d = s.create_deployment("default", "cas", json!({})).await;
    let path = format!("{DEPLOYMENTS}/cas");
    let r = s
        .patch(
            &path,
            &json!({"metadata": {"resourceVersion": 1, "labels": {"a": "1"}}}),
        )
        .await;
    assert_eq!(r.ok(200)["metadata"]["resourceVersion"], 2);
    let r = s
        .patch(
            &path,
            &json!({"metadata": {"resourceVersion": 1, "labels": {"a": "2"}}}),
        )
        .await;
    let m = r.error(409, "CONFLICT")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains('2') && m.contains('1'), "{m}");
    assert_eq!(
        s.get(&path).await.json["metadata"]["labels"]["a"],
        "1",
        "nothing was written"
    );
    let r = s
        .patch(&path, &json!({"metadata": {"resourceVersion": "x"}}))
        .await;
    assert_eq!(
        r.error(422, "MALFORMED_FIELD")["field"],
        "metadata.resourceVersion"
    );
    let _ = d;
}

#[tokio::test]
async fn patch_refuses_server_owned_fields() {
    let s = start().await;
    let d = s.create_deployment("default", "owned", json!({})).await;
    let path = format!("{DEPLOYMENTS}/owned");
    let cases = [
        (json!({"status": {"state": "RUNNING"}}), "status"),
        (
            json!({"metadata": {"id": "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e"}}),
            "metadata.id",
        ),
        (json!({"metadata": {"name": "renamed"}}), "metadata.name"),
        (
            json!({"metadata": {"namespace": "other"}}),
            "metadata.namespace",
        ),
        (
            json!({"metadata": {"createdAt": "2020-01-01T00:00:00Z"}}),
            "metadata.createdAt",
        ),
        (json!({"metadata": {"colour": "red"}}), "metadata.colour"),
        (json!({"sepc": {}}), "sepc"),
        (
            json!({"spec": {"upgradeStrategy": {"kind": "SIDEWAYS"}}}),
            "spec.upgradeStrategy.kind",
        ),
        (
            json!({"spec": {"template": {"spec": {"artifact": {"jarUri": "relative.jar"}}}}}),
            "spec.template.spec.artifact.jarUri",
        ),
    ];
    for (body, field) in cases {
        let r = s.patch(&path, &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.field(), field, "{}", r.text);
    }
    // repeating the unchanged values (a GET's output, status aside) is fine
    let mut back = d.clone();
    back.as_object_mut().unwrap().remove("status");
    s.patch(&path, &back).await.ok(200);
    let after = s.get(&path).await;
    assert_eq!(
        after.json["metadata"]["resourceVersion"], 1,
        "nothing was written"
    );
}

#[tokio::test]
async fn patch_accepts_yaml() {
    let s = start().await;
    s.create_deployment("default", "yaml-patch", json!({}))
        .await;
    let yaml = "spec:\n  state: running\n  template:\n    spec:\n      parallelism: 2\nmetadata:\n  labels:\n    tier: gold\n";
    let r = s
        .raw(
            Method::PATCH,
            &format!("{DEPLOYMENTS}/yaml-patch"),
            &[("content-type", "application/yaml")],
            Some(yaml.into()),
        )
        .await;
    let d = r.ok(200);
    assert_eq!(d["spec"]["state"], "RUNNING");
    assert_eq!(d["spec"]["template"]["spec"]["parallelism"], 2);
    assert_eq!(d["metadata"]["labels"]["tier"], "gold");
    // a merge patch with null removes
    let r = s
        .patch(
            &format!("{DEPLOYMENTS}/yaml-patch"),
            &json!({"metadata": {"labels": {"tier": null}}}),
        )
        .await;
    assert_eq!(r.ok(200)["metadata"]["labels"], json!({}));
}

#[tokio::test]
async fn label_selector_filters() {
    let s = start().await;
    s.create_deployment("default", "a", json!({})).await;
    s.create_deployment("default", "b", json!({})).await;
    s.create_deployment("default", "c", json!({})).await;
    s.patch(
        &format!("{DEPLOYMENTS}/a"),
        &json!({"metadata": {"labels": {"team": "x", "env": "prod"}}}),
    )
    .await
    .ok(200);
    s.patch(
        &format!("{DEPLOYMENTS}/b"),
        &json!({"metadata": {"labels": {"team": "x", "env": "dev"}}}),
    )
    .await
    .ok(200);
    let names = |r: &Resp| -> Vec<String> {
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&s.get(&format!("{DEPLOYMENTS}?labelSelector=team=x")).await),
        vec!["a", "b"]
    );
    assert_eq!(
        names(
            &s.get(&format!("{DEPLOYMENTS}?labelSelector=team%3Dx,env%3Dprod"))
                .await
        ),
        vec!["a"]
    );
    assert!(names(&s.get(&format!("{DEPLOYMENTS}?labelSelector=team=y")).await).is_empty());
    // Kubernetes selector syntax: a bare key asks for its existence.
    assert_eq!(
        names(&s.get(&format!("{DEPLOYMENTS}?labelSelector=team")).await),
        vec!["a", "b"]
    );
    for bad in ["=x", "a=b,", "a=b=c"] {
        let r = s.get(&format!("{DEPLOYMENTS}?labelSelector={bad}")).await;
        assert_eq!(
            r.error(400, "INVALID_PARAMETER")["field"],
            "labelSelector",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn delete_only_when_cancelled_and_stopped() {
    let s = start().await;
    let d = s
        .create_deployment("default", "del", json!({"state": "RUNNING"}))
        .await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    let path = format!("{DEPLOYMENTS}/del");
    s.delete(&path).await.error(409, "DEPLOYMENT_NOT_CANCELLED");
    s.patch(&path, &json!({"spec": {"state": "CANCELLED"}}))
        .await
        .ok(200);
    let mut dep = s.store.deployment_get("default", id).await.unwrap();
    dep.status.state = DeploymentState::Transitioning;
    let mut dep = s.store.deployment_update(&dep).await.unwrap();
    s.delete(&path).await.error(409, "DEPLOYMENT_NOT_CANCELLED");
    dep.status.state = DeploymentState::Cancelled;
    s.store.deployment_update(&dep).await.unwrap();
    let r = s.delete(&path).await;
    assert_eq!(r.ok(200)["metadata"]["name"], "del");
    s.get(&path).await.error(404, "NOT_FOUND");
}

#[tokio::test]
async fn long_poll_returns_when_status_changes() {
    let s = start().await;
    let d = s
        .create_deployment("default", "poll", json!({"state": "RUNNING"}))
        .await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    // The long-poll is in flight before the change it waits for is written.
    let poll = get_in_flight(
        &s,
        &format!("{DEPLOYMENTS}/poll?waitFor=RUNNING&timeout=20s"),
    )
    .await;
    let t = Instant::now();
    let mut dep = s.store.deployment_get("default", id).await.unwrap();
    dep.status.state = DeploymentState::Running;
    s.store.deployment_update(&dep).await.unwrap();
    let (status, body) = poll.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"]["state"], "RUNNING");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // nothing changes: the current resource at the timeout
    let t = Instant::now();
    let r = s
        .get(&format!(
            "{DEPLOYMENTS}/poll?waitFor=FAILED,SUSPENDED&timeout=700ms"
        ))
        .await;
    assert_eq!(r.ok(200)["status"]["state"], "RUNNING");
    assert!(
        t.elapsed() >= Duration::from_millis(650) && t.elapsed() < Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );

    // already there: at once
    let t = Instant::now();
    s.get(&format!("{DEPLOYMENTS}/poll?waitFor=running&timeout=30s"))
        .await
        .ok(200);
    assert!(t.elapsed() < Duration::from_secs(2));

    for (q, field) in [
        ("waitFor=SOMEDAY", "waitFor"),
        ("waitFor=RUNNING&timeout=forever", "timeout"),
        ("waitFor=RUNNING&timeout=9999999999d", "timeout"),
        ("waitFor=RUNNING&timeout=99999999999999999999999", "timeout"),
        ("timeout=5s", "timeout"),
    ] {
        let r = s.get(&format!("{DEPLOYMENTS}/poll?{q}")).await;
        assert_eq!(r.error(400, "INVALID_PARAMETER")["field"], field, "{q}");
    }
}

#[tokio::test]
async fn yaml_out_when_accept_prefers_it() {
    let s = start().await;
    s.create_deployment("default", "yaml-out", json!({})).await;
    let r = s
        .raw(
            Method::GET,
            &format!("{DEPLOYMENTS}/yaml-out"),
            &[("accept", "application/yaml")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("application/yaml"),
        "{}",
        r.content_type
    );
    let v: serde_json::Value = serde_saphyr::from_str(&r.text).unwrap();
    assert_eq!(v["metadata"]["name"], "yaml-out");
    assert!(r.text.contains("kind: Deployment"), "{}", r.text);
    let r = s
        .raw(
            Method::GET,
            DEPLOYMENTS,
            &[("accept", "application/json, application/yaml;q=0.5")],
            None,
        )
        .await;
    assert!(r.content_type.starts_with("application/json"));
}
