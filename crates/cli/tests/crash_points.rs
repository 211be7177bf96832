//! Crash injection at each step: the real binary runs with `STATEPLANE_CRASH_AT=<point>` and aborts
//! (like kill -9) when it reaches that step of a savepoint, a suspend, a start, a stateful upgrade or a
//! cancel; it is then restarted on the same data dir without the crash point. Checked against Flink
//! and the store each time: no completed savepoint lost, none duplicated, never two jobs for the
//! deployment, and the deployment converges.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use stateplane_testkit::wait::until_async;
use support::{origin_count, Api, Server};

const CRASH: Duration = Duration::from_secs(60);

/// Exactly one job of the deployment is not terminal in Flink, and it is the one the deployment runs.
async fn one_job_in_flink(
    flink: &stateplane_flink::FlinkClient,
    jobs: &Value,
    running: Option<&str>,
) {
    let live = support::live_in_flink(flink, jobs).await;
    match running {
        Some(id) => assert_eq!(
            live,
            vec![id.replace('-', "")],
            "exactly the deployment's job runs in Flink"
        ),
        None => assert!(
            live.is_empty(),
            "no job of the deployment runs in Flink: {live:?}"
        ),
    }
}

fn snapshots_in(target_dir: &Path) -> usize {
    std::fs::read_dir(target_dir)
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_of_savepoint_suspend_start_upgrade_and_cancel() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let flink = stateplane_flink::FlinkClient::new(cluster.rest_url()).unwrap();
    let dir = stateplane_testkit::temp_dir();
    let data = dir.path().join("data");
    let api = Api::new();
    let url = cluster.rest_url();

    let s = Server::start(&data, url);
    let d = api
        .post(
            format!("{}/deployments", s.base),
            json!({"metadata": {"name": "cp"}, "spec": {
                "state": "RUNNING",
                "deploymentTargetName": "default",
                "restoreStrategy": {"kind": "LATEST_STATE"},
                "template": {"spec": {
                    "artifact": {"kind": "JAR", "jarUri": format!("file://{}", cluster.example_jar().display()),
                                 "entryClass": "io.stateplane.examples.StatefulCounter", "mainArgs": "20 --tag cp"},
                    "parallelism": 1,
                    "flinkConfiguration": {
                        "execution.checkpointing.savepoint-dir": format!("file://{}", dir.path().join("sp").display()),
                        "execution.checkpointing.dir": format!("file://{}", dir.path().join("ck").display()),
                        "execution.checkpointing.interval": "500ms",
                        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"
                    }
                }}
            }}),
        )
        .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    let base = s.base.clone();
    api.wait(format!("{base}/deployments/cp"), "RUNNING", |d| {
        d["status"]["state"] == "RUNNING"
    })
    .await;
    s.kill9();
    let mut base;

    // Savepoint: crash right after Flink accepted the trigger, and right after COMPLETED was written.
    for point in ["savepoint.after_trigger", "savepoint.after_completed"] {
        let s = Server::start_with(&data, url, &[("STATEPLANE_CRASH_AT", point)]);
        let sp = api
            .post(
                format!("{}/savepoints", s.base),
                json!({"metadata": {"deploymentId": dep}}),
            )
            .await;
        let id = sp["metadata"]["id"].as_str().unwrap().to_string();
        s.wait_crash(CRASH, point);
        let s = Server::start(&data, url);
        let sp = api
            .wait(format!("{}/savepoints/{id}", s.base), point, |v| {
                matches!(v["status"]["state"].as_str(), Some("COMPLETED" | "FAILED"))
            })
            .await;
        assert_eq!(sp["status"]["state"], "COMPLETED", "{point}: {sp}");
        let loc = stateplane_model::local_path(sp["spec"]["savepointLocation"].as_str().unwrap())
            .unwrap();
        assert!(loc.join("_metadata").is_file(), "{point}");
        assert_eq!(
            snapshots_in(loc.parent().unwrap()),
            1,
            "{point}: one snapshot for one request"
        );
        s.kill9();
    }

    // Suspend and resume, crashing at each step of the stop and of the start.
    let stop_points = [
        "stop.after_savepoint_row",
        "stop.after_intent",
        "savepoint.after_trigger",
        "savepoint.after_completed",
        "end.after_job_terminal",
    ];
    let start_points = ["start.after_job_row", "start.after_submit"];
    for (i, stop_point) in stop_points.iter().enumerate() {
        let s = api
            .patch_until_crash(
                (&data, url),
                stop_point,
                "cp",
                json!({"spec": {"state": "SUSPENDED"}}),
                CRASH,
            )
            .await;
        base = s.base.clone();
        api.wait(format!("{base}/deployments/cp"), stop_point, |d| {
            d["status"]["state"] == "SUSPENDED"
        })
        .await;
        let sps = api
            .get(format!("{base}/savepoints?deploymentId={dep}"))
            .await;
        assert_eq!(
            origin_count(&sps, "SUSPEND"),
            i + 1,
            "{stop_point}: one SUSPEND savepoint per suspend: {sps}"
        );
        let newest_suspend = sps["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metadata"]["origin"] == "SUSPEND")
            .unwrap()
            .clone();
        assert_eq!(
            newest_suspend["status"]["state"], "COMPLETED",
            "{stop_point}"
        );
        let jobs = api.get(format!("{base}/jobs?deploymentId={dep}")).await;
        one_job_in_flink(&flink, &jobs, None).await;
        s.kill9();

        let start_point = start_points[i % start_points.len()];
        let s = api
            .patch_until_crash(
                (&data, url),
                start_point,
                "cp",
                json!({"spec": {"state": "RUNNING"}}),
                CRASH,
            )
            .await;
        let d = api
            .wait(format!("{}/deployments/cp", s.base), start_point, |d| {
                d["status"]["state"] == "RUNNING"
            })
            .await;
        let job = d["status"]["running"]["jobId"]
            .as_str()
            .unwrap()
            .to_string();
        let jobs = api.get(format!("{}/jobs?deploymentId={dep}", s.base)).await;
        one_job_in_flink(&flink, &jobs, Some(&job)).await;
        let j = api.get(format!("{}/jobs/{job}", s.base)).await;
        assert_eq!(
            stateplane_model::normalize_location(
                j["spec"]["savepointLocation"].as_str().unwrap_or_default()
            ),
            stateplane_model::normalize_location(
                newest_suspend["spec"]["savepointLocation"]
                    .as_str()
                    .unwrap()
            ),
            "{start_point}: resumed from the suspend savepoint"
        );
        s.kill9();
    }

    // A stateful upgrade, crashing when the new job's row is written.
    let s = api
        .patch_until_crash(
            (&data, url),
            "start.after_job_row",
            "cp",
            json!({"spec": {"template": {"spec": {"parallelism": 2}}}}),
            CRASH,
        )
        .await;
    let d = api
        .wait(format!("{}/deployments/cp", s.base), "upgraded", |d| {
            d["status"]["state"] == "RUNNING"
                && d["metadata"]["annotations"][stateplane_model::SPEC_VERSION_ANNOTATION] == "2"
        })
        .await;
    let job = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let sps = api
        .get(format!("{}/savepoints?deploymentId={dep}", s.base))
        .await;
    assert_eq!(origin_count(&sps, "SUSPEND_AND_UPGRADE"), 1, "{sps}");
    let jobs = api.get(format!("{}/jobs?deploymentId={dep}", s.base)).await;
    one_job_in_flink(&flink, &jobs, Some(&job)).await;
    s.kill9();

    // Cancel: crash before Flink hears of it, and right after the retained checkpoint was recorded.
    let mut running = job;
    for (round, point) in ["cancel.before_flink", "end.after_retained_recorded"]
        .iter()
        .enumerate()
    {
        if round > 0 {
            let s = Server::start(&data, url);
            api.patch(
                format!("{}/deployments/cp", s.base),
                json!({"spec": {"state": "RUNNING"}}),
            )
            .await;
            let d = api
                .wait(format!("{}/deployments/cp", s.base), "RUNNING", |d| {
                    d["status"]["state"] == "RUNNING"
                })
                .await;
            running = d["status"]["running"]["jobId"]
                .as_str()
                .unwrap()
                .to_string();
            s.kill9();
        }
        // a checkpoint of the running job has completed, so there is something to retain
        let flink_id = stateplane_flink::FlinkJobId::parse(&running.replace('-', "")).unwrap();
        until_async("a completed checkpoint to retain", CRASH, || async {
            match flink.checkpoints(&flink_id).await {
                Ok(c) if c.latest_completed.is_some() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        let s = api
            .patch_until_crash(
                (&data, url),
                point,
                "cp",
                json!({"spec": {"state": "CANCELLED"}}),
                CRASH,
            )
            .await;
        api.wait(format!("{}/deployments/cp", s.base), point, |d| {
            d["status"]["state"] == "CANCELLED"
        })
        .await;
        let sps = api
            .get(format!("{}/savepoints?deploymentId={dep}", s.base))
            .await;
        assert_eq!(
            origin_count(&sps, "RETAINED_CHECKPOINT"),
            round + 1,
            "{point}: one retained checkpoint per cancel: {sps}"
        );
        let jobs = api.get(format!("{}/jobs?deploymentId={dep}", s.base)).await;
        one_job_in_flink(&flink, &jobs, None).await;
        s.kill9();
    }
}
