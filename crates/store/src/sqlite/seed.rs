//! Bulk seeding of a SQLite store file for scale tests and benchmarks.
//!
//! The store's own write path fsyncs every commit, which is right for real writes and far too slow
//! for a million rows of set-up. This writes rows with the store's own inserts, in one
//! unsynchronised transaction, into a file whose schema the store created (open it with
//! [`super::SqliteStore::open`] first, close it, then seed). Not for production data.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use stateplane_model::{
    Deployment, DeploymentId, DeploymentSpec, Job, Savepoint, SavepointOrigin, SavepointState,
    SPEC_VERSION_ANNOTATION,
};

use crate::sql::{deployment, job, savepoint};
use crate::{Result, StoreError};

fn backend(e: impl std::fmt::Display) -> StoreError {
    crate::sql::backend("seed", e)
}

/// Writes `deployments` deployments (named `d0`, `d1`, …, all with `spec`) into `namespace` and
/// `savepoints` COMPLETED, annotated savepoints spread round-robin over them (every 50th FAILED), each a
/// second newer than the last. When `running_jobs` is set, each deployment also gets a STARTED job and
/// status RUNNING. Returns the deployments in creation order.
pub async fn seed(
    file: &Path,
    namespace: &str,
    spec: &DeploymentSpec,
    deployments: usize,
    savepoints: usize,
    running_jobs: bool,
) -> Result<Vec<Deployment>> {
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .synchronous(SqliteSynchronous::Off)
        .connect()
        .await
        .map_err(backend)?;
    let mut tx = conn.begin().await.map_err(backend)?;
    let mut all = Vec::with_capacity(deployments);
    for i in 0..deployments {
        let mut d = Deployment::new(namespace, &format!("d{i}"), spec.clone());
        if running_jobs {
            let job_spec = stateplane_model::JobSpec {
                artifact: spec.template.spec.artifact.clone(),
                flink_configuration: spec.template.spec.flink_configuration.clone(),
                parallelism: spec.template.spec.parallelism,
                savepoint_location: None,
                savepoint_id: None,
                allow_non_restored_state: false,
                deployment_target_name: spec.deployment_target_name.clone(),
            };
            let mut j = Job::new(namespace, d.metadata.id, &d.metadata.name, job_spec);
            j.status.state = stateplane_model::JobState::Started;
            j.metadata
                .annotations
                .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
            d.status.state = stateplane_model::DeploymentState::Running;
            d.status.running = Some(stateplane_model::DeploymentStatusRunning {
                job_id: j.metadata.id,
                transition_time: stateplane_model::now(),
                conditions: vec![],
            });
            deployment::insert(&d)?
                .run(&mut tx)
                .await
                .map_err(backend)?;
            job::insert(&j)?.run(&mut tx).await.map_err(backend)?;
        } else {
            deployment::insert(&d)?
                .run(&mut tx)
                .await
                .map_err(backend)?;
        }
        all.push(d);
    }
    let base = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    for i in 0..savepoints {
        let d: DeploymentId = all[i % all.len().max(1)].metadata.id;
        let state = if i % 50 == 0 {
            SavepointState::Failed
        } else {
            SavepointState::Completed
        };
        let loc = format!("file:///data/savepoints/{d}/savepoint-{i:08}");
        let mut s = Savepoint::new(namespace, d, SavepointOrigin::UserRequest, state, Some(loc));
        s.metadata.created_at = base + chrono::Duration::seconds(i as i64);
        s.metadata
            .annotations
            .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
        savepoint::insert(&s)?.run(&mut tx).await.map_err(backend)?;
    }
    tx.commit().await.map_err(backend)?;
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .map_err(backend)?;
    conn.close().await.map_err(backend)?;
    Ok(all)
}
