//! Job resources: one per Flink job stateplane started. Rows are never deleted on their own, only with
//! their deployment or namespace; the active ones (not terminal) are found by a partial index so the
//! controller's resume-after-restart scan does not grow with history.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{Postgres, QueryBuilder};
use stateplane_model::{Job, JobId};

use super::{
    announced, backend, fetch_list, from_body, list_query, not_found, to_body, ts, violation,
    PostgresStore,
};
use crate::{JobFilter, JobStore, ResourceKind, Result, StoreError};

const KIND: &str = "job";

/// Newest first; the index `jobs_by_deployment` / `jobs_by_namespace` delivers this order.
const ORDER: &str = "created_at DESC, id DESC";

/// The `WHERE … ORDER BY … LIMIT` of a list: the `LIMIT` in SQL stops the index scan early.
fn push_filter<'a>(q: &mut QueryBuilder<'a, Postgres>, namespace: &'a str, f: &'a JobFilter) {
    q.push(" WHERE namespace = ").push_bind(namespace);
    if let Some(d) = f.deployment_id {
        q.push(" AND deployment_id = ").push_bind(d.to_string());
    }
    q.push(" ORDER BY ").push(ORDER);
    if let Some(l) = f.limit {
        q.push(" LIMIT ").push_bind(i64::from(l));
    }
}

// The IN list repeats the partial index's condition word for word, so the planner can use it.
const ACTIVE: &str = " WHERE state IN ('STARTING', 'STARTED', 'TERMINATING')";

#[async_trait]
impl JobStore for PostgresStore {
    async fn job_create(&self, j: &Job) -> Result<()> {
        let m = &j.metadata;
        let change = self.change(
            ResourceKind::Job,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        sqlx::query(&announced(
            "INSERT INTO jobs (id, namespace, deployment_id, state, created_at, resource_version, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            7,
        ))
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(m.deployment_id.to_string())
        .bind(j.status.state.as_str())
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(j)?)
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.id.to_string(),
            },
            Some(_) => not_found("deployment", m.deployment_id),
            None => backend("job_create", e),
        })?;
        self.announce(change);
        Ok(())
    }

    async fn job_get(&self, namespace: &str, id: JobId) -> Result<Job> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM jobs WHERE namespace = $1 AND id = $2",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("job_get", e))?
        .ok_or_else(|| not_found(KIND, id))?;
        from_body(KIND, &body)
    }

    async fn job_list(&self, namespace: &str, filter: &JobFilter) -> Result<Vec<Job>> {
        let mut q = list_query("jobs", "created_at, id", ORDER);
        push_filter(&mut q, namespace, filter);
        fetch_list(q, &self.pool, KIND, "job_list").await
    }

    async fn job_update(&self, j: &Job) -> Result<Job> {
        let expected = j.metadata.resource_version;
        let mut stored = j.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let change = self.change(
            ResourceKind::Job,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        let written = sqlx::query(&announced(
            "UPDATE jobs SET deployment_id = $1, state = $2, created_at = $3,
                 resource_version = resource_version + 1, body = $4
             WHERE namespace = $5 AND id = $6 AND resource_version = $7",
            7,
        ))
        .bind(m.deployment_id.to_string())
        .bind(stored.status.state.as_str())
        .bind(ts(&m.created_at))
        .bind(to_body(&stored)?)
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(expected)
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::ForeignKeyViolation) => not_found("deployment", m.deployment_id),
            _ => backend("job_update", e),
        })?;
        if written.is_empty() {
            return Err(self
                .cas_failure("jobs", KIND, &m.namespace, m.id.to_string(), expected)
                .await);
        }
        self.announce(change);
        Ok(stored)
    }

    async fn jobs_active(&self) -> Result<Vec<Job>> {
        let mut q = list_query("jobs", "created_at, id", "created_at, id");
        q.push(ACTIVE);
        fetch_list(q, &self.pool, KIND, "jobs_active").await
    }
}
