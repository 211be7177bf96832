//! Latency of the hot savepoint reads at the scale the benchmark uses (10 000 deployments, 1 000 000
//! savepoints): listing one deployment's savepoints and the restore-selection read must stay index-backed
//! (p99 well under 5 ms) however many savepoints other deployments have.
//!
//! Ignored by default (seeding takes a while); run it with
//! `cargo test -p stateplane-store --release --test sqlite_scale -- --ignored --nocapture`.
//! `STATEPLANE_SCALE_DEPLOYMENTS` and `STATEPLANE_SCALE_SAVEPOINTS` change the size.

use std::time::{Duration, Instant};

use stateplane_model::{DeploymentId, SavepointState, DEFAULT_NAMESPACE};
use stateplane_store::{SavepointFilter, SavepointStore, SqliteStore};

/// The filter a measured read uses for one deployment.
type FilterOf = fn(DeploymentId) -> SavepointFilter;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn p(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// Seeds the file with the store's bulk seeder (one unsynchronised transaction).
async fn seed(file: &std::path::Path, deployments: usize, savepoints: usize) -> Vec<DeploymentId> {
    let spec: stateplane_model::DeploymentSpec = serde_json::from_value(serde_json::json!({
        "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}
    }))
    .unwrap();
    stateplane_store::sqlite::seed::seed(
        file,
        DEFAULT_NAMESPACE,
        &spec,
        deployments,
        savepoints,
        false,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|d| d.metadata.id)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "seeds a million rows; run explicitly in release mode"]
async fn savepoint_reads_stay_fast_at_scale() {
    let deployments = env_or("STATEPLANE_SCALE_DEPLOYMENTS", 10_000);
    let savepoints = env_or("STATEPLANE_SCALE_SAVEPOINTS", 1_000_000);
    // STATEPLANE_SCALE_DIR keeps the seeded database between runs (seeded once, reused after).
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("STATEPLANE_SCALE_DIR")
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let reuse = dir.join("stateplane.db").exists();
    let store = SqliteStore::open(&dir).await.unwrap();
    let ids = if reuse {
        let all = stateplane_store::DeploymentStore::deployment_list(&store, None)
            .await
            .unwrap();
        all.into_iter().map(|d| d.metadata.id).collect()
    } else {
        let started = Instant::now();
        let ids = seed(&dir.join("stateplane.db"), deployments, savepoints).await;
        println!(
            "seeded {deployments} deployments, {savepoints} savepoints in {:?}",
            started.elapsed()
        );
        ids
    };

    let queries: [(&str, FilterOf); 3] = [
        ("list by deployment (all)", |d| SavepointFilter {
            deployment_id: Some(d),
            ..Default::default()
        }),
        ("list by deployment (limit 20)", |d| SavepointFilter {
            deployment_id: Some(d),
            limit: Some(20),
            ..Default::default()
        }),
        ("restore selection (COMPLETED of a deployment)", |d| {
            SavepointFilter {
                deployment_id: Some(d),
                states: vec![SavepointState::Completed],
                ..Default::default()
            }
        }),
    ];
    let mut p99s = Vec::new();
    for (name, filter) in &queries {
        let mut times = Vec::new();
        let mut rows = 0;
        for i in 0..2_000 {
            let d = ids[(i * 7919) % ids.len()];
            let f = filter(d);
            let t = Instant::now();
            rows += store
                .savepoint_list(DEFAULT_NAMESPACE, &f)
                .await
                .unwrap()
                .len();
            times.push(t.elapsed());
        }
        times.sort();
        let p99 = p(&times, 0.99);
        println!(
            "{name}: p50 {:?}, p99 {:?}, {} rows per call",
            p(&times, 0.5),
            p99,
            rows / times.len()
        );
        p99s.push((name, p99));
    }
    for (name, p99) in p99s {
        assert!(p99 < Duration::from_millis(5), "{name}: p99 {p99:?}");
    }
}
