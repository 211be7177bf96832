//! Savepoint resources (never the snapshot data itself).
//!
//! The hot reads are served by indexes in the order they return rows, so a `LIMIT` stops the scan
//! early: a deployment's savepoints newest first (the list endpoint and restore selection) by
//! `(namespace, deployment_id, created_at DESC, id DESC)`, the in-flight ones by a partial index that
//! holds only those, and "who else points to this snapshot?" by `location_key`, the normalised location
//! ([`stateplane_model::normalize_location`]) written next to every body.
//!
//! [`SavepointStore::savepoint_create_ordered`] gives a new savepoint its creation time inside the
//! write transaction, after every savepoint its deployment has, with such creates of one deployment
//! serialised (the single writer on SQLite, a transaction-scoped advisory lock on PostgreSQL): whoever
//! reads a deployment's savepoints never sees one without every older one.

use async_trait::async_trait;
use chrono::TimeDelta;
use sqlx::error::ErrorKind;
use stateplane_model::{Savepoint, SavepointId};

use super::{
    backend, body_by, change, commit, fetch_list, list_query, not_found, parse_id, parse_ts,
    to_body, ts, update_versioned, violation, write_one, Backend, Stmt, Versioned,
};
use crate::{Change, ResourceKind, Result, SavepointFilter, SavepointStore, StoreError};

const KIND: &str = "savepoint";

/// Newest first; the index `savepoints_by_deployment` / `savepoints_by_namespace` delivers this order.
const ORDER: &str = "created_at DESC, id DESC";

/// A list: the `LIMIT` in SQL stops the index scan early.
pub(crate) fn list(namespace: &str, f: &SavepointFilter) -> Stmt {
    let mut q = list_query("savepoints", "created_at, id", ORDER);
    q.push(" WHERE namespace = ").push_bind(namespace);
    if let Some(d) = f.deployment_id {
        q.push(" AND deployment_id = ").push_bind(d.to_string());
    }
    if let Some(j) = f.job_id {
        q.push(" AND job_id = ").push_bind(j.to_string());
    }
    if !f.states.is_empty() {
        q.push(" AND state IN (");
        for (i, s) in f.states.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_bind(s.as_str());
        }
        q.push(")");
    }
    q.push(" ORDER BY ").push(ORDER);
    if let Some(l) = f.limit {
        q.push(" LIMIT ").push_bind(i64::from(l));
    }
    q
}

/// Every namespace's savepoints in flight, oldest first. The IN list repeats the partial index's
/// condition word for word, which is what lets the planners use it.
pub(crate) fn in_flight() -> Stmt {
    let mut q = list_query("savepoints", "created_at, id", "created_at, id");
    q.push(" WHERE state IN ('STARTED', 'PENDING_DELETION', 'DELETING')");
    q
}

pub(crate) const COUNT_BY_LOCATION: &str =
    "SELECT COUNT(*) FROM savepoints WHERE location_key = $1";

/// The creation time of a deployment's newest savepoint, by `savepoints_by_deployment`.
pub(crate) const NEWEST_OF_DEPLOYMENT: &str = "SELECT created_at FROM savepoints
     WHERE namespace = $1 AND deployment_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1";

