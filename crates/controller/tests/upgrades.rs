//! Safe stateful upgrades on a real Flink 2.3 cluster, with variants of the example job: every
//! upgrade preview is checked against what Flink then does with the same change.
//!
//! One deployment goes through the changes in turn (one cluster, one job at a time):
//! 1. a renamed stateful uid previews as DROPS_STATE and its PATCH is refused before anything is
//!    stopped (same Flink job, no savepoint taken);
//! 2. `allowNonRestoredState` lifts the refusal: the upgrade restores the source's position and the
//!    counter starts empty, exactly as predicted;
//! 3. a stateless operator added previews as COMPATIBLE: the upgrade restores every operator and the
//!    counts continue;
//! 4. a max parallelism change previews as INCOMPATIBLE and is refused; with the override Flink
//!    itself refuses the restore ("Max parallelism mismatch"; rollback, on by default, is turned
//!    off here and tested in tests/rollback.rs).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::{json, Value};
use stateplane_flink::{FlinkJobId, JobState};
use stateplane_model::plan::rollback::ROLLBACK_ANNOTATION;
use stateplane_model::plan::upgrade_check::SKIP_CHECK_ANNOTATION;
use stateplane_model::SPEC_VERSION_ANNOTATION;
use stateplane_testkit::logs;
use stateplane_testkit::wait::until_async;

const SOURCE: &str = "f421c7059e6771b9a595acc02e87aaef";
const COUNTER: &str = "5b61d6019ab04da71a4e62533c1a8c40";
const SINK: &str = "89f21f775f44942d9cc73c012629f763";
const MAP: &str = "9bb8cac041b0b678edb003b4580e22c8";

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn main_args(args: &str) -> Value {
    json!({"spec": {"template": {"spec": {"artifact": {"mainArgs": args}}}}})
}

async fn preview(h: &Harness, change: &Value) -> Value {
    let (st, b) = h
        .post("deployments/up/upgrade-preview", change.clone())
        .await;
    assert!(st.is_success(), "preview {change}: {st} {b}");
    b
}

/// Operator id → fate.
fn fates(p: &Value) -> BTreeMap<String, String> {
    p["operators"]
        .as_array()
        .unwrap_or_else(|| panic!("no operators in {p}"))
        .iter()
        .map(|o| (s(&o["operatorId"]), s(&o["fate"])))
        .collect()
}

fn ids_with<'a>(f: &'a BTreeMap<String, String>, fate: &str) -> Vec<&'a str> {
    f.iter()
        .filter(|(_, v)| v.as_str() == fate)
        .map(|(k, _)| k.as_str())
        .collect()
}

/// `(key, count, last)` of every line the job tagged `tag` printed, in order.
fn printed(stdout: &Path, tag: &str) -> Vec<(u64, u64, u64)> {
    let text = std::fs::read_to_string(stdout).unwrap_or_default();
    let prefix = format!("{tag}> ");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| {
            let mut f = l
                .split_whitespace()
                .map(|kv| kv.split_once('=').and_then(|(_, v)| v.parse().ok()));
            Some((f.next()??, f.next()??, f.next()??))
        })
        .collect()
}

/// The last line per key of the job tagged `tag` (a stopped job: its final state).
fn last_per_key(stdout: &Path, tag: &str) -> BTreeMap<u64, (u64, u64)> {
    printed(stdout, tag)
        .into_iter()
        .map(|(k, c, l)| (k, (c, l)))
        .collect()
}

/// The first line per key of the job tagged `tag`, once it printed one for all four keys.
async fn first_per_key(stdout: &Path, tag: &str) -> BTreeMap<u64, (u64, u64)> {
    until_async(&format!("job {tag} to print all four keys"), T, || async {
        let mut first = BTreeMap::new();
        for (k, c, l) in printed(stdout, tag) {
            first.entry(k).or_insert((c, l));
        }
        match first.len() {
            4 => Ok(first),
            _ => Err(format!("{first:?}")),
        }
    })
    .await
}

fn running_job(d: &Value) -> String {
    s(&d["status"]["running"]["jobId"])
}

/// Waits until the deployment runs a job other than `old`; returns it.
async fn next_job(h: &Harness, old: &str) -> String {
    let d = h
        .wait_for("up", &format!("a job other than {old} RUNNING"), T, |d| {
            d["status"]["state"] == "RUNNING"
                && d["status"]["running"]["jobId"].is_string()
                && d["status"]["running"]["jobId"] != old
        })
        .await;
    running_job(&d)
}

