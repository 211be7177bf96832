//! Concurrency: many clients changing one deployment (compare-and-swap on resourceVersion, no lost
//! update), and many savepoint requests on one running job (taken one at a time, oldest first, all
//! complete).

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_patching_one_deployment_lose_no_update() {
    let h = Harness::start().await;
    h.create_deployment("contended", json!({"state": "CANCELLED"}))
        .await;
    let url = h.url("deployments/contended");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let http = h.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            loop {
                let d: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
                let rv = d["metadata"]["resourceVersion"].as_i64().unwrap();
                let r = http
                    .patch(&url)
                    .json(&json!({"metadata": {"resourceVersion": rv, "labels": {format!("client-{i}"): "done"}}}))
                    .send()
                    .await
                    .unwrap();
                match r.status().as_u16() {
                    200 => return conflicts,
                    409 => conflicts += 1,
                    other => panic!("client {i}: unexpected {other}: {}", r.text().await.unwrap_or_default()),
                }
            }
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let d = h.deployment("contended").await;
    let labels = d["metadata"]["labels"].as_object().unwrap();
    for i in 0..50 {
        assert_eq!(
            labels.get(&format!("client-{i}")).and_then(|v| v.as_str()),
            Some("done"),
            "client {i}'s write was lost"
        );
    }
    assert!(
        conflicts > 0,
        "50 concurrent writers should have collided at least once"
    );
    assert_eq!(
        d["metadata"]["resourceVersion"].as_i64().unwrap(),
        51,
        "one version per accepted write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_savepoint_requests_are_serialised_and_all_complete() {
    let h = Harness::start().await;
    let d = h.create_deployment("busy", json!({})).await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    h.wait_state("busy", "RUNNING", T).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let http = h.http.clone();
        let url = h.url("savepoints");
        let dep_id = dep_id.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(&url)
                .json(&json!({"metadata": {"deploymentId": dep_id}}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            let v: serde_json::Value = r.json().await.unwrap();
            v["metadata"]["id"].as_str().unwrap().to_string()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let mut locations = HashSet::new();
    for id in &ids {
        let sp = h
            .wait_savepoint(
                id,
                &["COMPLETED", "FAILED"],
                std::time::Duration::from_secs(180),
            )
            .await;
        assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
        locations.insert(
            sp["spec"]["savepointLocation"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(locations.len(), 50);
    // Taken one at a time, oldest request first: completion order follows creation order.
    let sps = h.savepoints(&dep_id).await; // newest first
    let created: Vec<String> = sps
        .iter()
        .rev()
        .map(|s| s["metadata"]["id"].as_str().unwrap().to_string())
        .collect();
    let (_, events) = h.get(&format!("events?deploymentId={dep_id}")).await;
    let completed: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["metadata"]["name"] == "SAVEPOINT_COMPLETED")
        .map(|e| e["metadata"]["savepointId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        completed, created,
        "completed in the order they were requested"
    );
    h.patch("deployments/busy", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("busy", "CANCELLED", T).await;
}
