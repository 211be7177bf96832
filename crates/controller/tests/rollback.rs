//! Rolling back a failed stateful upgrade on a real Flink 2.3 cluster, with variants of the example
//! job. One deployment goes through the changes in turn (one cluster, one job at a time):
//! 1. a new template that throws after a few records (`--fail-after`) keeps restarting: it is rolled
//!    back to the old template from the same SUSPEND_AND_UPGRADE savepoint, with its state (Flink's
//!    `latest.restored`, the same vertices, the counts continue); the deployment is RUNNING and says
//!    so (status, event with Flink's cause, condition); a pass later nothing more happens, and a
//!    savepoint of the rollback job carries the old spec version;
//! 2. a new template that fails for good (`restart-strategy.type: none`) is rolled back from the
//!    savepoint of the rollback job, which that upgrade stopped;
//! 3. a template whose restore Flink refuses (max parallelism changed, forced with the skip-check
//!    override) is rolled back the same way;
//! 4. a good change upgrades from the rollback job as usual and ends the rollback;
//! 5. with rollback off, a refused restore makes the deployment FAILED as before.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::upgrade::upgrade_savepoint_of;
use common::*;
use serde_json::{json, Value};
use stateplane_flink::{FlinkJobId, JobState};
use stateplane_model::plan::rollback::{
    GRACE_ANNOTATION, ROLLBACK_ANNOTATION, ROLLBACK_OF_ANNOTATION,
};
use stateplane_model::plan::upgrade_check::SKIP_CHECK_ANNOTATION;
use stateplane_model::SPEC_VERSION_ANNOTATION;
use stateplane_testkit::logs;
use stateplane_testkit::wait::until_async;

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn main_args(args: &str) -> Value {
    json!({"spec": {"template": {"spec": {"artifact": {"mainArgs": args}}}}})
}

/// Every line the TaskManager printed, as `(tag, key, count)`, in order.
fn printed(stdout: &Path) -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string(stdout).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (tag, rest) = l.split_once("> ")?;
            let mut f = rest
                .split_whitespace()
                .map(|kv| kv.split_once('=').and_then(|(_, v)| v.parse().ok()));
            Some((tag.to_string(), f.next()??, f.next()??))
        })
        .collect()
}

/// Per key, the counts printed by jobs tagged `tag`, in order.
fn counts(stdout: &Path, tag: &str) -> BTreeMap<u64, Vec<u64>> {
    let mut m: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (t, k, c) in printed(stdout) {
        if t == tag {
            m.entry(k).or_default().push(c);
        }
    }
    m
}

/// Waits until jobs tagged `tag` printed, after the last line tagged `after`, a line for all four
/// keys (the job that runs once the `after` job is gone prints).
async fn printed_after(stdout: &Path, tag: &str, after: &str) {
    until_async(
        &format!("{tag} to print all four keys after {after}"),
        T,
        || async {
            let lines = printed(stdout);
            let last = lines.iter().rposition(|(t, _, _)| t == after);
            let Some(last) = last else {
                return Err(format!("no line tagged {after}"));
            };
            let keys: std::collections::BTreeSet<u64> = lines[last..]
                .iter()
                .filter(|(t, _, _)| t == tag)
                .map(|(_, k, _)| *k)
                .collect();
            if keys.len() == 4 {
                Ok(())
            } else {
                Err(format!("{keys:?}"))
            }
        },
    )
    .await
}

/// The counter's state was never lost nor restored from an older snapshot: per key the counts of
/// every job tagged `tag` run 1, 2, 3, … without a gap or a repeat.
fn counts_continue(stdout: &Path, tag: &str) {
    let per_key = counts(stdout, tag);
    assert_eq!(per_key.len(), 4, "{per_key:?}");
    for (k, cs) in &per_key {
        let want: Vec<u64> = (1..=cs.len() as u64).collect();
        assert_eq!(cs, &want, "key {k}: the counts of {tag} continue");
    }
}

fn running_job(d: &Value) -> String {
    s(&d["status"]["running"]["jobId"])
}

fn flink_id(job: &str) -> FlinkJobId {
    FlinkJobId::parse(&job.replace('-', "")).unwrap()
}

/// The ids of the job's vertices in Flink.
async fn vertices(h: &Harness, job: &str) -> Vec<String> {
    let details = h
        .flink
        .job(&flink_id(job))
        .await
        .unwrap()
        .expect("job in Flink");
    let mut ids: Vec<String> = details.vertices.into_iter().map(|v| v.id).collect();
    ids.sort();
    ids
}

/// Waits until the deployment is RUNNING a rollback of spec version `failed`; returns it.
async fn wait_rolled_back(h: &Harness, failed: u64) -> Value {
    h.wait_for(
        "rb",
        &format!("RUNNING after the rollback of {failed}"),
        T,
        |d| {
            d["status"]["state"] == "RUNNING"
                && d["status"]["rollback"]["failedSpecVersion"] == failed
                && d["status"]["running"]["jobId"].is_string()
                && d["status"]["running"]["jobId"] != d["status"]["rollback"]["failedJobId"]
        },
    )
    .await
}

