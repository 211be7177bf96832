//! Savepoint resources (never the snapshot data itself).
//!
//! The hot reads are served by indexes in the order they return rows, so a `LIMIT` stops the scan
//! early: a deployment's savepoints newest first (the list endpoint and restore selection) by
//! `(namespace, deployment_id, created_at DESC, id DESC)`, the in-flight ones by a partial index that
//! holds only those, and "who else points to this snapshot?" by `location_key`, the normalised location
//! ([`stateplane_model::normalize_location`]) written next to every body.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{QueryBuilder, Sqlite};
use stateplane_model::{Savepoint, SavepointId};

use super::{
    backend, fetch_list, from_body, list_query, not_found, to_body, ts, violation, SqliteStore,
};
use crate::{ResourceKind, Result, SavepointFilter, SavepointStore, StoreError};

const KIND: &str = "savepoint";

/// Newest first; the index `savepoints_by_deployment` / `savepoints_by_namespace` delivers this order.
const ORDER: &str = "created_at DESC, id DESC";

/// The `WHERE … ORDER BY … LIMIT` of a list: the `LIMIT` in SQL stops the index scan early.
fn push_filter<'a>(q: &mut QueryBuilder<'a, Sqlite>, namespace: &'a str, f: &'a SavepointFilter) {
    q.push(" WHERE namespace = ").push_bind(namespace);
    if let Some(d) = f.deployment_id {
        q.push(" AND deployment_id = ").push_bind(d.to_string());
    }
    if let Some(j) = f.job_id {
        q.push(" AND job_id = ").push_bind(j.to_string());
    }
    if !f.states.is_empty() {
        q.push(" AND state IN (");
        let mut states = q.separated(", ");
        for s in &f.states {
            states.push_bind(s.as_str());
        }
        q.push(")");
    }
    q.push(" ORDER BY ").push(ORDER);
    if let Some(l) = f.limit {
        q.push(" LIMIT ").push_bind(i64::from(l));
    }
}

// The IN list repeats the partial index's condition word for word, which is what lets SQLite use it.
const IN_FLIGHT: &str = " WHERE state IN ('STARTED', 'PENDING_DELETION', 'DELETING')";

const COUNT_BY_LOCATION: &str = "SELECT COUNT(*) FROM savepoints WHERE location_key = ?";

