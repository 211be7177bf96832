//! Crashes during the rollback of a failed stateful upgrade, against the real binary and a real
//! Flink 2.3: the server aborts (like kill -9) right after it recorded the rollback, and on its
//! restart right after it recorded the job of the previous template; restarted again without a
//! crash point, it converges: one job of the deployment runs in Flink, of the old template (spec
//! version 1), restored from the upgrade's savepoint; the failed job is over, and no other job was
//! started.

mod support;

use std::time::Duration;

use serde_json::json;
use stateplane_flink::{FlinkClient, FlinkJobId};
use stateplane_testkit::wait::until_async;
use support::{live_in_flink, Api, Server};

const CRASH: Duration = Duration::from_secs(120);

/// What Flink says the job restored from, once it has a restore (or a checkpoint) to say it with.
async fn restored(flink: &FlinkClient, job: &str) -> Option<String> {
    let id = FlinkJobId::parse(job).unwrap();
    until_async(
        &format!("Flink to say what {job} restored"),
        Duration::from_secs(60),
        || async {
            match flink.checkpoints(&id).await {
                Ok(stats) => match (&stats.latest_restored, &stats.latest_completed) {
                    (Some(r), _) => Ok(r.external_path.clone()),
                    (None, Some(_)) => Ok(None),
                    (None, None) => Err(format!("{stats:?}")),
                },
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
}

fn trim(l: &str) -> &str {
    l.trim_start_matches("file:")
        .trim_start_matches("//")
        .trim_end_matches('/')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_converges_after_crashes_at_its_record_and_its_job_row() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let flink = FlinkClient::new(cluster.rest_url()).unwrap();
    let dir = stateplane_testkit::temp_dir();
    let data = dir.path().join("data");
    let api = Api::new();
    let url = cluster.rest_url();
    let jar = cluster.example_jar();

    // The first crash point is only reached once the upgrade failed.
    let point = "rollback.after_record";
    let s = Server::start_with(&data, url, &[("STATEPLANE_CRASH_AT", point)]);
    let d = api
        .post(
            format!("{}/deployments", s.base),
            json!({"metadata": {"name": "rbcrash"}, "spec": {
                "state": "RUNNING",
                "upgradeStrategy": {"kind": "STATEFUL"},
                "restoreStrategy": {"kind": "LATEST_STATE"},
                "deploymentTargetName": "default",
                "template": {"spec": {
                    "artifact": {"kind": "JAR", "jarUri": format!("file://{}", jar.display()),
                                 "entryClass": "io.stateplane.examples.StatefulCounter",
                                 "mainArgs": "20 --tag rbc1"},
                    "parallelism": 1,
                    "flinkConfiguration": {
                        "execution.checkpointing.savepoint-dir": format!("file://{}", dir.path().join("sp").display()),
                        "execution.checkpointing.interval": "1s"
                    }
                }}
            }}),
        )
        .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    let deployment = format!("{}/deployments/rbcrash", s.base);
    let d = api
        .wait(deployment.clone(), "first job RUNNING", |d| {
            d["status"]["state"] == "RUNNING"
        })
        .await;
    let j1 = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();

    // The upgrade fails (the new template throws after 5 records); the server dies having recorded
    // the rollback.
    api.patch(
        deployment.clone(),
        json!({"spec": {"template": {"spec": {"artifact": {"mainArgs": "20 --tag rbc2 --fail-after 5"}}}}}),
    )
    .await;
    s.wait_crash(CRASH, point);

    // Restarted, it cancels the failed job and dies having recorded the job of the old template.
    let point = "rollback.after_job_row";
    let s = Server::start_with(&data, url, &[("STATEPLANE_CRASH_AT", point)]);
    s.wait_crash(CRASH, point);

    let s = Server::start(&data, url);
    let deployment = format!("{}/deployments/rbcrash", s.base);
    let d = api
        .wait(deployment, "RUNNING after the rollback", |d| {
            d["status"]["state"] == "RUNNING"
                && d["status"]["rollback"]["failedSpecVersion"] == 2
                && d["status"]["running"]["jobId"] != d["status"]["rollback"]["failedJobId"]
        })
        .await;
    let running = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let jobs = api.get(format!("{}/jobs?deploymentId={dep}", s.base)).await;
    let items = jobs["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        3,
        "the first job, the failed one, the rollback: {jobs}"
    );
    assert_eq!(
        live_in_flink(&flink, &jobs).await,
        vec![running.replace('-', "")],
        "{jobs}"
    );
    let job = items
        .iter()
        .find(|j| j["metadata"]["id"] == running.as_str())
        .unwrap();
    assert_eq!(
        job["metadata"]["annotations"]
            ["com.dataartisans.appmanager.controller.deployment.spec.version"],
        "1",
        "{job}"
    );
    assert_eq!(
        job["spec"]["artifact"]["mainArgs"], "20 --tag rbc1",
        "{job}"
    );
    let sps = api
        .get(format!("{}/savepoints?deploymentId={dep}", s.base))
        .await;
    let upgrade = sps["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["metadata"]["origin"] == "SUSPEND_AND_UPGRADE"
                && s["metadata"]["jobId"] == j1.as_str()
        })
        .unwrap_or_else(|| panic!("no upgrade savepoint of {j1}: {sps}"));
    let location = upgrade["spec"]["savepointLocation"].as_str().unwrap();
    assert_eq!(
        d["status"]["rollback"]["savepointId"],
        upgrade["metadata"]["id"]
    );
    let path = restored(&flink, &running.replace('-', ""))
        .await
        .expect("the rollback restored state, it did not start empty");
    assert_eq!(trim(&path), trim(location), "{path} vs {location}");
    s.kill9();
}
