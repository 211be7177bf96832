//! SQL deployments (`artifact.kind: SQLSCRIPT`) on a real Flink cluster: the script runs as a job of
//! the embedded SQL runner, with savepoints, suspend/resume and stateful upgrades checked in Flink's
//! own view (`latest.restored.external_path`, and the counts the job prints to the TaskManager's
//! stdout: a resumed job goes on from the suspended job's last counts); a script that does not plan
//! never starts a job (and is not tried again), and never stops a running one.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use stateplane_testkit::wait::until_async;

/// The first SQL program on a fresh JobManager loads Flink's planner (~15 s on a small machine).
const SQL_T: Duration = Duration::from_secs(120);

/// The print sink's identifier: the job's lines in the TaskManager's stdout start with it.
const PRINTED: &str = "sql-restore";

/// A stateful query: rows counted per key, each count printed (`+I[k, 1]`, then `-U[k, n]` and
/// `+U[k, n + 1]` per row).
fn counter_script(filter: &str) -> String {
    format!(
        "-- counts rows per key; after a restore the counts go on\n\
         SET 'pipeline.name' = 'sql-counter';\n\
         CREATE TEMPORARY TABLE src (k INT, note STRING) WITH ('connector' = 'datagen', \
         'rows-per-second' = '10', 'fields.k.min' = '0', 'fields.k.max' = '3', 'fields.note.length' = '3');\n\
         CREATE TEMPORARY TABLE out_sink (k INT, c BIGINT) WITH ('connector' = 'print', 'print-identifier' = '{PRINTED}');\n\
         INSERT INTO out_sink SELECT k, COUNT(*) AS c FROM src {filter} GROUP BY k;\n"
    )
}

/// One changelog row the print sink wrote: its kind (`+I`, `-U`, `+U`), key and count.
fn printed_rows(stdout: &str) -> Vec<(String, i64, i64)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(PRINTED)?.strip_prefix("> "))
        .filter_map(|row| {
            let (kind, rest) = row.split_once('[')?;
            let (k, c) = rest.strip_suffix(']')?.split_once(", ")?;
            Some((kind.to_string(), k.parse().ok()?, c.parse().ok()?))
        })
        .collect()
}

