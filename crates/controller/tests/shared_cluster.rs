//! Twenty deployments on one real Flink session cluster, all asked for a savepoint at the same moment:
//! every savepoint completes, with its data on disk, although the controller's questions to the one
//! JobManager go through the cluster's budget and the adaptive schedule instead of a tight poll.
//! Everything waits on the API's long-polls (`waitFor`), never on fixed sleeps.

mod common;

use common::*;
use serde_json::{json, Value};

const DEPLOYMENTS: usize = 20;
const LONG_POLL: &str = "timeout=120s";

async fn long_poll(h: &Harness, path: &str, states: &str) -> Value {
    let url = h.url(&format!("{path}?waitFor={states}&{LONG_POLL}"));
    let r = h.http.get(&url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_deployments_saving_at_once_on_one_cluster_all_complete() {
    // One slot per job, and a few to spare; set before this binary's cluster starts.
    std::env::set_var("STATEPLANE_TEST_FLINK_SLOTS", (DEPLOYMENTS + 4).to_string());
    let h = Harness::start().await;
    let names: Vec<String> = (0..DEPLOYMENTS).map(|i| format!("shared-{i}")).collect();
    let mut ids = Vec::new();
    for name in &names {
        // Checkpoints every 10 s: twenty jobs checkpointing every second would be the load here.
        let extra = json!({"template": {"spec": {"flinkConfiguration": {
            "execution.checkpointing.interval": "10s"
        }}}});
        let d = h.create_deployment(name, extra).await;
        ids.push(d["metadata"]["id"].as_str().unwrap().to_string());
    }
    for name in &names {
        let d = long_poll(&h, &format!("deployments/{name}"), "RUNNING,FAILED").await;
        assert_eq!(
            d["status"]["state"],
            "RUNNING",
            "{name}: {}\n{}",
            d["status"],
            h.events(name).await.join("\n")
        );
    }

    // All at once.
    let requests = ids.iter().map(|id| {
        let (http, url) = (h.http.clone(), h.url("savepoints"));
        let body = json!({"metadata": {"deploymentId": id}});
        async move {
            let r = http.post(&url).json(&body).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            let v: Value = r.json().await.unwrap();
            v["metadata"]["id"].as_str().unwrap().to_string()
        }
    });
    let savepoints = futures::future::join_all(requests).await;

    let waits = savepoints.iter().map(|id| {
        let path = format!("savepoints/{id}");
        let h = &h;
        async move { long_poll(h, &path, "COMPLETED,FAILED").await }
    });
    let done = futures::future::join_all(waits).await;
    for (sp, name) in done.iter().zip(&names) {
        assert_eq!(
            sp["status"]["state"],
            "COMPLETED",
            "{name}: {sp}\n{}",
            h.events(name).await.join("\n")
        );
        let location = sp["spec"]["savepointLocation"].as_str().unwrap();
        assert!(has_metadata(location), "{name}: no _metadata at {location}");
    }
    let distinct: std::collections::HashSet<&str> = done
        .iter()
        .map(|s| s["spec"]["savepointLocation"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), DEPLOYMENTS, "one savepoint per deployment");

    for name in &names {
        h.patch(
            &format!("deployments/{name}"),
            json!({"spec": {"state": "CANCELLED"}}),
        )
        .await;
    }
    for name in &names {
        let d = long_poll(&h, &format!("deployments/{name}"), "CANCELLED").await;
        assert_eq!(d["status"]["state"], "CANCELLED", "{name}");
    }
    // The cluster is this binary's alone: nothing of ours is left running on it.
    let left = h.flink.jobs_overview().await.unwrap();
    let running = left
        .iter()
        .filter(|j| j.state == stateplane_flink::JobState::Running)
        .count();
    assert_eq!(running, 0, "{left:?}");
}
