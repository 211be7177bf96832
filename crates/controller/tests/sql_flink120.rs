//! A SQL deployment's lifecycle on Flink 1.20 (the SQL runner is one jar for 1.20 and 2.x): RUNNING,
//! suspend with a SUSPEND savepoint, resume restoring it in Flink's own view.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use stateplane_testkit::flink::FLINK_1_20;

const SQL_T: Duration = Duration::from_secs(120);

const SCRIPT: &str = "SET 'pipeline.name' = 'sql-counter-120';\n\
    CREATE TEMPORARY TABLE src (k INT) WITH ('connector' = 'datagen', 'rows-per-second' = '20', \
    'fields.k.min' = '0', 'fields.k.max' = '3');\n\
    CREATE TEMPORARY TABLE snk (k INT, c BIGINT) WITH ('connector' = 'blackhole');\n\
    INSERT INTO snk SELECT k, COUNT(*) FROM src GROUP BY k;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_deployment_suspends_and_resumes_on_flink_1_20() {
    let h = Harness::start_on(FLINK_1_20, true).await;
    let d = h
        .create_deployment(
            "sql120",
            json!({"template": {"spec": {"artifact": {
                "kind": "SQLSCRIPT", "sqlScript": SCRIPT, "flinkVersion": "1.20",
                "jarUri": null, "entryClass": null, "mainArgs": null
            }}}}),
        )
        .await;
    let dep_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let d = h.wait_state("sql120", "RUNNING", SQL_T).await;
    let job1 = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();

    h.patch(
        "deployments/sql120",
        json!({"spec": {"state": "SUSPENDED"}}),
    )
    .await;
    h.wait_state("sql120", "SUSPENDED", T).await;
    let sps = h.savepoints(&dep_id).await;
    let suspend = sps
        .iter()
        .find(|s| s["metadata"]["origin"] == "SUSPEND")
        .expect("a SUSPEND savepoint");
    assert_eq!(suspend["status"]["state"], "COMPLETED", "{suspend}");
    let suspend_loc = suspend["spec"]["savepointLocation"]
        .as_str()
        .unwrap()
        .to_string();

    h.patch("deployments/sql120", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let job2 = h
        .wait_new_job("sql120", "the resumed job runs", &job1, SQL_T)
        .await;
    h.assert_restored_from(&job2, &suspend_loc, "the suspend savepoint")
        .await;

    h.patch(
        "deployments/sql120",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("sql120", "CANCELLED", T).await;
}
