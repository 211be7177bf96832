//! Job resources: one per Flink job stateplane started. Rows are never deleted on their own, only with
//! their deployment or namespace; the active ones (not terminal) are found by a partial index so the
//! controller's resume-after-restart scan does not grow with history.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use stateplane_model::{Job, JobId};

use super::{
    backend, body_by, change, fetch_list, list_query, not_found, to_body, ts, update_versioned,
    violation, write_one, Backend, Stmt, Versioned,
};
use crate::{Change, JobFilter, JobStore, ResourceKind, Result, StoreError};

const KIND: &str = "job";

/// Newest first; the index `jobs_by_deployment` / `jobs_by_namespace` delivers this order.
const ORDER: &str = "created_at DESC, id DESC";

/// A list: the `LIMIT` in SQL stops the index scan early.
pub(crate) fn list(namespace: &str, f: &JobFilter) -> Stmt {
    let mut q = list_query("jobs", "created_at, id", ORDER);
    q.push(" WHERE namespace = ").push_bind(namespace);
    if let Some(d) = f.deployment_id {
        q.push(" AND deployment_id = ").push_bind(d.to_string());
    }
    q.push(" ORDER BY ").push(ORDER);
    if let Some(l) = f.limit {
        q.push(" LIMIT ").push_bind(i64::from(l));
    }
    q
}

/// Every namespace's active jobs, oldest first. The IN list repeats the partial index's condition
/// word for word, which is what lets the planners use it.
pub(crate) fn active() -> Stmt {
    let mut q = list_query("jobs", "created_at, id", "created_at, id");
    q.push(" WHERE state IN ('STARTING', 'STARTED', 'TERMINATING')");
    q
}

/// The insert of a new job (also used by the SQLite seeder).
pub(crate) fn insert(j: &Job) -> Result<Stmt> {
    let m = &j.metadata;
    Ok(Stmt::new(
        "INSERT INTO jobs (id, namespace, deployment_id, state, created_at, resource_version, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(m.id.to_string())
    .bind(&m.namespace)
    .bind(m.deployment_id.to_string())
    .bind(j.status.state.as_str())
    .bind(ts(&m.created_at))
    .bind(m.resource_version)
    .bind(to_body(j)?))
}

fn changed(j: &Job) -> Change {
    let m = &j.metadata;
    change(
        ResourceKind::Job,
        &m.namespace,
        m.id.to_string(),
        Some(m.deployment_id),
    )
}

#[async_trait]
impl<B: Backend> JobStore for B {
    async fn job_create(&self, j: &Job) -> Result<()> {
        let m = &j.metadata;
        write_one(self, insert(j)?, changed(j))
            .await
            .map_err(|e| match violation(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                    kind: KIND,
                    name: m.id.to_string(),
                },
                Some(_) => not_found("deployment", m.deployment_id),
                None => backend("job_create", e),
            })?;
        Ok(())
    }

    async fn job_get(&self, namespace: &str, id: JobId) -> Result<Job> {
        let q = Stmt::new("SELECT body FROM jobs WHERE namespace = $1 AND id = $2")
            .bind(namespace)
            .bind(id.to_string());
        body_by(self, q, KIND, id, "job_get").await
    }

    async fn job_list(&self, namespace: &str, filter: &JobFilter) -> Result<Vec<Job>> {
        fetch_list(self, list(namespace, filter), KIND, "job_list").await
    }

    async fn job_update(&self, j: &Job) -> Result<Job> {
        let expected = j.metadata.resource_version;
        let mut stored = j.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let update = Stmt::new(
            "UPDATE jobs SET deployment_id = $1, state = $2, created_at = $3,
                 resource_version = resource_version + 1, body = $4
             WHERE namespace = $5 AND id = $6 AND resource_version = $7",
        )
        .bind(m.deployment_id.to_string())
        .bind(stored.status.state.as_str())
        .bind(ts(&m.created_at))
        .bind(to_body(&stored)?)
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(expected);
        let row = Versioned {
            table: "jobs",
            kind: KIND,
            namespace: &m.namespace,
            id: m.id.to_string(),
            expected,
        };
        update_versioned(self, update, changed(&stored), row, "job_update", |k| {
            (k == ErrorKind::ForeignKeyViolation).then(|| not_found("deployment", m.deployment_id))
        })
        .await?;
        Ok(stored)
    }

    async fn jobs_active(&self) -> Result<Vec<Job>> {
        fetch_list(self, active(), KIND, "jobs_active").await
    }
}
