//! The Deployment lifecycle and the savepoint origins on a real Flink cluster, each step checked in
//! Flink's own view (`latest.restored.external_path`), not only in our store.

mod common;

use common::*;
use serde_json::json;
use stateplane_model::SPEC_VERSION_ANNOTATION;

fn origin(sp: &serde_json::Value) -> &str {
    sp["metadata"]["origin"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_lifecycle_end_to_end() {
    let h = Harness::start().await;
    let d = h.create_deployment("life", json!({})).await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    assert_eq!(d["metadata"]["annotations"][SPEC_VERSION_ANNOTATION], "1");

    // run: a Job resource STARTED with the Flink job id derived from its id, deployment RUNNING.
    let d = h.wait_state("life", "RUNNING", T).await;
    let job1 = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let j = h.job(&job1).await;
    assert_eq!(j["status"]["state"], "STARTED");
    assert_eq!(j["status"]["started"]["flinkJobId"], job1.replace('-', ""));
    assert_eq!(
        h.flink_restored_path(&job1).await,
        None,
        "first start is empty"
    );

    // USER_REQUEST: STARTED at once with its location, then COMPLETED with _metadata on disk.
    let (s, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
        .await;
    assert!(s.is_success(), "{s} {sp}");
    assert_eq!(sp["status"]["state"], "STARTED");
    assert_eq!(origin(&sp), "USER_REQUEST");
    let sp_id = sp["metadata"]["id"].as_str().unwrap().to_string();
    assert!(
        sp["spec"]["savepointLocation"]
            .as_str()
            .unwrap()
            .contains(&sp_id),
        "{sp}"
    );
    let sp = h.wait_savepoint(&sp_id, &["COMPLETED", "FAILED"], T).await;
    assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
    assert!(
        has_metadata(sp["spec"]["savepointLocation"].as_str().unwrap()),
        "{sp}"
    );
    assert_eq!(sp["metadata"]["annotations"][SPEC_VERSION_ANNOTATION], "1");
    assert_eq!(sp["metadata"]["jobId"], job1.as_str());

    // suspend: a SUSPEND savepoint, the job TERMINATED, the deployment SUSPENDED.
    let (s, b) = h
        .patch("deployments/life", json!({"spec": {"state": "SUSPENDED"}}))
        .await;
    assert!(s.is_success(), "{s} {b}");
    h.wait_state("life", "SUSPENDED", T).await;
    assert_eq!(h.job(&job1).await["status"]["state"], "TERMINATED");
    let sps = h.savepoints(&dep_id).await;
    let suspend = sps
        .iter()
        .find(|s| origin(s) == "SUSPEND")
        .expect("a SUSPEND savepoint")
        .clone();
    assert_eq!(suspend["status"]["state"], "COMPLETED");
    let suspend_loc = suspend["spec"]["savepointLocation"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(has_metadata(&suspend_loc));

    // resume restores the SUSPEND savepoint, in Flink's own view.
    h.patch("deployments/life", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let job2 = h.wait_new_job("life", "a new job runs", &job1, T).await;
    h.assert_restored_from(&job2, &suspend_loc, "the suspend savepoint")
        .await;
    assert!(same_location(
        h.job(&job2).await["spec"]["savepointLocation"]
            .as_str()
            .unwrap(),
        &suspend_loc
    ));

    // cancel records the retained checkpoint.
    h.wait_checkpoint(&job2).await;
    h.patch("deployments/life", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("life", "CANCELLED", T).await;
    let sps = h.savepoints(&dep_id).await;
    let retained: Vec<_> = sps
        .iter()
        .filter(|s| origin(s) == "RETAINED_CHECKPOINT")
        .collect();
    assert_eq!(retained.len(), 1, "{sps:?}");
    let retained_loc = retained[0]["spec"]["savepointLocation"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(has_metadata(&retained_loc), "{retained_loc}");
    assert_eq!(
        retained[0]["metadata"]["annotations"][SPEC_VERSION_ANNOTATION],
        "1"
    );
    assert_eq!(retained[0]["status"]["state"], "COMPLETED");

    // The seed's manual add (COPIED) of the USER_REQUEST snapshot, plus a newer unannotated one.
    let user_loc = sp["spec"]["savepointLocation"]
        .as_str()
        .unwrap()
        .to_string();
    let version =
        h.deployment("life").await["metadata"]["annotations"][SPEC_VERSION_ANNOTATION].clone();
    let (s, copied) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep_id, "annotations": {SPEC_VERSION_ANNOTATION: version}},
                   "spec": {"savepointLocation": user_loc, "flinkSavepointId": "00000000-0000-0000-0000-000000000000"},
                   "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(s.is_success(), "{s} {copied}");
    assert_eq!(origin(&copied), "COPIED");
    let (s, unannotated) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep_id}, "spec": {"savepointLocation": suspend_loc}, "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(s.is_success(), "{s} {unannotated}");
    h.patch(
        "deployments/life",
        json!({"spec": {"restoreStrategy": {"kind": "LATEST_SAVEPOINT"}}}),
    )
    .await;
    let (_, preview) = h.get("deployments/life/restore-preview").await;
    assert_eq!(
        preview["savepointId"], copied["metadata"]["id"],
        "{preview}"
    );
    let skipped = preview["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["savepointId"] == unannotated["metadata"]["id"]
                && s["reason"].as_str().unwrap().contains("annotation")),
        "{preview}"
    );

    // ... and it is what the next start restores under LATEST_SAVEPOINT.
    h.patch("deployments/life", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let job3 = h.wait_new_job("life", "job 3 runs", &job2, T).await;
    h.assert_restored_from(&job3, &user_loc, "LATEST_SAVEPOINT restores the COPIED one")
        .await;

    // Cancel again: a newer retained checkpoint, which LATEST_STATE restores.
    h.wait_checkpoint(&job3).await;
    h.patch(
        "deployments/life",
        json!({"spec": {"state": "CANCELLED", "restoreStrategy": {"kind": "LATEST_STATE"}}}),
    )
    .await;
    h.wait_state("life", "CANCELLED", T).await;
    let sps = h.savepoints(&dep_id).await;
    let newest_retained = sps
        .iter()
        .find(|s| origin(s) == "RETAINED_CHECKPOINT" && s["metadata"]["jobId"] == job3.as_str())
        .expect("retained checkpoint of job 3")
        .clone();
    let newest_loc = newest_retained["spec"]["savepointLocation"]
        .as_str()
        .unwrap()
        .to_string();
    h.patch("deployments/life", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let job4 = h.wait_new_job("life", "job 4 runs", &job3, T).await;
    h.assert_restored_from(
        &job4,
        &newest_loc,
        "LATEST_STATE restores the newer retained checkpoint",
    )
    .await;

    // A STATEFUL template change: SUSPEND_AND_UPGRADE savepoint, then a job with the new parallelism.
    let (s, b) = h
        .patch(
            "deployments/life",
            json!({"spec": {"template": {"spec": {"parallelism": 2}}}}),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    assert_eq!(b["metadata"]["annotations"][SPEC_VERSION_ANNOTATION], "2");
    let job5 = h
        .wait_new_job("life", "the upgraded job runs", &job4, T)
        .await;
    let sps = h.savepoints(&dep_id).await;
    let upgrade = sps
        .iter()
        .find(|s| origin(s) == "SUSPEND_AND_UPGRADE")
        .expect("upgrade savepoint");
    assert_eq!(upgrade["status"]["state"], "COMPLETED");
    assert_eq!(
        upgrade["metadata"]["annotations"][SPEC_VERSION_ANNOTATION], "1",
        "taken from the job that ran version 1"
    );
    h.assert_restored_from(
        &job5,
        upgrade["spec"]["savepointLocation"].as_str().unwrap(),
        "the upgrade savepoint",
    )
    .await;
    let details = h
        .flink
        .job(&stateplane_flink::FlinkJobId::parse(&job5.replace('-', "")).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        details.vertices.iter().any(|v| v.parallelism == 2),
        "{details:?}"
    );
    assert_eq!(
        h.job(&job5).await["metadata"]["annotations"][SPEC_VERSION_ANNOTATION],
        "2"
    );

    // Restore strategy NONE: a restart starts empty.
    h.patch(
        "deployments/life",
        json!({"spec": {"restoreStrategy": {"kind": "NONE"}, "state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("life", "CANCELLED", T).await;
    h.patch("deployments/life", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let job6 = h.wait_new_job("life", "job 6 runs", &job5, T).await;
    h.wait_checkpoint(&job6).await;
    assert_eq!(
        h.flink_restored_path(&job6).await,
        None,
        "NONE starts empty"
    );

    // Events tell the story with VVP's codes.
    let events = h.events("life").await.join("\n");
    for code in [
        "CREATING_A_NEW_JOB",
        "JOB_SUCCESSFULLY_STARTED",
        "CREATING_A_SAVEPOINT_BEFORE_SUSPENSION",
        "STATE_TRANSITION_IS_COMPLETED",
        "FOUND_A_JOB_TO_TERMINATE",
        "RECORDED_A_RETAINED_CHECKPOINT",
        "USING_AN_UPGRADE_STRATEGY",
        "SAVEPOINT_COMPLETED",
    ] {
        assert!(events.contains(code), "missing {code} in:\n{events}");
    }
    h.patch("deployments/life", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("life", "CANCELLED", T).await;
}

/// The pass that follows the worker's own completion write (woken by that write's announcement) plans
/// from Flink's view of the job seen an instant before: from the savepoint's completion until the
/// deployment is steady again, the controller sends the JobManager no question about the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_write_is_not_followed_by_questions_to_flink() {
    use stateplane_testkit::logs;
    let h = Harness::start().await;
    let d = h.create_deployment("quiet", json!({})).await;
    let id = d["metadata"]["id"].as_str().unwrap().to_string();
    h.wait_state("quiet", "RUNNING", T).await;
    let mark = logs::mark();
    let (s, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": id}}))
        .await;
    assert!(s.is_success(), "{s} {sp}");
    let sp_id = sp["metadata"]["id"].as_str().unwrap();
    let sp = h.wait_savepoint(sp_id, &["COMPLETED", "FAILED"], T).await;
    assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");

    let action = |r: &logs::Record| r.field("action").unwrap_or_default().to_string();
    let completed = logs::wait_for("the completion planned", T, mark, |r| {
        logs::is_pass_of(r, &id) && action(r).starts_with("CompleteSavepoint")
    })
    .await;
    let steady = logs::wait_for("a steady pass after it", T, completed.seq + 1, |r| {
        logs::is_pass_of(r, &id) && action(r) == "Steady"
    })
    .await;
    let passes = logs::since(completed.seq, |r| {
        r.seq <= steady.seq && logs::is_pass_of(r, &id)
    });
    let asked: Vec<String> = logs::since(completed.seq, |r| {
        r.seq < steady.seq
            && r.message == "flink rest call"
            && r.span_field(logs::DEPLOYMENT_SPAN, "deployment") == Some(id.as_str())
    })
    .into_iter()
    .map(|r| r.field("operation").unwrap_or_default().to_string())
    .collect();
    assert!(
        asked.is_empty(),
        "questions to Flink after the completion: {asked:?}; passes: {:?}",
        passes.iter().map(action).collect::<Vec<_>>()
    );
    assert!(passes.len() >= 2, "the completion, then a steady pass");
    h.patch("deployments/quiet", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("quiet", "CANCELLED", T).await;
}
