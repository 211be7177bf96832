//! What the stateful-upgrade tests (Flink 2.3 and 1.20) share: asking for an upgrade preview,
//! reading its per-operator fates, the example job's printed counts, and checking that a refused
//! PATCH left the running job alone.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use stateplane_flink::{FlinkJobId, JobState};
use stateplane_model::plan::upgrade_check::SKIP_CHECK_ANNOTATION;
use stateplane_testkit::logs;
use stateplane_testkit::wait::until_async;

use super::{Harness, T};

/// Operator ids of the example job as Flink derives them from its uids (the same on 1.20 and 2.3).
pub const SOURCE: &str = "f421c7059e6771b9a595acc02e87aaef";
pub const COUNTER: &str = "5b61d6019ab04da71a4e62533c1a8c40";
pub const SINK: &str = "89f21f775f44942d9cc73c012629f763";
pub const MAP: &str = "9bb8cac041b0b678edb003b4580e22c8";

pub fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A deployment patch that changes only the job's arguments.
pub fn main_args(args: &str) -> Value {
    json!({"spec": {"template": {"spec": {"artifact": {"mainArgs": args}}}}})
}

/// The upgrade preview of `change` on deployment `name` (must answer 2xx).
pub async fn preview(h: &Harness, name: &str, change: &Value) -> Value {
    let (st, b) = h
        .post(
            &format!("deployments/{name}/upgrade-preview"),
            change.clone(),
        )
        .await;
    assert!(st.is_success(), "preview {change}: {st} {b}");
    b
}

/// Operator id → fate.
pub fn fates(p: &Value) -> BTreeMap<String, String> {
    p["operators"]
        .as_array()
        .unwrap_or_else(|| panic!("no operators in {p}"))
        .iter()
        .map(|o| (s(&o["operatorId"]), s(&o["fate"])))
        .collect()
}

pub fn ids_with<'a>(f: &'a BTreeMap<String, String>, fate: &str) -> Vec<&'a str> {
    f.iter()
        .filter(|(_, v)| v.as_str() == fate)
        .map(|(k, _)| k.as_str())
        .collect()
}

/// `(key, count, last)` of every line the job tagged `tag` printed, in order.
pub fn printed(stdout: &Path, tag: &str) -> Vec<(u64, u64, u64)> {
    stateplane_testkit::flink::example_job_lines(stdout, tag)
}

/// The last line per key of the job tagged `tag` (a stopped job: its final state).
pub fn last_per_key(stdout: &Path, tag: &str) -> BTreeMap<u64, (u64, u64)> {
    printed(stdout, tag)
        .into_iter()
        .map(|(k, c, l)| (k, (c, l)))
        .collect()
}

/// The first line per key of the job tagged `tag`, once it printed one for all four keys.
pub async fn first_per_key(stdout: &Path, tag: &str) -> BTreeMap<u64, (u64, u64)> {
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

pub fn running_job(d: &Value) -> String {
    s(&d["status"]["running"]["jobId"])
}

/// Waits until deployment `name` runs a job other than `old`; returns it.
pub async fn next_job(h: &Harness, name: &str, old: &str) -> String {
    let d = h
        .wait_for(name, &format!("a job other than {old} RUNNING"), T, |d| {
            d["status"]["state"] == "RUNNING"
                && d["status"]["running"]["jobId"].is_string()
                && d["status"]["running"]["jobId"] != old
        })
        .await;
    running_job(&d)
}

/// The location of the COMPLETED SUSPEND_AND_UPGRADE savepoint of `job`.
pub async fn upgrade_savepoint(h: &Harness, dep: &str, job: &str) -> String {
    upgrade_savepoint_of(h, dep, job).await.1
}

/// The COMPLETED SUSPEND_AND_UPGRADE savepoint of `job`: (id, location).
pub async fn upgrade_savepoint_of(h: &Harness, dep: &str, job: &str) -> (String, String) {
    let sps = h.savepoints(dep).await;
    let sp = sps
        .iter()
        .find(|sp| {
            sp["metadata"]["jobId"] == job
                && sp["metadata"]["origin"] == "SUSPEND_AND_UPGRADE"
                && sp["status"]["state"] == "COMPLETED"
        })
        .unwrap_or_else(|| panic!("no upgrade savepoint of {job}: {sps:?}"));
    (
        s(&sp["metadata"]["id"]),
        s(&sp["spec"]["savepointLocation"]),
    )
}

/// Flink's state of the job (a stateplane job id).
pub async fn flink_state(h: &Harness, job: &str) -> Option<JobState> {
    let id = FlinkJobId::parse(&job.replace('-', "")).unwrap();
    h.flink.job_status(&id).await.unwrap()
}

/// PATCHes `change` on deployment `name` (id `dep`) and checks its refusal: it is recorded (the
/// positive signal), then a pass that began after it planned nothing; the job is the same one,
/// still RUNNING in Flink, and no savepoint was taken.
pub async fn patch_refused(
    h: &Harness,
    (name, dep): (&str, &str),
    job: &str,
    change: &Value,
    reason: &str,
    names: &str,
) {
    let sps_before = h.savepoints(dep).await.len();
    let (st, b) = h
        .patch(&format!("deployments/{name}"), change.clone())
        .await;
    assert!(st.is_success(), "{st} {b}");
    let d = h
        .wait_for(name, &format!("the failure {reason}"), T, |d| {
            d["status"]["failure"]["reason"] == reason
        })
        .await;
    let message = s(&d["status"]["failure"]["message"]);
    assert!(message.contains(names), "{message}");
    assert!(message.contains(SKIP_CHECK_ANNOTATION), "{message}");
    let events = h.wait_event(name, "UPGRADE_REFUSED").await;
    assert!(events.contains(names), "{events}");
    // A pass that began after the refusal: it looks at the job and plans nothing more.
    let mark = logs::mark();
    h.nudge(name).await;
    h.wait_planned(name, "end steady", mark, 1, |a| a == "Steady")
        .await;
    let planned = logs::planned(&h.id_of(name).await, mark);
    assert!(
        planned.iter().all(|a| super::leaves_the_job_alone(a)),
        "{planned:?}"
    );
    let d = h.deployment(name).await;
    assert_eq!(running_job(&d), job, "{d}");
    assert_eq!(flink_state(h, job).await, Some(JobState::Running));
    assert_eq!(
        h.savepoints(dep).await.len(),
        sps_before,
        "no savepoint was taken"
    );
}
