//! Job resources: one per Flink job stateplane started. Rows are never deleted on their own, only with
//! their deployment or namespace; the active ones (not terminal) are found by a partial index so the
//! controller's resume-after-restart scan does not grow with history.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{QueryBuilder, Sqlite};
use stateplane_model::{Job, JobId};

use super::{
    backend, fetch_list, from_body, list_query, not_found, to_body, ts, violation, SqliteStore,
};
use crate::{JobFilter, JobStore, ResourceKind, Result, StoreError};

const KIND: &str = "job";

/// Newest first; the index `jobs_by_deployment` / `jobs_by_namespace` delivers this order.
const ORDER: &str = "created_at DESC, id DESC";

/// The `WHERE … ORDER BY … LIMIT` of a list: the `LIMIT` in SQL stops the index scan early.
fn push_filter<'a>(q: &mut QueryBuilder<'a, Sqlite>, namespace: &'a str, f: &'a JobFilter) {
    q.push(" WHERE namespace = ").push_bind(namespace);
    if let Some(d) = f.deployment_id {
        q.push(" AND deployment_id = ").push_bind(d.to_string());
    }
    q.push(" ORDER BY ").push(ORDER);
    if let Some(l) = f.limit {
        q.push(" LIMIT ").push_bind(i64::from(l));
    }
}

// The IN list repeats the partial index's condition word for word, which is what lets SQLite use it.
const ACTIVE: &str = " WHERE state IN ('STARTING', 'STARTED', 'TERMINATING')";

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
        self.notify(
            ResourceKind::Job,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        Ok(())
    }

    async fn job_get(&self, namespace: &str, id: JobId) -> Result<Job> {
        let body =
            sqlx::query_scalar::<_, String>("SELECT body FROM jobs WHERE namespace = ? AND id = ?")
                .bind(namespace)
                .bind(id.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| backend("job_get", e))?
                .ok_or_else(|| not_found(KIND, id))?;
        from_body(KIND, &body)
    }

    async fn job_list(&self, namespace: &str, filter: &JobFilter) -> Result<Vec<Job>> {
        let mut q = list_query("jobs", "created_at, id", ORDER);
        push_filter(&mut q, namespace, filter);
        fetch_list(q, &self.reader, KIND, "job_list").await
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
            return Err(self
                .cas_failure("jobs", KIND, &m.namespace, m.id.to_string(), expected)
                .await);
        }
        self.notify(
            ResourceKind::Job,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        Ok(stored)
    }

    async fn jobs_active(&self) -> Result<Vec<Job>> {
        let mut q = list_query("jobs", "created_at, id", "created_at, id");
        q.push(ACTIVE);
        fetch_list(q, &self.reader, KIND, "jobs_active").await
    }
}

#[cfg(test)]
mod tests {
    use stateplane_model::DeploymentId;

    use super::*;
    use crate::sqlite::tests::{plan, temp_store};

    fn list_sql(f: &JobFilter) -> String {
        let mut q = list_query("jobs", "created_at, id", ORDER);
        push_filter(&mut q, "default", f);
        q.push(") AS page");
        q.into_sql()
    }

    #[tokio::test]
    async fn hot_reads_use_their_index() {
        let (store, _dir) = temp_store().await;
        let f = JobFilter {
            deployment_id: Some(DeploymentId::new()),
            limit: Some(5),
        };
        let p = plan(&store, &list_sql(&f)).await;
        assert!(
            p.contains("jobs_by_deployment") && !p.contains("TEMP B-TREE FOR ORDER BY"),
            "{p}"
        );
        let f = JobFilter {
            deployment_id: None,
            limit: Some(5),
        };
        let p = plan(&store, &list_sql(&f)).await;
        assert!(
            p.contains("jobs_by_namespace") && !p.contains("TEMP B-TREE FOR ORDER BY"),
            "{p}"
        );
        let mut q = list_query("jobs", "created_at, id", "created_at, id");
        q.push(ACTIVE).push(") AS page");
        let p = plan(&store, q.sql()).await;
        assert!(p.contains("jobs_active"), "{p}");
    }
}
