//! The real binary against a real Flink, killed with SIGKILL in the middle of a savepoint, a suspend
//! and a start, and restarted on the same data dir: no completed savepoint lost, none duplicated, never
//! a second job for the deployment.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use stateplane_testkit::api::RECONCILE_PASSES;
use support::{origin_count, Api, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_operation_loses_nothing_and_starts_no_second_job() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let dir = stateplane_testkit::temp_dir();
    let data = dir.path().join("data");
    let sp_dir: PathBuf = dir.path().join("savepoints");
    let api = Api {
        http: reqwest::Client::new(),
    };

    let s = Server::start(&data, cluster.rest_url());
    let body = json!({"metadata": {"name": "k9"}, "spec": {
        "state": "RUNNING",
        "deploymentTargetName": "default",
        "template": {"spec": {
            "artifact": {"kind": "JAR", "jarUri": format!("file://{}", cluster.example_jar().display()),
                         "entryClass": "io.stateplane.examples.StatefulCounter", "mainArgs": "20 --tag k9"},
            "parallelism": 1,
            "flinkConfiguration": {"execution.checkpointing.savepoint-dir": format!("file://{}", sp_dir.display())}
        }}
    }});
    let d = api
        .call(
            reqwest::Method::POST,
            format!("{}/deployments", s.base),
            Some(body),
        )
        .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    api.wait(format!("{}/deployments/k9", s.base), "RUNNING", |d| {
        d["status"]["state"] == "RUNNING"
    })
    .await;
    let mut s = s;

    // A savepoint, killed at several moments after the request was acknowledged.
    // STATEPLANE_RELIABILITY_LONG=1: kill at every millisecond offset from 0 to 60 instead of three.
    let delays: Vec<u64> = if std::env::var_os("STATEPLANE_RELIABILITY_LONG").is_some() {
        (0..=60).collect()
    } else {
        vec![0, 10, 40]
    };
    for delay in delays {
        let sp = api
            .call(
                reqwest::Method::POST,
                format!("{}/savepoints", s.base),
                Some(json!({"metadata": {"deploymentId": dep}})),
            )
            .await;
        let id = sp["metadata"]["id"].as_str().unwrap().to_string();
        // The delay is the point of the test: SIGKILL lands at a different step each round.
        tokio::time::sleep(Duration::from_millis(delay)).await;
        s.kill9();
        s = Server::start(&data, cluster.rest_url());
        let sp = api
            .wait(
                format!("{}/savepoints/{id}", s.base),
                "savepoint done",
                |v| matches!(v["status"]["state"].as_str(), Some("COMPLETED" | "FAILED")),
            )
            .await;
        assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
        let loc = stateplane_model::local_path(sp["spec"]["savepointLocation"].as_str().unwrap())
            .unwrap();
        assert!(loc.join("_metadata").is_file());
        assert_eq!(
            std::fs::read_dir(loc.parent().unwrap()).unwrap().count(),
            1,
            "one snapshot per request"
        );
    }

    // A suspend, killed right after it was asked for.
    api.call(
        reqwest::Method::PATCH,
        format!("{}/deployments/k9", s.base),
        Some(json!({"spec": {"state": "SUSPENDED"}})),
    )
    .await;
    // SIGKILL a chosen moment into the suspend (the point of the test, not a wait for anything).
    tokio::time::sleep(Duration::from_millis(25)).await;
    s.kill9();
    s = Server::start(&data, cluster.rest_url());
    api.wait(format!("{}/deployments/k9", s.base), "SUSPENDED", |d| {
        d["status"]["state"] == "SUSPENDED"
    })
    .await;
    let sps = api
        .call(
            reqwest::Method::GET,
            format!("{}/savepoints?deploymentId={dep}", s.base),
            None,
        )
        .await;
    assert_eq!(origin_count(&sps, "SUSPEND"), 1, "{sps}");

    // A start, killed right after it was asked for.
    api.call(
        reqwest::Method::PATCH,
        format!("{}/deployments/k9", s.base),
        Some(json!({"spec": {"state": "RUNNING"}})),
    )
    .await;
    // SIGKILL a chosen moment into the start (the point of the test, not a wait for anything).
    tokio::time::sleep(Duration::from_millis(15)).await;
    s.kill9();
    s = Server::start(&data, cluster.rest_url());
    let d = api
        .wait(format!("{}/deployments/k9", s.base), "RUNNING", |d| {
            d["status"]["state"] == "RUNNING"
        })
        .await;
    let jobs = api
        .call(
            reqwest::Method::GET,
            format!("{}/jobs?deploymentId={dep}", s.base),
            None,
        )
        .await;
    let ids = support::flink_job_ids(&jobs);
    assert_eq!(ids.len(), 2, "{jobs}");
    let flink = stateplane_flink::FlinkClient::new(cluster.rest_url()).unwrap();
    let running = support::live_in_flink(&flink, &jobs).await;
    assert_eq!(
        running,
        vec![d["status"]["running"]["jobId"]
            .as_str()
            .unwrap()
            .replace('-', "")],
        "exactly one job of this deployment runs in Flink, the deployment's"
    );

    api.call(
        reqwest::Method::PATCH,
        format!("{}/deployments/k9", s.base),
        Some(json!({"spec": {"state": "CANCELLED"}})),
    )
    .await;
    api.wait(format!("{}/deployments/k9", s.base), "CANCELLED", |d| {
        d["status"]["state"] == "CANCELLED"
    })
    .await;
    // The metrics endpoint shows what the controller did: passes recorded, the deployment counted.
    let base = s.base.replace("/api/v1/namespaces/default", "");
    let passes = stateplane_testkit::api::metric(&api.http, &base, RECONCILE_PASSES).await;
    assert!(passes > 0.0, "no reconcile pass recorded");
    let cancelled = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cancelled.contains("stateplane_deployments{state=\"CANCELLED\"} 1"),
        "{cancelled}"
    );
}