#[async_trait]
impl SavepointStore for SqliteStore {
    async fn savepoint_create(&self, s: &Savepoint) -> Result<()> {
        let m = &s.metadata;
        sqlx::query(
            "INSERT INTO savepoints
               (id, namespace, deployment_id, job_id, state, origin, location_key, created_at, resource_version, body)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(m.deployment_id.to_string())
        .bind(m.job_id.map(|j| j.to_string()))
        .bind(s.status.state.as_str())
        .bind(m.origin.as_str())
        .bind(s.location_key())
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(s)?)
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists { kind: KIND, name: m.id.to_string() },
            Some(_) => not_found("deployment", m.deployment_id),
            None => backend("savepoint_create", e),
        })?;
        self.notify(
            ResourceKind::Savepoint,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        Ok(())
    }

    async fn savepoint_get(&self, namespace: &str, id: SavepointId) -> Result<Savepoint> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM savepoints WHERE namespace = ? AND id = ?",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| backend("savepoint_get", e))?
        .ok_or_else(|| not_found(KIND, id))?;
        from_body(KIND, &body)
    }

    async fn savepoint_list(
        &self,
        namespace: &str,
        filter: &SavepointFilter,
    ) -> Result<Vec<Savepoint>> {
        let mut q = list_query("savepoints", "created_at, id", ORDER);
        push_filter(&mut q, namespace, filter);
        fetch_list(q, &self.reader, KIND, "savepoint_list").await
    }

    async fn savepoint_update(&self, s: &Savepoint) -> Result<Savepoint> {
        let expected = s.metadata.resource_version;
        let mut stored = s.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let done = sqlx::query(
            "UPDATE savepoints
             SET deployment_id = ?, job_id = ?, state = ?, origin = ?, location_key = ?, created_at = ?,
                 resource_version = resource_version + 1, body = ?
             WHERE namespace = ? AND id = ? AND resource_version = ?",
        )
        .bind(m.deployment_id.to_string())
        .bind(m.job_id.map(|j| j.to_string()))
        .bind(stored.status.state.as_str())
        .bind(m.origin.as_str())
        .bind(stored.location_key())
        .bind(ts(&m.created_at))
        .bind(to_body(&stored)?)
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(expected)
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::ForeignKeyViolation) => not_found("deployment", m.deployment_id),
            _ => backend("savepoint_update", e),
        })?;
        if done.rows_affected() == 0 {
            return Err(self
                .cas_failure("savepoints", KIND, &m.namespace, m.id.to_string(), expected)
                .await);
        }
        self.notify(
            ResourceKind::Savepoint,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        Ok(stored)
    }

    async fn savepoint_delete(&self, namespace: &str, id: SavepointId) -> Result<()> {
        let deployment = sqlx::query_scalar::<_, String>(
            "DELETE FROM savepoints WHERE namespace = ? AND id = ? RETURNING deployment_id",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(|e| backend("savepoint_delete", e))?
        .ok_or_else(|| not_found(KIND, id))?;
        let deployment_id = super::parse_id("deployment", &deployment)?;
        self.notify(
            ResourceKind::Savepoint,
            namespace,
            id.to_string(),
            Some(deployment_id),
        );
        Ok(())
    }

    async fn savepoints_in_flight(&self) -> Result<Vec<Savepoint>> {
        let mut q = list_query("savepoints", "created_at, id", "created_at, id");
        q.push(IN_FLIGHT);
        fetch_list(q, &self.reader, KIND, "savepoints_in_flight").await
    }

    async fn savepoint_count_by_location(&self, location_key: &str) -> Result<u64> {
        let n = sqlx::query_scalar::<_, i64>(COUNT_BY_LOCATION)
            .bind(location_key)
            .fetch_one(&self.reader)
            .await
            .map_err(|e| backend("savepoint_count_by_location", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    //! The query plans of the hot reads: each must use its index and never sort a whole deployment's (or
    //! namespace's) savepoints in a temporary B-tree, or the latency of a list grows with their number.
    //! (The aggregate sorts the page it is given again; that is bounded by the `LIMIT`.)

    use stateplane_model::{DeploymentId, JobId, SavepointState};

    use super::*;
    use crate::sqlite::tests::{plan, temp_store};

    fn list_sql(f: &SavepointFilter) -> String {
        let mut q = list_query("savepoints", "created_at, id", ORDER);
        push_filter(&mut q, "default", f);
        q.push(") AS page");
        q.into_sql()
    }

    #[tokio::test]
    async fn hot_reads_use_their_index() {
        let (store, _dir) = temp_store().await;
        let by_deployment = SavepointFilter {
            deployment_id: Some(DeploymentId::new()),
            states: vec![SavepointState::Completed],
            limit: Some(10),
            ..Default::default()
        };
        let p = plan(&store, &list_sql(&by_deployment)).await;
        assert!(
            p.contains("savepoints_by_deployment") && !p.contains("TEMP B-TREE FOR ORDER BY"),
            "{p}"
        );

        let by_namespace = SavepointFilter {
            limit: Some(10),
            ..Default::default()
        };
        let p = plan(&store, &list_sql(&by_namespace)).await;
        assert!(
            p.contains("savepoints_by_namespace") && !p.contains("TEMP B-TREE FOR ORDER BY"),
            "{p}"
        );

        let by_job = SavepointFilter {
            job_id: Some(JobId::new()),
            ..Default::default()
        };
        let p = plan(&store, &list_sql(&by_job)).await;
        assert!(p.contains("INDEX"), "{p}");

        let mut q = list_query("savepoints", "created_at, id", "created_at, id");
        q.push(IN_FLIGHT).push(") AS page");
        let p = plan(&store, q.sql()).await;
        assert!(p.contains("savepoints_in_flight"), "{p}");

        let p = plan(&store, COUNT_BY_LOCATION).await;
        assert!(p.contains("savepoints_by_location"), "{p}");
    }
}
