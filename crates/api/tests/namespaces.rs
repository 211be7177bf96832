//! `/api/v1/namespaces`

mod common;

use common::*;
use serde_json::json;
use stateplane_model::{DeploymentId, DeploymentState, Savepoint, SavepointOrigin, SavepointState};

#[tokio::test]
async fn create_list_get() {
    let s = start().await;
    let r = s
        .post(
            "/api/v1/namespaces",
            &json!({"metadata": {"name": "team-a"}}),
        )
        .await;
    let ns = r.ok(201);
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "team-a");
    let list = s.get("/api/v1/namespaces").await;
    assert_eq!(list.ok(200)["kind"], "ResourceListOfNamespace");
    let names: Vec<&str> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["default", "team-a"]);
    s.get("/api/v1/namespaces/team-a").await.ok(200);
    let r = s
        .post(
            "/api/v1/namespaces",
            &json!({"metadata": {"name": "team-a"}}),
        )
        .await;
    r.error(409, "ALREADY_EXISTS");
}

#[tokio::test]
async fn names_must_be_dns_labels() {
    let s = start().await;
    for bad in ["Team", "a_b", "-a", "", &"a".repeat(64)] {
        let r = s
            .post("/api/v1/namespaces", &json!({"metadata": {"name": bad}}))
            .await;
        assert_eq!(
            r.error(422, "INVALID_FIELD")["field"],
            "metadata.name",
            "{bad}"
        );
    }
    let r = s.post("/api/v1/namespaces", &json!({"metadata": {}})).await;
    assert_eq!(r.error(422, "INVALID_FIELD")["field"], "metadata.name");
    let r = s
        .post("/api/v1/namespaces", &json!({"metadata": {"name": ["x"]}}))
        .await;
    assert_eq!(r.error(422, "MALFORMED_FIELD")["field"], "metadata.name");
    assert_eq!(
        s.get("/api/v1/namespaces").await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing was written"
    );
}

#[tokio::test]
async fn delete_is_refused_while_a_deployment_is_not_cancelled() {
    let s = start().await;
    s.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "team-b"}}),
    )
    .await
    .ok(201);
    let d = s
        .create_deployment("team-b", "job", json!({"state": "RUNNING"}))
        .await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    let r = s.delete("/api/v1/namespaces/team-b").await;
    let m = r.error(409, "NAMESPACE_IN_USE")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains("'job'") && m.contains("CANCELLED"), "{m}");

    // desired CANCELLED but still running: refused too
    s.patch(
        "/api/v1/namespaces/team-b/deployments/job",
        &json!({"spec": {"state": "CANCELLED"}}),
    )
    .await
    .ok(200);
    let mut dep = s.store.deployment_get("team-b", id).await.unwrap();
    dep.status.state = DeploymentState::Running;
    let dep = s.store.deployment_update(&dep).await.unwrap();
    s.delete("/api/v1/namespaces/team-b")
        .await
        .error(409, "NAMESPACE_IN_USE");

    // cancelled: the namespace goes with its resources, savepoint data untouched
    let mut dep = dep;
    dep.status.state = DeploymentState::Cancelled;
    s.store.deployment_update(&dep).await.unwrap();
    let sp = Savepoint::new(
        "team-b",
        id,
        SavepointOrigin::Copied,
        SavepointState::Completed,
        Some("file:///tmp/sp-keep".into()),
    );
    s.store.savepoint_create(&sp).await.unwrap();
    s.delete("/api/v1/namespaces/team-b").await.ok(200);
    s.get("/api/v1/namespaces/team-b")
        .await
        .error(404, "NOT_FOUND");
    s.get("/api/v1/namespaces/team-b/deployments")
        .await
        .error(404, "NOT_FOUND");
    s.delete("/api/v1/namespaces/team-b")
        .await
        .error(404, "NOT_FOUND");
}

#[tokio::test]
async fn default_cannot_be_deleted() {
    let s = start().await;
    s.delete("/api/v1/namespaces/default")
        .await
        .error(409, "REFUSED");
    s.get("/api/v1/namespaces/default").await.ok(200);
}
