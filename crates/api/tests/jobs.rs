//! `/api/v1/namespaces/{ns}/jobs` (read-only)

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use stateplane_model::DeploymentId;

#[tokio::test]
async fn jobs_are_listed_and_read() {
    let s = start().await;
    let r = s.get("/api/v1/namespaces/default/jobs").await;
    assert_eq!(r.ok(200)["kind"], "ResourceListOfJob");
    assert_eq!(r.json["items"], json!([]));
    let d = s.create_deployment("default", "with-job", json!({})).await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    let job = s.make_running("default", id, Some("1")).await;
    let r = s
        .get(&format!(
            "/api/v1/namespaces/default/jobs?deploymentId={id}"
        ))
        .await;
    assert_eq!(r.ok(200)["items"].as_array().unwrap().len(), 1);
    let other = "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e";
    assert_eq!(
        s.get(&format!(
            "/api/v1/namespaces/default/jobs?deploymentId={other}"
        ))
        .await
        .json["items"],
        json!([])
    );
    let r = s
        .get(&format!(
            "/api/v1/namespaces/default/jobs/{}",
            job.metadata.id
        ))
        .await;
    assert_eq!(r.ok(200)["kind"], "Job");
    assert_eq!(r.json["metadata"]["deploymentId"], id.to_string());
    // another namespace does not see it
    s.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "elsewhere"}}),
    )
    .await
    .ok(201);
    s.get(&format!(
        "/api/v1/namespaces/elsewhere/jobs/{}",
        job.metadata.id
    ))
    .await
    .error(404, "NOT_FOUND");
    // read-only
    s.raw(
        Method::DELETE,
        &format!("/api/v1/namespaces/default/jobs/{}", job.metadata.id),
        &[],
        None,
    )
    .await
    .error(405, "METHOD_NOT_ALLOWED");
}
