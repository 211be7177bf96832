//! Deployments. The columns next to the body are what the other rules need without parsing JSON: the
//! name (unique per namespace), desired and observed state (the namespace-delete check, the count by
//! state) and the target name (the target-delete check).
//!
//! On PostgreSQL an update holds `FOR KEY SHARE` on its namespace row until it commits (an insert gets
//! the same from its foreign key), so a namespace delete or a target delete/rename, which lock that row
//! `FOR UPDATE` before checking the namespace's deployments, never misses a deployment written
//! meanwhile.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use stateplane_model::{Deployment, DeploymentId, DeploymentState};

use super::{
    backend, body_by, change, commit, fetch_list, list_query, not_found, to_body, ts,
    update_versioned, violation, write_one, Backend, Stmt, Versioned,
};
use crate::{DeploymentStore, ResourceKind, Result, StoreError};

const KIND: &str = "deployment";

/// The insert of a new deployment (also used by the SQLite seeder).
pub(crate) fn insert(d: &Deployment) -> Result<Stmt> {
    let m = &d.metadata;
    Ok(Stmt::new(
        "INSERT INTO deployments
           (id, namespace, name, desired_state, status_state, target_name, created_at, resource_version, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(m.id.to_string())
    .bind(&m.namespace)
    .bind(&m.name)
    .bind(d.spec.state.as_str())
    .bind(d.status.state.as_str())
    .bind(d.spec.deployment_target_name.as_deref())
    .bind(ts(&m.created_at))
    .bind(m.resource_version)
    .bind(to_body(d)?))
}

/// Counted by the index `deployments_by_status_state`, without reading a body.
pub(crate) const COUNT_BY_STATE: &str =
    "SELECT status_state, COUNT(*) FROM deployments GROUP BY status_state";

/// A stored body holds its conditions as serde writes them, `type` then `status`, without spaces.
pub(crate) const COUNT_WITH_CONDITION: &str =
    "SELECT COUNT(*) FROM deployments WHERE status_state = 'RUNNING' AND body LIKE $1";

fn changed(d: &Deployment) -> crate::Change {
    let m = &d.metadata;
    change(
        ResourceKind::Deployment,
        &m.namespace,
        m.id.to_string(),
        Some(m.id),
    )
}

#[async_trait]
impl<B: Backend> DeploymentStore for B {
    async fn deployment_create(&self, d: &Deployment) -> Result<()> {
        let m = &d.metadata;
        write_one(self, insert(d)?, changed(d))
            .await
            .map_err(|e| match violation(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                    kind: KIND,
                    name: m.name.clone(),
                },
                Some(_) => not_found("namespace", &m.namespace),
                None => backend("deployment_create", e),
            })?;
        Ok(())
    }

    async fn deployment_get(&self, namespace: &str, id: DeploymentId) -> Result<Deployment> {
        let q = Stmt::new("SELECT body FROM deployments WHERE namespace = $1 AND id = $2")
            .bind(namespace)
            .bind(id.to_string());
        body_by(self, q, KIND, id, "deployment_get").await
    }

    async fn deployment_get_by_name(&self, namespace: &str, name: &str) -> Result<Deployment> {
        let q = Stmt::new("SELECT body FROM deployments WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name);
        body_by(self, q, KIND, name, "deployment_get_by_name").await
    }

    async fn deployment_list(&self, namespace: Option<&str>) -> Result<Vec<Deployment>> {
        let mut q = list_query("deployments", "created_at, id", "created_at, id");
        if let Some(ns) = namespace {
            q.push(" WHERE namespace = ").push_bind(ns);
        }
        fetch_list(self, q, KIND, "deployment_list").await
    }

    async fn deployment_count_by_state(&self) -> Result<Vec<(DeploymentState, u64)>> {
        const OP: &str = "deployment_count_by_state";
        let rows: Vec<(String, i64)> = Stmt::new(COUNT_BY_STATE)
            .fetch_all(self.reader())
            .await
            .map_err(|e| backend(OP, e))?;
        let mut counts = rows
            .into_iter()
            .map(|(state, n)| {
                let state = state.parse().map_err(|e| {
                    backend(
                        OP,
                        format!("corrupt deployment status_state '{state}': {e}"),
                    )
                })?;
                Ok((state, u64::try_from(n).unwrap_or(0)))
            })
            .collect::<Result<Vec<_>>>()?;
        counts.sort();
        Ok(counts)
    }

    async fn deployment_count_with_condition(&self, kind: &str) -> Result<u64> {
        // Condition types are CamelCase words: nothing in them is a LIKE wildcard or needs quoting.
        if !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(0);
        }
        let pattern = format!("%\"type\":\"{kind}\",\"status\":\"True\"%");
        let n: i64 = Stmt::new(COUNT_WITH_CONDITION)
            .bind(pattern)
            .fetch_one(self.reader())
            .await
            .map_err(|e| backend("deployment_count_with_condition", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn deployment_update(&self, d: &Deployment) -> Result<Deployment> {
        let expected = d.metadata.resource_version;
        let mut stored = d.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        // The namespace row is locked (shared) before the row is written; see the module docs.
        let update = Stmt::new(format!(
            "WITH ns AS (SELECT name FROM namespaces WHERE name = $6{})
             UPDATE deployments
             SET name = $1, desired_state = $2, status_state = $3, target_name = $4, created_at = $5,
                 resource_version = resource_version + 1, body = $9
             WHERE namespace = (SELECT name FROM ns) AND id = $7 AND resource_version = $8",
            B::FOR_KEY_SHARE
        ))
        .bind(&m.name)
        .bind(stored.spec.state.as_str())
        .bind(stored.status.state.as_str())
        .bind(stored.spec.deployment_target_name.as_deref())
        .bind(ts(&m.created_at))
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(expected)
        .bind(to_body(&stored)?);
        let row = Versioned {
            table: "deployments",
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
            "deployment_update",
            |k| {
                (k == ErrorKind::UniqueViolation).then(|| StoreError::AlreadyExists {
                    kind: KIND,
                    name: m.name.clone(),
                })
            },
        )
        .await?;
        Ok(stored)
    }

    async fn deployment_delete(&self, namespace: &str, id: DeploymentId) -> Result<()> {
        const OP: &str = "deployment_delete";
        let err = |e| backend(OP, e);
        let id_text = id.to_string();
        let mut tx = self.begin_write().await.map_err(err)?;
        // Locked first: a child inserted concurrently waits, then finds its deployment gone.
        let exists: Option<String> = Stmt::new(format!(
            "SELECT id FROM deployments WHERE namespace = $1 AND id = $2{}",
            B::FOR_UPDATE
        ))
        .bind(namespace)
        .bind(&id_text)
        .fetch_optional(&mut tx)
        .await
        .map_err(err)?;
        if exists.is_none() {
            return Err(not_found(KIND, id));
        }
        // Children first: the foreign keys refuse a deployment row that still has any.
        for sql in [
            "DELETE FROM events WHERE namespace = $1 AND deployment_id = $2",
            "DELETE FROM savepoints WHERE namespace = $1 AND deployment_id = $2",
            "DELETE FROM jobs WHERE namespace = $1 AND deployment_id = $2",
            "DELETE FROM deployments WHERE namespace = $1 AND id = $2",
        ] {
            Stmt::new(sql)
                .bind(namespace)
                .bind(&id_text)
                .run(&mut tx)
                .await
                .map_err(err)?;
        }
        let change = change(ResourceKind::Deployment, namespace, id_text, Some(id));
        commit(self, tx, vec![change]).await.map_err(err)
    }
}
