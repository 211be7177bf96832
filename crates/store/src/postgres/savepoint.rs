//! Savepoint resources (never the snapshot data itself).
//!
//! The hot reads are served by the same indexes as on SQLite, in the order they return rows, so a
//! `LIMIT` stops the scan early: a deployment's savepoints newest first by `(namespace, deployment_id,
//! created_at DESC, id DESC)`, the in-flight ones by a partial index that holds only those, and "who
//! else points to this snapshot?" by `location_key`, the normalised location
//! ([`stateplane_model::normalize_location`]) written next to every body.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{Postgres, QueryBuilder};
use stateplane_model::{Savepoint, SavepointId};

use super::{
    announced, backend, fetch_list, from_body, list_query, not_found, notify_in, parse_id, to_body,
    ts, violation, PostgresStore,
};
use crate::{ResourceKind, Result, SavepointFilter, SavepointStore, StoreError};

const KIND: &str = "savepoint";

/// Newest first; the index `savepoints_by_deployment` / `savepoints_by_namespace` delivers this order.
const ORDER: &str = "created_at DESC, id DESC";

/// The `WHERE … ORDER BY … LIMIT` of a list: the `LIMIT` in SQL stops the index scan early.
fn push_filter<'a>(q: &mut QueryBuilder<'a, Postgres>, namespace: &'a str, f: &'a SavepointFilter) {
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

// The IN list repeats the partial index's condition word for word, so the planner can use it.
const IN_FLIGHT: &str = " WHERE state IN ('STARTED', 'PENDING_DELETION', 'DELETING')";

#[async_trait]
impl SavepointStore for PostgresStore {
    async fn savepoint_create(&self, s: &Savepoint) -> Result<()> {
        let m = &s.metadata;
        let change = self.change(
            ResourceKind::Savepoint,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        sqlx::query(&announced(
            "INSERT INTO savepoints
               (id, namespace, deployment_id, job_id, state, origin, location_key, created_at, resource_version, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            10,
        ))
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
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.id.to_string(),
            },
            Some(_) => not_found("deployment", m.deployment_id),
            None => backend("savepoint_create", e),
        })?;
        self.announce(change);
        Ok(())
    }

    async fn savepoint_get(&self, namespace: &str, id: SavepointId) -> Result<Savepoint> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM savepoints WHERE namespace = $1 AND id = $2",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
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
        fetch_list(q, &self.pool, KIND, "savepoint_list").await
    }

    async fn savepoint_update(&self, s: &Savepoint) -> Result<Savepoint> {
        let expected = s.metadata.resource_version;
        let mut stored = s.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let change = self.change(
            ResourceKind::Savepoint,
            &m.namespace,
            m.id.to_string(),
            Some(m.deployment_id),
        );
        let written = sqlx::query(&announced(
            "UPDATE savepoints
             SET deployment_id = $1, job_id = $2, state = $3, origin = $4, location_key = $5, created_at = $6,
                 resource_version = resource_version + 1, body = $7
             WHERE namespace = $8 AND id = $9 AND resource_version = $10",
            10,
        ))
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
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::ForeignKeyViolation) => not_found("deployment", m.deployment_id),
            _ => backend("savepoint_update", e),
        })?;
        if written.is_empty() {
            return Err(self
                .cas_failure("savepoints", KIND, &m.namespace, m.id.to_string(), expected)
                .await);
        }
        self.announce(change);
        Ok(stored)
    }

    async fn savepoint_delete(&self, namespace: &str, id: SavepointId) -> Result<()> {
        const OP: &str = "savepoint_delete";
        let err = |e| backend(OP, e);
        // The change names the deployment, which only the deleted row knows.
        let mut tx = self.pool.begin().await.map_err(err)?;
        let deployment = sqlx::query_scalar::<_, String>(
            "DELETE FROM savepoints WHERE namespace = $1 AND id = $2 RETURNING deployment_id",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?
        .ok_or_else(|| not_found(KIND, id))?;
        let deployment_id = parse_id("deployment", &deployment)?;
        let change = self.change(
            ResourceKind::Savepoint,
            namespace,
            id.to_string(),
            Some(deployment_id),
        );
        notify_in(&mut tx, self.payload(&change))
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.announce(change);
        Ok(())
    }

    async fn savepoints_in_flight(&self) -> Result<Vec<Savepoint>> {
        let mut q = list_query("savepoints", "created_at, id", "created_at, id");
        q.push(IN_FLIGHT);
        fetch_list(q, &self.pool, KIND, "savepoints_in_flight").await
    }

    async fn savepoint_count_by_location(&self, location_key: &str) -> Result<u64> {
        let n =
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM savepoints WHERE location_key = $1")
                .bind(location_key)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| backend("savepoint_count_by_location", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
