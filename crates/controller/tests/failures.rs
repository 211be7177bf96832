//! What the controller does when things go wrong, on a real Flink cluster: jobs that fail, jobs that
//! cannot be created, savepoints that fail, starts that would lose state, and a controller that dies
//! in the middle of an operation.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn origin(sp: &serde_json::Value) -> &str {
    sp["metadata"]["origin"].as_str().unwrap_or("")
}

async fn job_count(h: &Harness, dep_id: &str) -> usize {
    let (_, b) = h.get(&format!("jobs?deploymentId={dep_id}")).await;
    b["items"].as_array().map_or(0, |a| a.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_fails_the_deployment_records_its_checkpoint_and_is_not_restarted() {
    let h = Harness::start().await;
    let d = h
        .create_deployment(
            "fails",
            json!({"template": {"spec": {
                "artifact": {"mainArgs": "20 --fail-after 80"},
                "flinkConfiguration": {"restart-strategy.type": "none"}
            }}}),
        )
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let d = h.wait_state("fails", "FAILED", T).await;
    assert!(
        d["status"]["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{}",
        d["status"]
    );
    let (_, jobs) = h.get(&format!("jobs?deploymentId={dep_id}")).await;
    assert_eq!(jobs["items"][0]["status"]["state"], "FAILED");
    let sps = h.savepoints(&dep_id).await;
    let retained: Vec<_> = sps
        .iter()
        .filter(|s| origin(s) == "RETAINED_CHECKPOINT")
        .collect();
    assert_eq!(
        retained.len(),
        1,
        "the failed job's checkpoint is recorded: {sps:?}"
    );
    assert!(has_metadata(
        retained[0]["spec"]["savepointLocation"].as_str().unwrap()
    ));
    h.wait_event("fails", "JOB_FAILED").await;
    // The controller looks at the failed deployment again and decides to leave it be.
    let planned = h.wait_looked_at("fails").await;
    assert_eq!(planned, "Steady", "a failed deployment is left alone");
    assert_eq!(job_count(&h, &dep_id).await, 1, "no surprise restart");
    assert_eq!(h.deployment("fails").await["status"]["state"], "FAILED");

    // Asking again (cancel, then run) is how a user retries; LATEST_STATE uses the retained checkpoint.
    h.patch("deployments/fails", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("fails", "CANCELLED", T).await;
    h.patch("deployments/fails", json!({"spec": {"state": "RUNNING", "template": {"spec": {"artifact": {"mainArgs": "20"}}}}})).await;
    let d = h.wait_state("fails", "RUNNING", T).await;
    let job = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    h.assert_restored_from(
        &job,
        retained[0]["spec"]["savepointLocation"].as_str().unwrap(),
        "the retained checkpoint",
    )
    .await;
    h.patch("deployments/fails", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("fails", "CANCELLED", T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_creation_failures_are_retried_with_backoff_then_the_deployment_fails() {
    let h = Harness::start().await;
    let d = h
        .create_deployment(
            "nojar",
            json!({"maxJobCreationAttempts": 2, "template": {"spec": {"artifact": {"jarUri": "file:///nonexistent/job.jar"}}}}),
        )
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let d = h.wait_state("nojar", "FAILED", T).await;
    assert!(
        d["status"]["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/job.jar"),
        "{}",
        d["status"]
    );
    assert_eq!(job_count(&h, &dep_id).await, 2);
    let events = h
        .wait_event("nojar", "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS")
        .await;
    assert!(events.contains("FAILED_CREATING_A_NEW_JOB"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_snapshot_that_does_not_exist_fails_at_start_with_flinks_reason() {
    let h = Harness::start().await;
    let d = h
        .create_deployment(
            "bogus",
            json!({"state": "CANCELLED", "maxJobCreationAttempts": 1}),
        )
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let missing = h.path("no-such-savepoint");
    let (s, b) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep_id, "annotations": {stateplane_model::SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": format!("file://{}", missing.display())},
                   "status": {"state": "COMPLETED"}}),
        )
        .await;
    // Registration may already refuse a location that does not exist; then there is nothing to start from.
    if s.is_success() {
        h.patch("deployments/bogus", json!({"spec": {"state": "RUNNING"}}))
            .await;
        let d = h.wait_state("bogus", "FAILED", T).await;
        let msg = d["status"]["failure"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("Cannot find checkpoint or savepoint"),
            "Flink's root cause in one line: {msg}"
        );
        assert!(!msg.contains("\tat "), "no stack trace: {msg}");
    } else {
        assert_eq!(s.as_u16(), 422, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspend_whose_savepoint_fails_keeps_the_job_running_and_says_so() {
    let h = Harness::start().await;
    // A savepoint directory below a regular file cannot be created, not even by root.
    let blocker = h.path("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    h.create_deployment(
        "nosuspend",
        json!({"maxSavepointCreationAttempts": 2, "template": {"spec": {"flinkConfiguration": {
            "execution.checkpointing.savepoint-dir": format!("file://{}/savepoints", blocker.display())
        }}}}),
    )
    .await;
    let d = h.wait_state("nosuspend", "RUNNING", T).await;
    let job = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    h.patch(
        "deployments/nosuspend",
        json!({"spec": {"state": "SUSPENDED"}}),
    )
    .await;
    let d = h
        .wait_for("nosuspend", "the controller gives up", T, |d| {
            d["status"]["transition"]["gaveUp"] == true
        })
        .await;
    assert_eq!(d["status"]["state"], "RUNNING", "{}", d["status"]);
    assert!(
        d["status"]["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("job keeps running"),
        "{}",
        d["status"]
    );
    let sps = h.savepoints(&dep_id).await;
    let failed: Vec<_> = sps
        .iter()
        .filter(|s| origin(s) == "SUSPEND" && s["status"]["state"] == "FAILED")
        .collect();
    assert_eq!(failed.len(), 2, "{sps:?}");
    assert!(failed[0]["status"]["failure"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    let flink_id = stateplane_flink::FlinkJobId::parse(&job.replace('-', "")).unwrap();
    let details = h.flink.job(&flink_id).await.unwrap().unwrap();
    assert_eq!(
        details.state.as_str(),
        "RUNNING",
        "never a silent stop without state"
    );
    h.wait_event("nosuspend", "TOO_MANY_FAILED_SUSPENSION_ATTEMPTS")
        .await;
    h.patch(
        "deployments/nosuspend",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("nosuspend", "CANCELLED", T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_state_refuses_to_start_empty() {
    let h = Harness::start().await;
    let d = h
        .create_deployment(
            "needsstate",
            json!({"restoreStrategy": {"kind": "LATEST_STATE", "requireState": true}}),
        )
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let d = h.wait_state("needsstate", "FAILED", T).await;
    assert_eq!(
        d["status"]["failure"]["reason"],
        "NO_SNAPSHOT_TO_RESTORE_FROM"
    );
    assert_eq!(job_count(&h, &dep_id).await, 0, "no job was created");
    h.wait_event("needsstate", "NO_SNAPSHOT_TO_RESTORE_FROM")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_upgrade_cancels_and_starts_empty() {
    let h = Harness::start().await;
    let d = h
        .create_deployment(
            "stateless",
            json!({"upgradeStrategy": {"kind": "STATELESS"}}),
        )
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let d = h.wait_state("stateless", "RUNNING", T).await;
    let job1 = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    // A savepoint exists, but a STATELESS upgrade must not use it.
    let (_, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
        .await;
    h.wait_savepoint(sp["metadata"]["id"].as_str().unwrap(), &["COMPLETED"], T)
        .await;
    h.patch(
        "deployments/stateless",
        json!({"spec": {"template": {"spec": {"artifact": {"mainArgs": "25"}}}}}),
    )
    .await;
    let job2 = h
        .wait_new_job("stateless", "the new job runs", &job1, T)
        .await;
    h.wait_checkpoint(&job2).await;
    assert_eq!(h.flink_restored_path(&job2).await, None);
    assert!(!h
        .savepoints(&dep_id)
        .await
        .iter()
        .any(|s| origin(s) == "SUSPEND_AND_UPGRADE"));
    h.patch(
        "deployments/stateless",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("stateless", "CANCELLED", T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_savepoint_requests_are_taken_one_after_another() {
    let h = Harness::start().await;
    let d = h.create_deployment("many", json!({})).await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    h.wait_state("many", "RUNNING", T).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (s, sp) = h
            .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
            .await;
        assert!(s.is_success(), "{s} {sp}");
        ids.push(sp["metadata"]["id"].as_str().unwrap().to_string());
    }
    let mut locations = std::collections::HashSet::new();
    for id in &ids {
        let sp = h.wait_savepoint(id, &["COMPLETED", "FAILED"], T).await;
        assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
        let loc = sp["spec"]["savepointLocation"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(has_metadata(&loc));
        locations.insert(loc);
    }
    assert_eq!(locations.len(), 4, "each request is its own savepoint");
    h.patch("deployments/many", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("many", "CANCELLED", T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_mid_savepoint_and_mid_suspend_loses_nothing_and_duplicates_nothing() {
    let mut h = Harness::start().await;
    let d = h.create_deployment("crash", json!({})).await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let d = h.wait_state("crash", "RUNNING", T).await;
    let job = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();

    for delay_ms in [0u64, 15, 60] {
        let (_, sp) = h
            .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
            .await;
        // The delay is the point: the controller dies at a different step each round.
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        h.kill_controller().await;
        // Stays dead a while, so Flink finishes what it was asked meanwhile, unobserved.
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.start_controller(None);
        let sp = h
            .wait_savepoint(
                sp["metadata"]["id"].as_str().unwrap(),
                &["COMPLETED", "FAILED"],
                T,
            )
            .await;
        assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
        // One physical savepoint in the per-savepoint target directory.
        let loc = stateplane_model::local_path(sp["spec"]["savepointLocation"].as_str().unwrap())
            .unwrap();
        let target = loc.parent().unwrap();
        assert_eq!(
            std::fs::read_dir(target).unwrap().count(),
            1,
            "exactly one snapshot in {}",
            target.display()
        );
    }

    h.patch("deployments/crash", json!({"spec": {"state": "SUSPENDED"}}))
        .await;
    // Killed a chosen moment into the suspend, and kept dead while Flink takes the savepoint.
    tokio::time::sleep(Duration::from_millis(30)).await;
    h.kill_controller().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.start_controller(None);
    h.wait_state("crash", "SUSPENDED", T).await;
    let sps = h.savepoints(&dep_id).await;
    let suspends: Vec<_> = sps.iter().filter(|s| origin(s) == "SUSPEND").collect();
    assert_eq!(suspends.len(), 1, "{sps:?}");
    assert_eq!(suspends[0]["status"]["state"], "COMPLETED");
    assert_eq!(job_count(&h, &dep_id).await, 1, "never a second job");
    assert_eq!(h.job(&job).await["status"]["state"], "TERMINATED");

    // Resume, and kill the controller right after the job row is written: still exactly one new job.
    h.patch("deployments/crash", json!({"spec": {"state": "RUNNING"}}))
        .await;
    // Killed a chosen moment into the start (about when the job row is written), kept dead a while.
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.kill_controller().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.start_controller(None);
    let d = h.wait_state("crash", "RUNNING", T).await;
    assert_eq!(job_count(&h, &dep_id).await, 2);
    let job2 = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    h.assert_restored_from(
        &job2,
        suspends[0]["spec"]["savepointLocation"].as_str().unwrap(),
        "the suspend savepoint",
    )
    .await;
    let running_in_flink = h
        .flink
        .jobs_overview()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.state.as_str() == "RUNNING" && j.id.as_str() == job2.replace('-', ""))
        .count();
    assert_eq!(running_in_flink, 1);
    h.patch("deployments/crash", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("crash", "CANCELLED", T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoint_features_without_a_savepoint_dir_are_refused_up_front() {
    let h = Harness::start().await;
    let d = h
        .create_deployment(
            "nodir",
            json!({"template": {"spec": {"flinkConfiguration": {"execution.checkpointing.savepoint-dir": null}}}}),
        )
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    h.wait_state("nodir", "RUNNING", T).await;
    let both_remedies = |b: &serde_json::Value| {
        let m = b["message"].as_str().unwrap_or_default();
        b["code"] == "SAVEPOINTS_NOT_CONFIGURED"
            && m.contains("state.savepoints.dir")
            && m.contains("--blob-storage-uri")
    };
    let (s, b) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
        .await;
    assert_eq!(s.as_u16(), 409, "{b}");
    assert!(both_remedies(&b), "{b}");
    let (s, b) = h
        .patch("deployments/nodir", json!({"spec": {"state": "SUSPENDED"}}))
        .await;
    assert_eq!(s.as_u16(), 409, "{b}");
    assert!(both_remedies(&b), "{b}");
    let (s, b) = h
        .patch(
            "deployments/nodir",
            json!({"spec": {"template": {"spec": {"parallelism": 2}}}}),
        )
        .await;
    assert_eq!(
        s.as_u16(),
        409,
        "a STATEFUL upgrade needs a savepoint too: {b}"
    );
    let d = h.deployment("nodir").await;
    assert_eq!(
        d["spec"]["state"], "RUNNING",
        "a refused request changes nothing"
    );
    assert_eq!(
        d["metadata"]["annotations"][stateplane_model::SPEC_VERSION_ANNOTATION],
        "1"
    );
    assert!(h.savepoints(&dep_id).await.is_empty());
    // Cancelling needs no savepoint.
    let (s, b) = h
        .patch("deployments/nodir", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    assert!(s.is_success(), "{b}");
    h.wait_state("nodir", "CANCELLED", T).await;
}
