//! Flink 1.20 (the 1.x long-term-support release) alongside Flink 2.3, on real clusters: this test
//! binary runs its own 1.20.5 cluster (and a 2.3.0 one for the migration), so it exercises the
//! client's 1.x dialect end to end. Every restore is checked in Flink's own restore statistics
//! (`latest.restored.external_path`), and the migration also in the job's output: the counts the
//! 2.3 job prints continue exactly where the 1.20 job stopped.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::{json, Value};
use stateplane_flink::FlinkClient;
use stateplane_model::SPEC_VERSION_ANNOTATION;
use stateplane_testkit::flink::{DEFAULT_FLINK_VERSION, FLINK_1_20};
use stateplane_testkit::wait::until_async;

fn origin(sp: &Value) -> &str {
    sp["metadata"]["origin"].as_str().unwrap_or("")
}

fn str_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

/// The running job of a deployment (after `wait_for` said it runs).
fn running_job(d: &Value) -> String {
    str_of(d, "/status/running/jobId").to_string()
}

/// Waits until the target reports a reachable cluster of `version`.
async fn wait_target_version(h: &Harness, target: &str, version: &str) -> Value {
    until_async(
        &format!("target {target} to report Flink {version}"),
        T,
        || async {
            let (s, t) = h.get(&format!("deployment-targets/{target}")).await;
            assert!(s.is_success(), "{s} {t}");
            if t["status"]["flinkVersion"] == version && t["status"]["reachable"] == true {
                Ok(t)
            } else {
                Err(t.to_string())
            }
        },
    )
    .await
}

