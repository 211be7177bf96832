//! `/api/v1/namespaces/{ns}/events` (read-only)

mod common;

use common::*;
use serde_json::json;
use stateplane_model::{DeploymentId, Event, EventName};

#[tokio::test]
async fn events_are_listed_with_filters() {
    let s = start().await;
    let r = s.get("/api/v1/namespaces/default/events").await;
    assert_eq!(r.ok(200)["kind"], "ResourceListOfEvent");
    assert_eq!(r.json["items"], json!([]));
    let d = s.create_deployment("default", "evented", json!({})).await;
    let id: DeploymentId = id_of(&d).parse().unwrap();
    let job = s.make_running("default", id, None).await;
    s.store
        .event_append(
            &Event::new("default", id, EventName::CreatingANewJob, "starting")
                .with_job(job.metadata.id),
        )
        .await
        .unwrap();
    s.store
        .event_append(&Event::new(
            "default",
            id,
            EventName::JobSuccessfullyStarted,
            "running",
        ))
        .await
        .unwrap();
    let r = s
        .get(&format!(
            "/api/v1/namespaces/default/events?deploymentId={id}"
        ))
        .await;
    let names: Vec<&str> = r.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["CREATING_A_NEW_JOB", "JOB_SUCCESSFULLY_STARTED"],
        "oldest first"
    );
    let r = s
        .get(&format!(
            "/api/v1/namespaces/default/events?jobId={}",
            job.metadata.id
        ))
        .await;
    assert_eq!(r.ok(200)["items"].as_array().unwrap().len(), 1);
    let other = "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e";
    assert_eq!(
        s.get(&format!(
            "/api/v1/namespaces/default/events?deploymentId={other}"
        ))
        .await
        .json["items"],
        json!([])
    );
}
