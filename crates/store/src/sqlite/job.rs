//! Job resources: one per Flink job stateplane started. Rows are never deleted on their own, only with
//! their deployment or namespace; the active ones (not terminal) are found by a partial index so the
//! controller's resume-after-restart scan does not grow with history.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{QueryBuilder, Sqlite};
use stateplane_model::{Job, JobId};

use super::{backend, from_bodies, from_body, not_found, to_body, ts, violation, SqliteStore};
use crate::{JobFilter, JobStore, ResourceKind, Result, StoreError};

const KIND: &str = "job";

/// The list query for a filter: newest first, `LIMIT` in SQL.
fn list_query<'a>(namespace: &'a str, f: &'a JobFilter) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::new("SELECT body FROM jobs WHERE namespace = ");
    q.push_bind(namespace);
    if let Some(d) = f.deployment_id {
        q.push(" AND deployment_id = ").push_bind(d.to_string());
    }
    q.push(" ORDER BY created_at DESC, id DESC");
    if let Some(l) = f.limit {
        q.push(" LIMIT ").push_bind(i64::from(l));
    }
    q
}

// The IN list repeats the partial index's condition word for word, which is what lets SQLite use it.
const ACTIVE: &str =
    "SELECT body FROM jobs WHERE state IN ('STARTING', 'STARTED', 'TERMINATING') ORDER BY created_at, id";

#[async_trait]
impl JobStore for SqliteStore {
    async fn job_create(&self, j: &Job) -> Result<()> {
        let m = &j.metadata;
        sqlx::query(
            "INSERT INTO jobs (id, namespace, deployment_id, state, created_at, resource_version, body)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(m.deployment_id.to_string())
        .bind(j.status.state.as_str())
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(j)?)
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists { kind: KIND, name: m.id.to_string() },
            Some(_) => not_found("deployment", m.deployment_id),
            None => backend("job_create", e),
        })?;
        self.notify(ResourceKind::Job, &m.namespace, m.id.to_string(), Some(m.deployment_id));
        Ok(())
    }

    async fn job_get(&self, namespace: &str, id: JobId) -> Result<Job> {
        let body = sqlx::query_scalar::<_, String>("SELECT body FROM jobs WHERE namespace = ? AND id = ?")
            .bind(namespace)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| backend("job_get", e))?
            .ok_or_else(|| not_found(KIND, id))?;
        from_body(KIND, &body)
    }

    async fn job_list(&self, namespace: &str, filter: &JobFilter) -> Result<Vec<Job>> {
        let bodies = list_query(namespace, filter)
            .build_query_scalar::<String>()
            .fetch_all(&self.reader)
            .await
            .map_err(|e| backend("job_list", e))?;
        from_bodies(KIND, bodies)
    }

    async fn job_update(&self, j: &Job) -> Result<Job> {
        let expected = j.metadata.resource_version;
        let mut stored = j.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let done = sqlx::query(
            "UPDATE jobs SET deployment_id = ?, state = ?, created_at = ?, resource_version = resource_version + 1, body = ?
             WHERE namespace = ? AND id = ? AND resource_version = ?",
        )
        .bind(m.deployment_id.to_string())
        .bind(stored.status.state.as_str())
        .bind(ts(&m.created_at))
        .bind(to_body(&stored)?)
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(expected)
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::ForeignKeyViolation) => not_found("deployment", m.deployment_id),
            _ => backend("job_update", e),
        })?;
        if done.rows_affected() == 0 {
            return Err(self.cas_failure("jobs", KIND, &m.namespace, m.id.to_string(), expected).await);
        }
        self.notify(ResourceKind::Job, &m.namespace, m.id.to_string(), Some(m.deployment_id));
        Ok(stored)
    }

    async fn jobs_active(&self) -> Result<Vec<Job>> {
        let bodies = sqlx::query_scalar::<_, String>(ACTIVE)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| backend("jobs_active", e))?;
        from_bodies(KIND, bodies)
    }
}

#[cfg(test)]
mod tests {
    use stateplane_model::DeploymentId;

    use super::*;
    use crate::sqlite::tests::{plan, temp_store};

    #[tokio::test]
    async fn hot_reads_use_their_index() {
        let (store, _dir) = temp_store().await;
        let f = JobFilter { deployment_id: Some(DeploymentId::new()), limit: Some(5) };
        let p = plan(&store, list_query("default", &f).sql()).await;
        assert!(p.contains("jobs_by_deployment") && !p.contains("TEMP B-TREE"), "{p}");
        let f = JobFilter { deployment_id: None, limit: Some(5) };
        let p = plan(&store, list_query("default", &f).sql()).await;
        assert!(p.contains("jobs_by_namespace") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan(&store, ACTIVE).await;
        assert!(p.contains("jobs_active"), "{p}");
    }
}
