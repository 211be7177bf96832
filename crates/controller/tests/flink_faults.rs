//! Flink faults under a running deployment, on this test binary's own real cluster (which the test
//! kills and restarts): a TaskManager lost during a savepoint, a JobManager lost with a job running.
//! Expected: the savepoint fails with Flink's reason and nothing else moves; while Flink is down nothing
//! changes; when Flink comes back without the job, the deployment goes FAILED with the event saying
//! so, the job's last retained checkpoint is recorded, and the next start restores from it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn origin(sp: &serde_json::Value) -> &str {
    sp["metadata"]["origin"].as_str().unwrap_or("")
}

fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// Starts the test cluster again on the same port and work dir (after its JVMs died).
fn restart_cluster() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let port = cluster.rest_url().rsplit(':').next().unwrap().to_string();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/flink-local.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("start")
        .env("FLINK_VERSION", cluster.flink_version())
        .env("FLINK_REST_PORT", port)
        .env("FLINK_WORK_DIR", cluster.work_dir())
        .env("FLINK_SLOTS", "8")
        .output()
        .expect("run flink-local.sh");
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_taskmanager_and_jobmanager() {
    let h = Harness::start().await;
    let d = h.create_deployment("faulty", json!({})).await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let d = h.wait_state("faulty", "RUNNING", T).await;
    let job = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    h.wait_checkpoint(&job).await;
    let cluster = stateplane_testkit::flink::shared_cluster();
    let pids = cluster.jvm_pids();
    assert_eq!(pids.len(), 2, "JobManager and TaskManager pids");

    // The TaskManager dies; a savepoint asked for now fails with Flink's reason, and the deployment
    // keeps its job (Flink's restart strategy is at work, not stateplane's).
    kill9(pids[1]);
    stateplane_testkit::wait::process_gone(pids[1], Duration::from_secs(10));
    let (s, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
        .await;
    assert!(s.is_success(), "{s} {sp}");
    let sp = h
        .wait_savepoint(
            sp["metadata"]["id"].as_str().unwrap(),
            &["COMPLETED", "FAILED"],
            T,
        )
        .await;
    assert_eq!(sp["status"]["state"], "FAILED", "{sp}");
    assert!(!sp["status"]["failure"]["message"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    let d = h.deployment("faulty").await;
    assert_eq!(
        d["status"]["running"]["jobId"],
        job.as_str(),
        "no new job: {}",
        d["status"]
    );
    assert_eq!(h.job(&job).await["status"]["state"], "STARTED");

    // The JobManager dies too: Flink is unreachable, and stateplane changes nothing meanwhile. Seen
    // when the controller has found Flink not answering in two passes since (it looks again quickly
    // while it waits for Flink).
    kill9(pids[0]);
    stateplane_testkit::wait::process_gone(pids[0], Duration::from_secs(10));
    let mark = stateplane_testkit::logs::mark();
    h.wait_planned("faulty", "find Flink unreachable", mark, 2, |a| {
        a.contains("Flink did not answer")
    })
    .await;
    let d = h.deployment("faulty").await;
    assert_eq!(
        d["status"]["state"], "RUNNING",
        "an unreachable Flink is not a failed job: {}",
        d["status"]
    );

    // Flink comes back without HA: the job is gone. The deployment says so and keeps the state.
    let t = Instant::now();
    restart_cluster();
    let d = h.wait_state("faulty", "FAILED", T).await;
    eprintln!(
        "noticed the vanished job {:?} after the restart began",
        t.elapsed()
    );
    assert_eq!(
        d["status"]["failure"]["reason"], "JOB_VANISHED",
        "{}",
        d["status"]
    );
    assert_eq!(h.job(&job).await["status"]["state"], "FAILED");
    h.wait_event(
        "faulty",
        "TRANSITIONING_TO_FAILED_STATE_BECAUSE_OF_A_MISSING_JOB",
    )
    .await;
    let sps = h.savepoints(&dep_id).await;
    let retained: Vec<_> = sps
        .iter()
        .filter(|s| origin(s) == "RETAINED_CHECKPOINT")
        .collect();
    assert_eq!(
        retained.len(),
        1,
        "the lost job's checkpoint is recorded: {sps:?}"
    );
    let retained_loc = retained[0]["spec"]["savepointLocation"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(has_metadata(&retained_loc));

    // No surprise restart: the controller looks again and leaves it FAILED. Asking again restores the
    // recorded checkpoint (in Flink's own view).
    assert_eq!(h.wait_looked_at("faulty").await, "Steady");
    assert_eq!(h.deployment("faulty").await["status"]["state"], "FAILED");
    assert_eq!(h.job(&job).await["status"]["state"], "FAILED");
    let (_, jobs) = h.get(&format!("jobs?deploymentId={dep_id}")).await;
    assert_eq!(
        jobs["items"].as_array().map(Vec::len),
        Some(1),
        "no new job: {jobs}"
    );
    h.patch(
        "deployments/faulty",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("faulty", "CANCELLED", T).await;
    h.patch("deployments/faulty", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let d = h.wait_state("faulty", "RUNNING", T).await;
    let job2 = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    h.assert_restored_from(&job2, &retained_loc, "the retained checkpoint")
        .await;
    h.patch(
        "deployments/faulty",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("faulty", "CANCELLED", T).await;
}