/// The TaskManager's stdout as Flink serves it (`/taskmanagers/{id}/logs/taskmanager.out`), from
/// byte `from` on, once it has `from` bytes: Flink caches the file for a few seconds, so a read right
/// after a job wrote may be shorter. `from` is a length from the uncached log list ([`stdout_len`]).
async fn stdout_from(flink: &str, from: u64) -> String {
    let tm = taskmanager(flink).await;
    until_async("the TaskManager's stdout", SQL_T, || async {
        let text = reqwest::get(format!("{flink}/taskmanagers/{tm}/logs/taskmanager.out"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        match text.get(from..) {
            Some(rest) => Ok(rest.to_string()),
            None => Err(format!("{} of {from} bytes served so far", text.len())),
        }
    })
    .await
}

/// The size of the TaskManager's stdout now (`/taskmanagers/{id}/logs`, asked of the TaskManager).
async fn stdout_len(flink: &str) -> u64 {
    let tm = taskmanager(flink).await;
    let logs: Value = reqwest::get(format!("{flink}/taskmanagers/{tm}/logs"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    logs["logs"]
        .as_array()
        .and_then(|l| l.iter().find(|f| f["name"] == "taskmanager.out"))
        .and_then(|f| f["size"].as_u64())
        .unwrap_or_else(|| panic!("no taskmanager.out in {logs}"))
}

async fn taskmanager(flink: &str) -> String {
    let tms: Value = reqwest::get(format!("{flink}/taskmanagers"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = tms["taskmanagers"][0]["id"].as_str().unwrap_or_default();
    id.to_string()
}

/// The last count per key in `rows`.
fn last_counts(rows: &[(String, i64, i64)]) -> std::collections::BTreeMap<i64, i64> {
    rows.iter()
        .filter(|(kind, _, _)| kind.starts_with('+'))
        .map(|(_, k, c)| (*k, *c))
        .collect()
}

/// The same script with a syntax error on line 5 (the INSERT).
fn broken_script() -> String {
    counter_script("").replace("FROM src", "FROMM src")
}

/// The spec patch that turns the harness's jar deployment into a SQL one (as Ververica sends it).
fn sql_artifact(script: &str) -> Value {
    json!({"template": {"spec": {"artifact": {
        "kind": "SQLSCRIPT", "sqlScript": script, "flinkVersion": "2.3",
        "jarUri": null, "entryClass": null, "mainArgs": null
    }}}})
}

fn running_job(d: &Value) -> String {
    d["status"]["running"]["jobId"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn location_of(sps: &[Value], origin: &str) -> String {
    sps.iter()
        .filter(|s| s["metadata"]["origin"] == origin && s["status"]["state"] == "COMPLETED")
        .max_by_key(|s| {
            s["metadata"]["createdAt"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .and_then(|s| s["spec"]["savepointLocation"].as_str())
        .unwrap_or_else(|| panic!("no completed {origin} savepoint: {sps:?}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_deployment_lives_through_savepoints_upgrades_and_suspend() {
    let h = Harness::start().await;
    let d = h
        .create_deployment("sql", sql_artifact(&counter_script("")))
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        d["spec"]["template"]["spec"]["artifact"]["kind"],
        "SQLSCRIPT"
    );

    let d = h.wait_state("sql", "RUNNING", SQL_T).await;
    let job1 = running_job(&d);
    let flink_job = job1.replace('-', "");
    assert_eq!(
        h.flink_restored_path(&job1).await,
        None,
        "first start is empty"
    );

    // A requested savepoint of the SQL job completes.
    let (s, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep_id}}))
        .await;
    assert!(s.is_success(), "{s} {sp}");
    let sp_id = sp["metadata"]["id"].as_str().unwrap().to_string();
    let sp = h.wait_savepoint(&sp_id, &["COMPLETED", "FAILED"], T).await;
    assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
    assert!(has_metadata(
        sp["spec"]["savepointLocation"].as_str().unwrap()
    ));

    // An upgrade to a script that does not parse: the running job is left alone and the deployment
    // says why, with Flink's line and column; it is not tried again.
    let (s, b) = h
        .patch(
            "deployments/sql",
            json!({"spec": sql_artifact(&broken_script())}),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let events = h.wait_event("sql", "UPGRADE_PREFLIGHT_FAILED").await;
    let d = h
        .wait_for("sql", "the preflight failure in the status", T, |d| {
            d["status"]["failure"]["reason"] == "UPGRADE_PREFLIGHT_FAILED"
        })
        .await;
    let message = d["status"]["failure"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 5, column") && message.contains("SQL parse failed"),
        "{message}"
    );
    assert_eq!(d["status"]["state"], "RUNNING", "{d}");
    assert_eq!(running_job(&d), job1);
    let flink_id = stateplane_flink::FlinkJobId::parse(&flink_job).unwrap();
    let state = h.flink.job_status(&flink_id).await.unwrap();
    assert_eq!(state, Some(stateplane_flink::JobState::Running), "{events}");
    h.wait_looked_at("sql").await;
    let refusals = h
        .events("sql")
        .await
        .iter()
        .filter(|e| e.starts_with("UPGRADE_PREFLIGHT_FAILED"))
        .count();
    assert_eq!(refusals, 1, "{events}");

    // A stateful upgrade to a script that keeps the query's state shape restores the upgrade's
    // savepoint.
    let (s, b) = h
        .patch(
            "deployments/sql",
            json!({"spec": sql_artifact(&counter_script("WHERE k <> 7"))}),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let d = h
        .wait_for("sql", "the upgraded job runs", SQL_T, |d| {
            d["status"]["state"] == "RUNNING" && running_job(d) != job1
        })
        .await;
    let job2 = running_job(&d);
    assert!(d["status"]["failure"].is_null(), "{d}");
    let upgrade_loc = location_of(&h.savepoints(&dep_id).await, "SUSPEND_AND_UPGRADE");
    h.assert_restored_from(&job2, &upgrade_loc, "the upgrade savepoint")
        .await;

    // Suspend, then resume from the SUSPEND savepoint: the aggregate goes on from the counts the
    // suspended job printed last, as the TaskManager's stdout shows (Flink's view, not ours).
    h.patch("deployments/sql", json!({"spec": {"state": "SUSPENDED"}}))
        .await;
    h.wait_state("sql", "SUSPENDED", T).await;
    let suspend_loc = location_of(&h.savepoints(&dep_id).await, "SUSPEND");
    // The job has ended in Flink, so everything it printed is in the file: this is the boundary.
    let flink = stateplane_testkit::flink::shared_cluster()
        .rest_url()
        .to_string();
    let boundary = stdout_len(&flink).await;
    let before = last_counts(&printed_rows(&stdout_from(&flink, 0).await));
    assert_eq!(
        before.len(),
        4,
        "every key counted before the suspend: {before:?}"
    );
    h.patch("deployments/sql", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let d = h
        .wait_for("sql", "the resumed job runs", SQL_T, |d| {
            d["status"]["state"] == "RUNNING" && running_job(d) != job2
        })
        .await;
    let job3 = running_job(&d);
    h.assert_restored_from(&job3, &suspend_loc, "the suspend savepoint")
        .await;
    let after = until_async("the resumed job to count every key", SQL_T, || async {
        let rows = printed_rows(&stdout_from(&flink, boundary).await);
        let keys: std::collections::BTreeSet<i64> = rows.iter().map(|(_, k, _)| *k).collect();
        if keys.len() == 4 {
            Ok(rows)
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
    for (k, last) in &before {
        let mine: Vec<&(String, i64, i64)> = after.iter().filter(|(_, key, _)| key == k).collect();
        // A job starting empty would print `+I[k, 1]`; a restored one retracts the restored count.
        assert_eq!(
            (mine[0].0.as_str(), mine[0].2),
            ("-U", *last),
            "key {k}: the resumed job's first row retracts the suspended job's last count: {mine:?}"
        );
        let first = mine.iter().find(|(kind, _, _)| kind.starts_with('+'));
        assert!(
            first.is_some_and(|(kind, _, c)| kind == "+U" && *c == last + 1),
            "key {k}: the count goes on from {last}: {mine:?}"
        );
    }

    h.patch("deployments/sql", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("sql", "CANCELLED", T).await;
}

/// A script that does not parse on a new deployment: Flink starts nothing, the deployment is FAILED
/// with Flink's message and its line and column, after one attempt (the same script cannot do better
/// the second time, whatever `maxJobCreationAttempts` says), and it stays so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sql_deployment_whose_script_does_not_parse_fails_without_a_job() {
    let h = Harness::start().await;
    let d = h
        .create_deployment("badsql", sql_artifact(&broken_script()))
        .await;
    assert_eq!(d["spec"]["maxJobCreationAttempts"], 4, "the default");
    let d = h.wait_state("badsql", "FAILED", SQL_T).await;
    let failure = &d["status"]["failure"];
    let message = failure["message"].as_str().unwrap();
    assert_eq!(failure["reason"], "JOB_SUBMISSION_FAILED", "{d}");
    assert!(
        message.contains("line 5, column 46") && message.contains("SQL parse failed"),
        "{message}"
    );
    let events = h
        .wait_event("badsql", "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS")
        .await;
    assert!(events.contains("Not trying again"), "{events}");
    // A pass after the failure plans nothing new: no second attempt, no job.
    let action = h.wait_looked_at("badsql").await;
    assert_eq!(action, "Steady", "{events}");
    let (_, jobs) = h.get("jobs").await;
    let jobs = jobs["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 1, "one attempt: {jobs:?}");
    assert_eq!(jobs[0]["status"]["state"], "FAILED");
    assert_eq!(jobs[0]["status"]["failure"]["message"], message);
    let flink_id = stateplane_flink::FlinkJobId::parse(
        &jobs[0]["metadata"]["id"].as_str().unwrap().replace('-', ""),
    )
    .unwrap();
    assert_eq!(
        h.flink.job_status(&flink_id).await.ok().flatten(),
        None,
        "Flink has no such job"
    );
    let (_, events) = h.get("events").await;
    let failed_attempts = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["metadata"]["name"] == "FAILED_CREATING_A_NEW_JOB")
        .count();
    assert_eq!(failed_attempts, 1, "{events}");
}