/// A pass that began now plans nothing but looking: the failed spec version is not tried again.
async fn nothing_more_happens(h: &Harness) {
    let mark = logs::mark();
    h.nudge("rb").await;
    h.wait_planned("rb", "end steady", mark, 1, |a| a == "Steady")
        .await;
    let planned = logs::planned(&h.id_of("rb").await, mark);
    assert!(
        planned.iter().all(|a| leaves_the_job_alone(a)),
        "{planned:?}"
    );
}

async fn jobs(h: &Harness, dep: &str) -> Vec<Value> {
    let (_, b) = h.get(&format!("jobs?deploymentId={dep}")).await;
    b["items"].as_array().cloned().unwrap_or_default()
}

fn spec_version_of(v: &Value) -> String {
    s(&v["metadata"]["annotations"][SPEC_VERSION_ANNOTATION])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_upgrades_are_rolled_back_from_the_same_savepoint_and_not_tried_again() {
    let h = Harness::start().await;
    let stdout = stateplane_testkit::flink::shared_cluster().taskmanager_stdout();
    let d = h
        .create_deployment(
            "rb",
            json!({"template": {"spec": {"artifact": {"mainArgs": "20 --tag rb1"}}}}),
        )
        .await;
    let dep = s(&d["metadata"]["id"]);
    let j1 = running_job(&h.wait_state("rb", "RUNNING", T).await);
    h.wait_checkpoint(&j1).await;
    let v1 = vertices(&h, &j1).await;

    // Bad values of the annotations are refused, naming the annotation.
    for (k, v) in [(GRACE_ANNOTATION, "2h"), (ROLLBACK_ANNOTATION, "maybe")] {
        let (st, b) = h
            .patch(
                "deployments/rb",
                json!({"metadata": {"annotations": {k: v}}}),
            )
            .await;
        assert_eq!(st.as_u16(), 422, "{k}={v}: {b}");
        assert!(b["code"].is_string() && b["message"].is_string(), "{b}");
        assert_eq!(b["field"], format!("metadata.annotations.{k}"), "{b}");
    }

    // 1. The new template throws after 5 records, again after every restart.
    let (st, b) = h
        .patch("deployments/rb", main_args("20 --tag rb2 --fail-after 5"))
        .await;
    assert!(st.is_success(), "{st} {b}");
    let d = wait_rolled_back(&h, 2).await;
    let rollback = &d["status"]["rollback"];
    let (j2, j3) = (s(&rollback["failedJobId"]), running_job(&d));
    let (sp1, sp1_location) = upgrade_savepoint_of(&h, &dep, &j1).await;
    assert_eq!(s(&rollback["previousJobId"]), j1, "{rollback}");
    assert_eq!(rollback["previousSpecVersion"], 1, "{rollback}");
    assert_eq!(s(&rollback["savepointId"]), sp1, "{rollback}");
    assert!(
        s(&rollback["cause"]).contains("deliberate failure"),
        "{rollback}"
    );
    let events = h.wait_event("rb", "UPGRADE_ROLLED_BACK").await;
    assert!(events.contains("deliberate failure"), "{events}");
    // Flink's own view: both the failed job and the rollback restored the upgrade's savepoint.
    h.assert_restored_from(&j3, &sp1_location, "savepoint sp1")
        .await;
    assert_eq!(vertices(&h, &j3).await, v1);
    assert_eq!(
        h.flink.job_status(&flink_id(&j2)).await.unwrap(),
        Some(JobState::Canceled)
    );
    let job3 = h.job(&j3).await;
    assert_eq!(spec_version_of(&job3), "1", "{job3}");
    assert_eq!(
        s(&job3["metadata"]["annotations"][ROLLBACK_OF_ANNOTATION]),
        "2"
    );
    assert_eq!(s(&job3["spec"]["artifact"]["mainArgs"]), "20 --tag rb1");
    printed_after(&stdout, "rb1", "rb2").await;
    counts_continue(&stdout, "rb1");
    h.wait_for("rb", "the UpgradeRolledBack condition", T, |d| {
        (d["status"]["running"]["conditions"].as_array()).is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "UpgradeRolledBack" && c["status"] == "True")
        })
    })
    .await;
    nothing_more_happens(&h).await;
    let all = jobs(&h, &dep).await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(
        all.iter().filter(|j| spec_version_of(j) == "2").count(),
        1,
        "spec version 2 ran once: {all:?}"
    );

    // A savepoint of the rollback job carries the template it ran, and is what a start restores.
    let (st, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep}}))
        .await;
    assert!(st.is_success(), "{st} {sp}");
    let sp_id = s(&sp["metadata"]["id"]);
    let sp = h.wait_savepoint(&sp_id, &["COMPLETED"], T).await;
    assert_eq!(spec_version_of(&sp), "1", "{sp}");
    let (_, preview) = h.get(&format!("deployments/{dep}/restore-preview")).await;
    assert_eq!(s(&preview["savepointId"]), sp_id, "{preview}");

    // 2. A new template that fails for good (no restarts): rolled back from the savepoint the
    //    rollback job wrote when this upgrade stopped it.
    h.wait_checkpoint(&j3).await;
    let terminal = json!({"spec": {"template": {"spec": {
        "artifact": {"mainArgs": "20 --tag rb2 --fail-after 5"},
        "flinkConfiguration": {"restart-strategy.type": "none"}
    }}}});
    let (st, b) = h.patch("deployments/rb", terminal).await;
    assert!(st.is_success(), "{st} {b}");
    let d = wait_rolled_back(&h, 3).await;
    let rollback = &d["status"]["rollback"];
    let (j4, j3b) = (s(&rollback["failedJobId"]), running_job(&d));
    let (sp3, sp3_location) = upgrade_savepoint_of(&h, &dep, &j3).await;
    assert_eq!(s(&rollback["previousJobId"]), j3, "{rollback}");
    assert_eq!(s(&rollback["savepointId"]), sp3, "{rollback}");
    assert!(
        s(&rollback["cause"]).contains("deliberate failure"),
        "{rollback}"
    );
    assert_eq!(s(&h.job(&j4).await["status"]["state"]), "FAILED");
    h.assert_restored_from(&j3b, &sp3_location, "savepoint sp3")
        .await;
    let j3 = j3b;

    // 3. A restore Flink refuses (max parallelism changed; the check skipped by the override).
    h.wait_checkpoint(&j3).await;
    let max = json!({
        "metadata": {"annotations": {SKIP_CHECK_ANNOTATION: "4"}},
        "spec": {"template": {"spec": {"flinkConfiguration": {"pipeline.max-parallelism": "64"}}}}
    });
    let (st, b) = h.patch("deployments/rb", max).await;
    assert!(st.is_success(), "{st} {b}");
    assert_eq!(spec_version_of(&b), "4", "{b}");
    let d = wait_rolled_back(&h, 4).await;
    let rollback = &d["status"]["rollback"];
    let j5 = running_job(&d);
    let (sp3, sp3_location) = upgrade_savepoint_of(&h, &dep, &j3).await;
    assert_eq!(s(&rollback["previousJobId"]), j3, "{rollback}");
    assert_eq!(s(&rollback["savepointId"]), sp3, "{rollback}");
    assert!(
        s(&rollback["cause"]).contains("Max parallelism mismatch"),
        "{rollback}"
    );
    h.assert_restored_from(&j5, &sp3_location, "savepoint sp3")
        .await;
    assert_eq!(spec_version_of(&h.job(&j5).await), "1");
    nothing_more_happens(&h).await;

    // 4. A good change upgrades from the rollback job as usual; the rollback is over.
    h.wait_checkpoint(&j5).await;
    let good = json!({"spec": {"template": {"spec": {
        "artifact": {"mainArgs": "20 --tag rb3"},
        "flinkConfiguration": {"pipeline.max-parallelism": null, "restart-strategy.type": null}
    }}}});
    let (st, b) = h.patch("deployments/rb", good).await;
    assert!(st.is_success(), "{st} {b}");
    let d = h
        .wait_for("rb", "RUNNING spec version 5", T, |d| {
            d["status"]["state"] == "RUNNING"
                && d["status"]["rollback"].is_null()
                && d["status"]["running"]["jobId"].is_string()
                && d["status"]["running"]["jobId"] != j5.as_str()
        })
        .await;
    let j6 = running_job(&d);
    assert_eq!(spec_version_of(&h.job(&j6).await), "5");
    let (_, sp5_location) = upgrade_savepoint_of(&h, &dep, &j5).await;
    h.assert_restored_from(&j6, &sp5_location, "savepoint sp5")
        .await;

    // 5. Rollback off: a refused restore is the deployment's failure, as before rollback existed.
    h.wait_checkpoint(&j6).await;
    let off = json!({
        "metadata": {"annotations": {SKIP_CHECK_ANNOTATION: "6", ROLLBACK_ANNOTATION: "off"}},
        "spec": {
            "maxJobCreationAttempts": 1,
            "template": {"spec": {"flinkConfiguration": {"pipeline.max-parallelism": "64"}}}
        }
    });
    let (st, b) = h.patch("deployments/rb", off).await;
    assert!(st.is_success(), "{st} {b}");
    let d = h.wait_state("rb", "FAILED", T).await;
    assert_eq!(
        d["status"]["failure"]["reason"], "JOB_SUBMISSION_FAILED",
        "{d}"
    );
    assert!(d["status"]["rollback"].is_null(), "{d}");
    let rolled_back = h.events("rb").await;
    assert_eq!(
        rolled_back
            .iter()
            .filter(|e| e.starts_with("UPGRADE_ROLLED_BACK"))
            .count(),
        3,
        "{rolled_back:?}"
    );
    h.patch("deployments/rb", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("rb", "CANCELLED", T).await;
}