/// The insert of a new savepoint (also used by the SQLite seeder).
pub(crate) fn insert(s: &Savepoint) -> Result<Stmt> {
    let m = &s.metadata;
    Ok(Stmt::new(
        "INSERT INTO savepoints
           (id, namespace, deployment_id, job_id, state, origin, location_key, created_at, resource_version, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    .bind(to_body(s)?))
}

fn changed(s: &Savepoint) -> Change {
    let m = &s.metadata;
    change(
        ResourceKind::Savepoint,
        &m.namespace,
        m.id.to_string(),
        Some(m.deployment_id),
    )
}

/// What a failed insert means.
fn insert_failed(s: &Savepoint, op: &str, e: sqlx::Error) -> StoreError {
    let m = &s.metadata;
    match violation(&e) {
        Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
            kind: KIND,
            name: m.id.to_string(),
        },
        Some(_) => not_found("deployment", m.deployment_id),
        None => backend(op, e),
    }
}

#[async_trait]
impl<B: Backend> SavepointStore for B {
    async fn savepoint_create(&self, s: &Savepoint) -> Result<()> {
        write_one(self, insert(s)?, changed(s))
            .await
            .map_err(|e| insert_failed(s, "savepoint_create", e))?;
        Ok(())
    }

    async fn savepoint_create_ordered(&self, s: &Savepoint) -> Result<Savepoint> {
        const OP: &str = "savepoint_create_ordered";
        let err = |e| backend(OP, e);
        let m = &s.metadata;
        let mut tx = self.begin_write().await.map_err(err)?;
        self.serialise_savepoints_of(&mut tx, m.deployment_id)
            .await
            .map_err(err)?;
        let newest: Option<String> = Stmt::new(NEWEST_OF_DEPLOYMENT)
            .bind(&m.namespace)
            .bind(m.deployment_id.to_string())
            .fetch_optional(&mut tx)
            .await
            .map_err(err)?;
        let now = stateplane_model::now();
        let created_at = match newest {
            // Stored times have microseconds: one more is the least that is strictly later.
            Some(t) => now.max(parse_ts(&t)? + TimeDelta::microseconds(1)),
            None => now,
        };
        let mut stored = s.clone();
        stored.metadata.created_at = created_at;
        stored.metadata.modified_at = created_at;
        insert(&stored)?
            .run(&mut tx)
            .await
            .map_err(|e| insert_failed(&stored, OP, e))?;
        commit(self, tx, vec![changed(&stored)])
            .await
            .map_err(err)?;
        Ok(stored)
    }

    async fn savepoint_get(&self, namespace: &str, id: SavepointId) -> Result<Savepoint> {
        let q = Stmt::new("SELECT body FROM savepoints WHERE namespace = $1 AND id = $2")
            .bind(namespace)
            .bind(id.to_string());
        body_by(self, q, KIND, id, "savepoint_get").await
    }

    async fn savepoint_list(
        &self,
        namespace: &str,
        filter: &SavepointFilter,
    ) -> Result<Vec<Savepoint>> {
        fetch_list(self, list(namespace, filter), KIND, "savepoint_list").await
    }

    async fn savepoint_update(&self, s: &Savepoint) -> Result<Savepoint> {
        let expected = s.metadata.resource_version;
        let mut stored = s.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let update = Stmt::new(
            "UPDATE savepoints
             SET deployment_id = $1, job_id = $2, state = $3, origin = $4, location_key = $5, created_at = $6,
                 resource_version = resource_version + 1, body = $7
             WHERE namespace = $8 AND id = $9 AND resource_version = $10",
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
        .bind(expected);
        let row = Versioned {
            table: "savepoints",
            kind: KIND,
            namespace: &m.namespace,
            id: m.id.to_string(),
            expected,
        };
        update_versioned(
            self,
            update,
            changed(&stored),
            row,
            "savepoint_update",
            |k| {
                (k == ErrorKind::ForeignKeyViolation)
                    .then(|| not_found("deployment", m.deployment_id))
            },
        )
        .await?;
        Ok(stored)
    }

    async fn savepoint_delete(&self, namespace: &str, id: SavepointId) -> Result<()> {
        const OP: &str = "savepoint_delete";
        let err = |e| backend(OP, e);
        // The change names the deployment, which only the deleted row knows.
        let mut tx = self.begin_write().await.map_err(err)?;
        let deployment: String = Stmt::new(
            "DELETE FROM savepoints WHERE namespace = $1 AND id = $2 RETURNING deployment_id",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&mut tx)
        .await
        .map_err(err)?
        .ok_or_else(|| not_found(KIND, id))?;
        let deployment_id = parse_id("deployment", &deployment)?;
        let change = change(
            ResourceKind::Savepoint,
            namespace,
            id.to_string(),
            Some(deployment_id),
        );
        commit(self, tx, vec![change]).await.map_err(err)
    }

    async fn savepoints_in_flight(&self) -> Result<Vec<Savepoint>> {
        fetch_list(self, in_flight(), KIND, "savepoints_in_flight").await
    }

    async fn savepoint_count_by_location(&self, location_key: &str) -> Result<u64> {
        let n: i64 = Stmt::new(COUNT_BY_LOCATION)
            .bind(location_key)
            .fetch_one(self.reader())
            .await
            .map_err(|e| backend("savepoint_count_by_location", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
