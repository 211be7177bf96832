//! Crash injection for a SQL deployment: the real binary aborts (like kill -9) right after it
//! submitted the SQL runner's job, and right after Flink accepted a suspend's stop; restarted on the
//! same data dir, it converges as for jars: one job in Flink, one SUSPEND savepoint, COMPLETED.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{live_in_flink, origin_count, Api, Server};

const CRASH: Duration = Duration::from_secs(120);

const SCRIPT: &str = "SET 'pipeline.name' = 'sql-crash';\n\
    CREATE TEMPORARY TABLE src (k INT) WITH ('connector' = 'datagen', 'rows-per-second' = '20', \
    'fields.k.min' = '0', 'fields.k.max' = '3');\n\
    CREATE TEMPORARY TABLE snk (k INT, c BIGINT) WITH ('connector' = 'blackhole');\n\
    INSERT INTO snk SELECT k, COUNT(*) FROM src GROUP BY k;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_job_converges_after_crashes_in_its_start_and_its_suspend() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let flink = stateplane_flink::FlinkClient::new(cluster.rest_url()).unwrap();
    let dir = stateplane_testkit::temp_dir();
    let data = dir.path().join("data");
    let api = Api::new();
    let url = cluster.rest_url();

    let point = "start.after_submit";
    let s = Server::start_with(&data, url, &[("STATEPLANE_CRASH_AT", point)]);
    let d = api
        .post(
            format!("{}/deployments", s.base),
            json!({"metadata": {"name": "sqlcp"}, "spec": {
                "state": "RUNNING",
                "deploymentTargetName": "default",
                "template": {"spec": {
                    "artifact": {"kind": "SQLSCRIPT", "sqlScript": SCRIPT},
                    "parallelism": 1,
                    "flinkConfiguration": {
                        "execution.checkpointing.savepoint-dir": format!("file://{}", dir.path().join("sp").display()),
                        "execution.checkpointing.interval": "500ms"
                    }
                }}
            }}),
        )
        .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    s.wait_crash(CRASH, point);
    let s = Server::start(&data, url);
    let d = api
        .wait(format!("{}/deployments/sqlcp", s.base), point, |d| {
            d["status"]["state"] == "RUNNING"
        })
        .await;
    let job = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .replace('-', "");
    let jobs = api.get(format!("{}/jobs?deploymentId={dep}", s.base)).await;
    assert_eq!(
        live_in_flink(&flink, &jobs).await,
        vec![job],
        "{point}: {jobs}"
    );
    s.kill9();

    let point = "savepoint.after_trigger";
    let s = api
        .patch_until_crash(
            (&data, url),
            point,
            "sqlcp",
            json!({"spec": {"state": "SUSPENDED"}}),
            CRASH,
        )
        .await;
    api.wait(format!("{}/deployments/sqlcp", s.base), point, |d| {
        d["status"]["state"] == "SUSPENDED"
    })
    .await;
    let sps = api
        .get(format!("{}/savepoints?deploymentId={dep}", s.base))
        .await;
    assert_eq!(origin_count(&sps, "SUSPEND"), 1, "{point}: {sps}");
    let suspend = sps["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metadata"]["origin"] == "SUSPEND")
        .unwrap();
    assert_eq!(suspend["status"]["state"], "COMPLETED", "{suspend}");
    let jobs = api.get(format!("{}/jobs?deploymentId={dep}", s.base)).await;
    assert!(
        live_in_flink(&flink, &jobs).await.is_empty(),
        "{point}: {jobs}"
    );
    s.kill9();
}