/// The location of the COMPLETED SUSPEND_AND_UPGRADE savepoint of `job`.
async fn upgrade_savepoint(h: &Harness, dep: &str, job: &str) -> String {
    let sps = h.savepoints(dep).await;
    let sp = sps
        .iter()
        .find(|sp| {
            sp["metadata"]["jobId"] == job
                && sp["metadata"]["origin"] == "SUSPEND_AND_UPGRADE"
                && sp["status"]["state"] == "COMPLETED"
        })
        .unwrap_or_else(|| panic!("no upgrade savepoint of {job}: {sps:?}"));
    s(&sp["spec"]["savepointLocation"])
}

async fn flink_state(h: &Harness, job: &str) -> Option<JobState> {
    let id = FlinkJobId::parse(&job.replace('-', "")).unwrap();
    h.flink.job_status(&id).await.unwrap()
}

/// PATCHes `change` and checks its refusal: it is recorded (the positive signal), then a pass that
/// began after it planned nothing; the job is the same one, still RUNNING in Flink, and no
/// savepoint was taken.
async fn patch_refused(
    h: &Harness,
    dep: &str,
    job: &str,
    change: &Value,
    reason: &str,
    names: &str,
) {
    let sps_before = h.savepoints(dep).await.len();
    let (st, b) = h.patch("deployments/up", change.clone()).await;
    assert!(st.is_success(), "{st} {b}");
    let d = h
        .wait_for("up", &format!("the failure {reason}"), T, |d| {
            d["status"]["failure"]["reason"] == reason
        })
        .await;
    let message = s(&d["status"]["failure"]["message"]);
    assert!(message.contains(names), "{message}");
    assert!(message.contains(SKIP_CHECK_ANNOTATION), "{message}");
    let events = h.wait_event("up", "UPGRADE_REFUSED").await;
    assert!(events.contains(names), "{events}");
    // A pass that began after the refusal: it looks at the job and plans nothing more.
    let mark = logs::mark();
    h.nudge("up").await;
    h.wait_planned("up", "end steady", mark, 1, |a| a == "Steady")
        .await;
    let planned = logs::planned(&h.id_of("up").await, mark);
    assert!(
        planned
            .iter()
            .all(|a| a == "Steady" || a.starts_with("Observe")),
        "{planned:?}"
    );
    let d = h.deployment("up").await;
    assert_eq!(running_job(&d), job, "{d}");
    assert_eq!(flink_state(h, job).await, Some(JobState::Running));
    assert_eq!(
        h.savepoints(dep).await.len(),
        sps_before,
        "no savepoint was taken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_are_previewed_refused_or_carried_out_as_flink_then_does() {
    let h = Harness::start().await;
    let stdout = stateplane_testkit::flink::shared_cluster().taskmanager_stdout();
    let d = h
        .create_deployment(
            "up",
            json!({"template": {"spec": {"artifact": {"mainArgs": "20 --tag up1"}}}}),
        )
        .await;
    let dep = s(&d["metadata"]["id"]);
    let j1 = running_job(&h.wait_state("up", "RUNNING", T).await);
    h.wait_checkpoint(&j1).await;

    // Bad input is a 4xx naming the field; a change without a template change restarts nothing.
    let (st, b) = h
        .post(
            "deployments/up/upgrade-preview",
            json!({"spec": {"template": {"spec": {"parallelism": "two"}}}}),
        )
        .await;
    assert_eq!(st.as_u16(), 422, "{b}");
    assert!(b["code"].is_string() && b["message"].is_string(), "{b}");
    assert!(s(&b["field"]).starts_with("spec"), "{b}");
    let p = preview(&h, &json!({"metadata": {"labels": {"team": "a"}}})).await;
    assert_eq!(p["decision"], "NO_UPGRADE", "{p}");

    // 1. A renamed stateful uid: the counter's state would be dropped; the upgrade is refused.
    let renamed = main_args("20 --tag up2 --counter-uid counter-renamed");
    let p = preview(&h, &renamed).await;
    assert_eq!(p["decision"], "REFUSED", "{p}");
    assert_eq!(p["verdict"], "DROPS_STATE", "{p}");
    let f = fates(&p);
    assert_eq!(ids_with(&f, "DROPPED"), [COUNTER], "{p}");
    assert_eq!(ids_with(&f, "RESTORED"), [SINK, SOURCE], "{p}");
    assert_eq!(ids_with(&f, "NEW").len(), 1, "the renamed counter: {p}");
    patch_refused(
        &h,
        &dep,
        &j1,
        &renamed,
        "UPGRADE_DROPS_STATE",
        "count-per-key",
    )
    .await;

    // 2. allowNonRestoredState lifts the refusal; Flink restores the source's position and the
    //    counter starts empty, as the preview said.
    let (st, b) = h
        .patch(
            "deployments/up",
            json!({"spec": {"restoreStrategy": {"allowNonRestoredState": true}}}),
        )
        .await;
    assert!(st.is_success(), "{st} {b}");
    let j2 = next_job(&h, &j1).await;
    let sp1 = upgrade_savepoint(&h, &dep, &j1).await;
    let restored = h.flink_restored_path(&j2).await.expect("j2 restored");
    assert!(same_location(&restored, &sp1), "{restored} vs {sp1}");
    let before = last_per_key(&stdout, "up1");
    let after = first_per_key(&stdout, "up2").await;
    for (k, (count, last)) in &after {
        assert_eq!(
            *count, 1,
            "key {k}: the counter's state was dropped: {after:?}"
        );
        assert!(
            *last > before[k].1,
            "key {k}: the source went on from its position: {before:?} {after:?}"
        );
    }

    // 3. A stateless operator added: compatible, every operator restores, the counts continue.
    h.wait_checkpoint(&j2).await;
    let compatible = main_args("20 --tag up3 --counter-uid counter-renamed --stateless-map");
    let p = preview(&h, &compatible).await;
    assert_eq!(p["decision"], "PROCEEDS", "{p}");
    assert_eq!(p["verdict"], "COMPATIBLE", "{p}");
    let f = fates(&p);
    assert_eq!(ids_with(&f, "NEW"), [MAP], "{p}");
    assert_eq!(ids_with(&f, "RESTORED").len(), 3, "{p}");
    h.patch("deployments/up", compatible).await;
    let j3 = next_job(&h, &j2).await;
    let sp2 = upgrade_savepoint(&h, &dep, &j2).await;
    let restored = h.flink_restored_path(&j3).await.expect("j3 restored");
    assert!(same_location(&restored, &sp2), "{restored} vs {sp2}");
    let before = last_per_key(&stdout, "up2");
    let after = first_per_key(&stdout, "up3").await;
    for (k, (count, _)) in &after {
        assert_eq!(*count, before[k].0 + 1, "key {k}: {before:?} {after:?}");
    }

    // 4. A max parallelism change: incompatible, refused; with the override Flink refuses the
    //    restore itself, as predicted.
    h.wait_checkpoint(&j3).await;
    let max = json!({"spec": {"template": {"spec": {"flinkConfiguration": {"pipeline.max-parallelism": "64"}}}}});
    let p = preview(&h, &max).await;
    assert_eq!(p["decision"], "REFUSED", "{p}");
    assert_eq!(p["verdict"], "INCOMPATIBLE", "{p}");
    assert_eq!(ids_with(&fates(&p), "INCOMPATIBLE").len(), 4, "{p}");
    patch_refused(
        &h,
        &dep,
        &j3,
        &max,
        "UPGRADE_INCOMPATIBLE_STATE",
        "max parallelism",
    )
    .await;
    let version = s(&h.deployment("up").await["metadata"]["annotations"][SPEC_VERSION_ANNOTATION]);
    // Rollback off: Flink's refusal stays the deployment's failure (tests/rollback.rs has it on).
    h.patch(
        "deployments/up",
        json!({"metadata": {"annotations": {SKIP_CHECK_ANNOTATION: version, ROLLBACK_ANNOTATION: "off"}}}),
    )
    .await;
    let d = h
        .wait_for("up", "Flink's refusal of the restore", T, |d| {
            s(&d["status"]["failure"]["message"]).contains("Max parallelism mismatch")
        })
        .await;
    assert_eq!(
        d["status"]["failure"]["reason"], "JOB_SUBMISSION_FAILED",
        "{d}"
    );
    h.patch("deployments/up", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("up", "CANCELLED", T).await;
}
