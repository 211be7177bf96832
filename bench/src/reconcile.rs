//! P5: one full reconcile pass over N running deployments against a **simulated Flink** REST server
//! (the one place a fake Flink is right: a real cluster cannot run a thousand jobs on this machine).
//! The fake answers the two calls a steady pass makes (`/jobs/<id>/status`, `/jobs/overview`) and
//! records which jobs were asked about; a pass is complete when every job was.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use serde_json::json;
use stateplane_controller::{Controller, ControllerConfig};
use stateplane_model::DeploymentTarget;
use stateplane_store::{DeploymentTargetStore, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::common::*;
use crate::Ctx;

type Seen = Arc<Mutex<HashSet<String>>>;

async fn simulated_flink(seen: Seen) -> anyhow::Result<String> {
    let app = axum::Router::new()
        .route(
            "/jobs/{id}/status",
            get(move |Path(id): Path<String>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                    axum::Json(json!({"status": "RUNNING"}))
                }
            }),
        )
        .route(
            "/jobs/overview",
            get(|| async { axum::Json(json!({"jobs": []})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

async fn one_pass(n: usize) -> anyhow::Result<f64> {
    let seen: Seen = Arc::default();
    let url = simulated_flink(seen.clone()).await?;
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path()).await?;
    store
        .target_create(&DeploymentTarget::new("default", "default", &url))
        .await?;
    store.close().await;
    let spec = serde_json::from_value(json!({
        "state": "RUNNING",
        "deploymentTargetName": "default",
        "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}
    }))?;
    stateplane_store::sqlite::seed::seed(
        &dir.path().join("stateplane.db"),
        "default",
        &spec,
        n,
        0,
        true,
    )
    .await?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await?);
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let controller =
        tokio::spawn(Controller::new(store, ControllerConfig::default(), cancel.clone()).run());
    let deadline = started + Duration::from_secs(300);
    loop {
        if seen.lock().unwrap_or_else(|e| e.into_inner()).len() >= n {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pass over {n} deployments did not finish"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = ms(started.elapsed());
    cancel.cancel();
    let _ = controller.await;
    Ok(took)
}

pub async fn reconcile_pass(_ctx: &Ctx) -> anyhow::Result<Measure> {
    let small = one_pass(100).await?;
    let large = one_pass(1000).await?;
    let growth = large / small;
    Ok(Measure {
        id: "P5",
        name: "reconcile_pass",
        values: vec![
            ("flink".into(), "simulated".into()),
            ("wall_ms_100".into(), f2(small)),
            ("wall_ms_1000".into(), f2(large)),
            ("growth".into(), f2(growth)),
        ],
        baseline: "the same pass over 100 deployments".into(),
        goal: "linear or better: growth ≤ 10 for 10× the deployments".into(),
        met: growth <= 10.0,
    })
}
