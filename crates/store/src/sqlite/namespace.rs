//! Namespaces and their deployment defaults.
//!
//! Deleting a namespace removes every row that belongs to it in one transaction, after checking in that
//! same transaction that none of its deployments runs or is meant to: the check and the delete cannot be
//! separated by a write that starts one.

use async_trait::async_trait;
use sqlx::Row;
use stateplane_model::{DeploymentDefaults, DeploymentId, Namespace};

use super::{
    backend, fetch_list, from_body, list_query, not_found, parse_id, to_body, ts, violation,
    SqliteStore,
};
use crate::{NamespaceStore, ResourceKind, Result, StoreError};

const KIND: &str = "namespace";
const DEFAULTS: &str = "deployment defaults";

#[async_trait]
impl NamespaceStore for SqliteStore {
    async fn namespace_create(&self, ns: &Namespace) -> Result<()> {
        let name = &ns.metadata.name;
        sqlx::query(
            "INSERT INTO namespaces (name, created_at, resource_version, body) VALUES (?, ?, ?, ?)",
        )
        .bind(name)
        .bind(ts(&ns.metadata.created_at))
        .bind(ns.metadata.resource_version)
        .bind(to_body(ns)?)
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(_) => StoreError::AlreadyExists {
                kind: KIND,
                name: name.clone(),
            },
            None => backend("namespace_create", e),
        })?;
        self.notify(ResourceKind::Namespace, name, name.clone(), None);
        Ok(())
    }

    async fn namespace_get(&self, name: &str) -> Result<Namespace> {
        let body = sqlx::query_scalar::<_, String>("SELECT body FROM namespaces WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| backend("namespace_get", e))?
            .ok_or_else(|| not_found(KIND, name))?;
        from_body(KIND, &body)
    }

    async fn namespace_list(&self) -> Result<Vec<Namespace>> {
        fetch_list(
            list_query("namespaces", "name", "name"),
            &self.reader,
            KIND,
            "namespace_list",
        )
        .await
    }

    async fn namespace_delete(&self, name: &str) -> Result<()> {
        const OP: &str = "namespace_delete";
        let mut tx = self.begin_write(OP).await?;
        let exists = sqlx::query_scalar::<_, i64>("SELECT 1 FROM namespaces WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        if exists.is_none() {
            return Err(not_found(KIND, name));
        }
        let busy = sqlx::query_as::<_, (String, String, String)>(
            "SELECT name, desired_state, status_state FROM deployments
             WHERE namespace = ? AND (desired_state <> 'CANCELLED' OR status_state IN ('RUNNING', 'TRANSITIONING'))
             ORDER BY created_at, id LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| backend(OP, e))?;
        if let Some((dep, desired, status)) = busy {
            return Err(StoreError::Refused(format!(
                "namespace '{name}' still has deployment '{dep}' (desired state {desired}, status {status}); \
                 set every deployment's state to CANCELLED and wait until it is cancelled, then delete the \
                 namespace"
            )));
        }
        let ids = sqlx::query_scalar::<_, String>("SELECT id FROM deployments WHERE namespace = ?")
            .bind(name)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        let ids: Vec<DeploymentId> = ids
            .iter()
            .map(|s| parse_id("deployment", s))
            .collect::<Result<_>>()?;
        for sql in [
            "DELETE FROM events WHERE namespace = ?",
            "DELETE FROM savepoints WHERE namespace = ?",
            "DELETE FROM jobs WHERE namespace = ?",
            "DELETE FROM deployments WHERE namespace = ?",
            "DELETE FROM deployment_targets WHERE namespace = ?",
            "DELETE FROM deployment_defaults WHERE namespace = ?",
            "DELETE FROM namespaces WHERE name = ?",
        ] {
            sqlx::query(sql)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend(OP, e))?;
        }
        tx.commit().await.map_err(|e| backend(OP, e))?;
        for id in ids {
            self.notify(ResourceKind::Deployment, name, id.to_string(), Some(id));
        }
        self.notify(ResourceKind::Namespace, name, name.to_string(), None);
        Ok(())
    }

    async fn deployment_defaults_get(&self, namespace: &str) -> Result<DeploymentDefaults> {
        let row = sqlx::query(
            "SELECT d.body FROM namespaces n LEFT JOIN deployment_defaults d ON d.namespace = n.name
             WHERE n.name = ?",
        )
        .bind(namespace)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| backend("deployment_defaults_get", e))?
        .ok_or_else(|| not_found(KIND, namespace))?;
        let body: Option<String> = row
            .try_get(0)
            .map_err(|e| backend("deployment_defaults_get", e))?;
        match body {
            Some(b) => from_body(DEFAULTS, &b),
            None => Ok(DeploymentDefaults::empty(namespace)),
        }
    }

    async fn deployment_defaults_put(&self, d: &DeploymentDefaults) -> Result<DeploymentDefaults> {
        const OP: &str = "deployment_defaults_put";
        let ns = d.metadata.namespace.as_str();
        let expected = d.metadata.resource_version;
        let mut stored = d.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let body = to_body(&stored)?;
        let modified = ts(&stored.metadata.modified_at);
        let written = if expected == 0 {
            // Never set: the insert wins only if nobody set them meanwhile.
            sqlx::query(
                "INSERT INTO deployment_defaults (namespace, modified_at, resource_version, body) VALUES (?, ?, ?, ?)
                 ON CONFLICT (namespace) DO NOTHING",
            )
            .bind(ns)
            .bind(&modified)
            .bind(stored.metadata.resource_version)
            .bind(&body)
            .execute(&self.writer)
            .await
            .map_err(|e| match violation(&e) {
                Some(_) => not_found(KIND, ns),
                None => backend(OP, e),
            })?
        } else {
            sqlx::query(
                "UPDATE deployment_defaults SET modified_at = ?, resource_version = resource_version + 1, body = ?
                 WHERE namespace = ? AND resource_version = ?",
            )
            .bind(&modified)
            .bind(&body)
            .bind(ns)
            .bind(expected)
            .execute(&self.writer)
            .await
            .map_err(|e| backend(OP, e))?
        };
        if written.rows_affected() == 0 {
            let row = sqlx::query(
                "SELECT d.resource_version FROM namespaces n LEFT JOIN deployment_defaults d ON d.namespace = n.name
                 WHERE n.name = ?",
            )
            .bind(ns)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| backend(OP, e))?
            .ok_or_else(|| not_found(KIND, ns))?;
            let actual: Option<i64> = row.try_get(0).map_err(|e| backend(OP, e))?;
            return Err(StoreError::Conflict {
                kind: DEFAULTS,
                id: ns.to_string(),
                expected,
                actual: actual.unwrap_or(0),
            });
        }
        self.notify(ResourceKind::DeploymentDefaults, ns, ns.to_string(), None);
        Ok(stored)
    }
}