/// `(key, count)` of every line the example job printed under `tag` into a TaskManager's stdout.
fn printed(stdout: &Path, tag: &str) -> Vec<(u64, u64)> {
    stateplane_testkit::flink::example_job_lines(stdout, tag)
        .into_iter()
        .map(|(key, count, _)| (key, count))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_flink_1_20() {
    let h = Harness::start_on(FLINK_1_20, true).await;
    wait_target_version(&h, "default", FLINK_1_20).await;
    let d = h
        .create_deployment(
            "life120",
            json!({"template": {"spec": {"artifact": {"flinkVersion": "1.20"}}}}),
        )
        .await;
    let dep_id = str_of(&d, "/metadata/id").to_string();

    // Run: an empty first start.
    let job1 = running_job(&h.wait_state("life120", "RUNNING", T).await);
    assert_eq!(h.flink_restored_path(&job1).await, None);

    // A savepoint on request.
    let (s, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
        .await;
    assert!(s.is_success(), "{s} {sp}");
    let sp = h
        .wait_savepoint(str_of(&sp, "/metadata/id"), &["COMPLETED", "FAILED"], T)
        .await;
    assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
    let user_loc = str_of(&sp, "/spec/savepointLocation").to_string();
    assert!(has_metadata(&user_loc), "{user_loc}");

    // Suspend (stop with savepoint), then resume from that savepoint.
    let (s, b) = h
        .patch(
            "deployments/life120",
            json!({"spec": {"state": "SUSPENDED"}}),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    h.wait_state("life120", "SUSPENDED", T).await;
    let sps = h.savepoints(&dep_id).await;
    let suspend = sps
        .iter()
        .find(|s| origin(s) == "SUSPEND")
        .expect("a SUSPEND savepoint");
    assert_eq!(suspend["status"]["state"], "COMPLETED");
    let suspend_loc = str_of(suspend, "/spec/savepointLocation").to_string();
    assert!(has_metadata(&suspend_loc));
    h.patch("deployments/life120", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let job2 = h.wait_new_job("life120", "a new job runs", &job1, T).await;
    h.assert_restored_from(&job2, &suspend_loc, "the suspend savepoint")
        .await;

    // Cancel keeps a retained checkpoint (RETAIN_ON_CANCELLATION) and records it.
    h.wait_checkpoint(&job2).await;
    h.patch(
        "deployments/life120",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("life120", "CANCELLED", T).await;
    let sps = h.savepoints(&dep_id).await;
    let retained: Vec<_> = sps
        .iter()
        .filter(|s| origin(s) == "RETAINED_CHECKPOINT")
        .collect();
    assert_eq!(retained.len(), 1, "{sps:?}");
    assert!(has_metadata(str_of(retained[0], "/spec/savepointLocation")));

    // Manual add (COPIED) of the first savepoint; LATEST_SAVEPOINT restores it.
    let (s, copied) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep_id, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": user_loc}, "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(s.is_success(), "{s} {copied}");
    assert_eq!(origin(&copied), "COPIED");
    h.patch(
        "deployments/life120",
        json!({"spec": {"state": "RUNNING", "restoreStrategy": {"kind": "LATEST_SAVEPOINT"}}}),
    )
    .await;
    let job3 = h.wait_new_job("life120", "a new job runs", &job2, T).await;
    h.assert_restored_from(&job3, &user_loc, "the COPIED savepoint")
        .await;

    // A STATEFUL upgrade: SUSPEND_AND_UPGRADE savepoint, new job with parallelism 2 restored from it.
    let (s, b) = h
        .patch(
            "deployments/life120",
            json!({"spec": {"template": {"spec": {"parallelism": 2}}}}),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let job4 = h.wait_new_job("life120", "a new job runs", &job3, T).await;
    let sps = h.savepoints(&dep_id).await;
    let upgrade = sps
        .iter()
        .find(|s| origin(s) == "SUSPEND_AND_UPGRADE")
        .expect("upgrade savepoint");
    assert_eq!(upgrade["status"]["state"], "COMPLETED");
    h.assert_restored_from(
        &job4,
        str_of(upgrade, "/spec/savepointLocation"),
        "the upgrade savepoint",
    )
    .await;
    let details = h
        .flink
        .job(&stateplane_flink::FlinkJobId::parse(&job4.replace('-', "")).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        details.vertices.iter().any(|v| v.parallelism == 2),
        "{details:?}"
    );

    h.patch(
        "deployments/life120",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("life120", "CANCELLED", T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_20_savepoint_restores_on_2_3_as_a_copied_savepoint() {
    // The controller starts only once both deployments below exist, so the 2.3 target's version is
    // unknown when they are created.
    let mut h = Harness::start_on(FLINK_1_20, false).await;
    let c23 = h.add_target("flink23", DEFAULT_FLINK_VERSION).await;
    let jar23 = format!("file://{}", c23.example_jar().display());
    let flink23 = FlinkClient::new(c23.rest_url()).unwrap();

    h.create_deployment(
        "legacy",
        json!({"template": {"spec": {"artifact": {"flinkVersion": "1.20"}}}}),
    )
    .await;
    // Built for 1.20 but aimed at the 2.3 cluster: the API cannot know yet, the controller refuses.
    let wrong = h
        .create_deployment(
            "wrong",
            json!({"deploymentTargetName": "flink23",
                   "template": {"spec": {"artifact": {"flinkVersion": "1.20"}}}}),
        )
        .await;
    h.start_controller(None);

    let d = h.wait_state("wrong", "FAILED", T).await;
    assert_eq!(d["status"]["failure"]["reason"], "FLINK_VERSION_MISMATCH");
    let message = str_of(&d, "/status/failure/message");
    for needle in [
        "spec.template.spec.artifact.flinkVersion",
        "1.20",
        DEFAULT_FLINK_VERSION,
        "flink23",
    ] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    let (_, jobs) = h
        .get(&format!(
            "jobs?deploymentId={}",
            str_of(&wrong, "/metadata/id")
        ))
        .await;
    assert_eq!(jobs["items"], json!([]), "nothing was submitted");
    let events = h.wait_event("wrong", "FAILED_CREATING_A_NEW_JOB").await;
    assert!(
        events.lines().any(
            |e| e.starts_with("FAILED_CREATING_A_NEW_JOB") && e.contains(DEFAULT_FLINK_VERSION)
        ),
        "{events}"
    );

    // The targets report their versions; from now on the API refuses a mismatch at once.
    wait_target_version(&h, "flink23", DEFAULT_FLINK_VERSION).await;
    let (s, b) = h
        .post(
            "deployments",
            json!({"metadata": {"name": "wrong-too"}, "spec": {"deploymentTargetName": "flink23",
                   "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": jar23, "flinkVersion": "1.20"}}}}}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["field"], "spec.template.spec.artifact.flinkVersion");
    let m = str_of(&b, "/message");
    assert!(
        m.contains("1.20") && m.contains(DEFAULT_FLINK_VERSION),
        "{m}"
    );

    // Fixing the declared version (and the jar) lifts the refusal: the job starts on 2.3.
    let (s, b) = h
        .patch(
            "deployments/wrong",
            json!({"spec": {"template": {"spec": {"artifact": {"flinkVersion": "2.3", "jarUri": jar23}}}}}),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    h.wait_state("wrong", "RUNNING", T).await;
    let (s, b) = h
        .patch(
            "deployments/wrong",
            json!({"spec": {"template": {"spec": {"artifact": {"flinkVersion": "1.20"}}}}}),
        )
        .await;
    assert_eq!(s, 422, "a PATCH to a mismatching version is refused: {b}");
    h.patch("deployments/wrong", json!({"spec": {"state": "CANCELLED"}}))
        .await;

    // The migration: stop the 1.20 job with a savepoint ...
    let legacy = h.wait_state("legacy", "RUNNING", T).await;
    let legacy_id = str_of(&legacy, "/metadata/id").to_string();
    h.wait_checkpoint(&running_job(&legacy)).await;
    h.patch(
        "deployments/legacy",
        json!({"spec": {"state": "SUSPENDED"}}),
    )
    .await;
    h.wait_state("legacy", "SUSPENDED", T).await;
    let sps = h.savepoints(&legacy_id).await;
    let final_sp = sps
        .iter()
        .find(|s| origin(s) == "SUSPEND")
        .expect("the 1.20 job's final savepoint");
    assert_eq!(final_sp["status"]["state"], "COMPLETED");
    let final_loc = str_of(final_sp, "/spec/savepointLocation").to_string();
    let mut last_before = BTreeMap::new();
    for (key, count) in printed(
        &stateplane_testkit::flink::shared_cluster_of(FLINK_1_20).taskmanager_stdout(),
        "legacy",
    ) {
        last_before.insert(key, count);
    }
    assert_eq!(last_before.len(), 4, "{last_before:?}");

    // ... create the 2.3 deployment without starting it, register the 1.20 savepoint as COPIED ...
    let migrated = h
        .create_deployment(
            "migrated",
            json!({"state": "CANCELLED", "deploymentTargetName": "flink23",
                   "restoreStrategy": {"kind": "LATEST_SAVEPOINT", "requireState": true},
                   "template": {"spec": {"artifact": {"flinkVersion": "2.3", "jarUri": jar23}}}}),
        )
        .await;
    let migrated_id = str_of(&migrated, "/metadata/id").to_string();
    let (s, copied) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": migrated_id, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": final_loc}, "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(s.is_success(), "{s} {copied}");
    assert_eq!(origin(&copied), "COPIED");

    // ... and start it: Flink 2.3 restores the 1.20 savepoint, and the counts carry on.
    h.patch(
        "deployments/migrated",
        json!({"spec": {"state": "RUNNING"}}),
    )
    .await;
    let job = running_job(&h.wait_state("migrated", "RUNNING", T).await);
    let restored = restored_path_on(&flink23, &job)
        .await
        .expect("the 2.3 job restored a snapshot");
    assert!(
        same_location(&restored, &final_loc),
        "Flink 2.3 restored {restored}, not the 1.20 savepoint {final_loc}"
    );
    let first_after = until_async("the 2.3 job's output for all four keys", T, || async {
        let mut first = BTreeMap::new();
        for (key, count) in printed(&c23.taskmanager_stdout(), "migrated") {
            first.entry(key).or_insert(count);
        }
        if first.len() == 4 {
            Ok(first)
        } else {
            Err(format!("{first:?}"))
        }
    })
    .await;
    for (key, count) in &first_after {
        assert_eq!(
            Some(count - 1),
            last_before.get(key).copied(),
            "key {key}: 1.20 ended at {last_before:?}, 2.3 began at {first_after:?}"
        );
    }
    h.patch(
        "deployments/migrated",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("migrated", "CANCELLED", T).await;
    h.wait_state("wrong", "CANCELLED", T).await;
}
