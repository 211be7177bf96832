//! Namespaces and their deployment defaults.
//!
//! Deleting a namespace removes every row that belongs to it in one transaction. The namespace row is
//! locked `FOR UPDATE` first, which waits for (and then blocks) every deployment write in the namespace
//! (they hold `FOR KEY SHARE` on it), and its deployments are locked before the check: the check that
//! none of them runs and the delete cannot be separated by a write that starts one.

use async_trait::async_trait;
use sqlx::Row;
use stateplane_model::{DeploymentDefaults, DeploymentId, Namespace};

use super::{
    announced, backend, fetch_list, from_body, list_query, not_found, notify_in, parse_id, to_body,
    ts, violation, PostgresStore,
};
use crate::{NamespaceStore, ResourceKind, Result, StoreError};

const KIND: &str = "namespace";
const DEFAULTS: &str = "deployment defaults";

#[async_trait]
impl NamespaceStore for PostgresStore {
    async fn namespace_create(&self, ns: &Namespace) -> Result<()> {
        let name = &ns.metadata.name;
        let change = self.change(ResourceKind::Namespace, name, name.clone(), None);
        sqlx::query(&announced(
            "INSERT INTO namespaces (name, created_at, resource_version, body) VALUES ($1, $2, $3, $4)",
            4,
        ))
        .bind(name)
        .bind(ts(&ns.metadata.created_at))
        .bind(ns.metadata.resource_version)
        .bind(to_body(ns)?)
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(_) => StoreError::AlreadyExists {
                kind: KIND,
                name: name.clone(),
            },
            None => backend("namespace_create", e),
        })?;
        self.announce(change);
        Ok(())
    }

    async fn namespace_get(&self, name: &str) -> Result<Namespace> {
        let body = sqlx::query_scalar::<_, String>("SELECT body FROM namespaces WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend("namespace_get", e))?
            .ok_or_else(|| not_found(KIND, name))?;
        from_body(KIND, &body)
    }

    async fn namespace_list(&self) -> Result<Vec<Namespace>> {
        fetch_list(
            list_query("namespaces", "name", "name"),
            &self.pool,
            KIND,
            "namespace_list",
        )
        .await
    }

    async fn namespace_delete(&self, name: &str) -> Result<()> {
        const OP: &str = "namespace_delete";
        let err = |e| backend(OP, e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        let exists =
            sqlx::query_scalar::<_, i32>("SELECT 1 FROM namespaces WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        if exists.is_none() {
            return Err(not_found(KIND, name));
        }
        let deployments = sqlx::query_as::<_, (String, String, String, String)>(
            "SELECT id, name, desired_state, status_state FROM deployments
             WHERE namespace = $1 ORDER BY created_at, id FOR UPDATE",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        let busy = deployments.iter().find(|(_, _, desired, status)| {
            desired != "CANCELLED" || status == "RUNNING" || status == "TRANSITIONING"
        });
        if let Some((_, dep, desired, status)) = busy {
            return Err(StoreError::Refused(format!(
                "namespace '{name}' still has deployment '{dep}' (desired state {desired}, status {status}); \
                 set every deployment's state to CANCELLED and wait until it is cancelled, then delete the \
                 namespace"
            )));
        }
        let ids: Vec<DeploymentId> = deployments
            .iter()
            .map(|(id, ..)| parse_id("deployment", id))
            .collect::<Result<_>>()?;
        for sql in [
            "DELETE FROM events WHERE namespace = $1",
            "DELETE FROM savepoints WHERE namespace = $1",
            "DELETE FROM jobs WHERE namespace = $1",
            "DELETE FROM deployments WHERE namespace = $1",
            "DELETE FROM deployment_targets WHERE namespace = $1",
            "DELETE FROM deployment_defaults WHERE namespace = $1",
            "DELETE FROM namespaces WHERE name = $1",
        ] {
            sqlx::query(sql)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        let mut changes: Vec<_> = ids
            .into_iter()
            .map(|id| self.change(ResourceKind::Deployment, name, id.to_string(), Some(id)))
            .collect();
        changes.push(self.change(ResourceKind::Namespace, name, name.to_string(), None));
        for c in &changes {
            notify_in(&mut tx, self.payload(c)).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        for c in changes {
            self.announce(c);
        }
        Ok(())
    }

    async fn deployment_defaults_get(&self, namespace: &str) -> Result<DeploymentDefaults> {
        let row = sqlx::query(
            "SELECT d.body FROM namespaces n LEFT JOIN deployment_defaults d ON d.namespace = n.name
             WHERE n.name = $1",
        )
        .bind(namespace)
        .fetch_optional(&self.pool)
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
        let change = self.change(ResourceKind::DeploymentDefaults, ns, ns.to_string(), None);
        let written = if expected == 0 {
            // Never set: the insert wins only if nobody set them meanwhile.
            sqlx::query(&announced(
                "INSERT INTO deployment_defaults (namespace, modified_at, resource_version, body)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (namespace) DO NOTHING",
                4,
            ))
            .bind(ns)
            .bind(&modified)
            .bind(stored.metadata.resource_version)
            .bind(&body)
            .bind(self.payload(&change))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| match violation(&e) {
                Some(_) => not_found(KIND, ns),
                None => backend(OP, e),
            })?
        } else {
            sqlx::query(&announced(
                "UPDATE deployment_defaults SET modified_at = $1, resource_version = resource_version + 1, body = $2
                 WHERE namespace = $3 AND resource_version = $4",
                4,
            ))
            .bind(&modified)
            .bind(&body)
            .bind(ns)
            .bind(expected)
            .bind(self.payload(&change))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(OP, e))?
        };
        if written.is_empty() {
            let row = sqlx::query(
                "SELECT d.resource_version FROM namespaces n LEFT JOIN deployment_defaults d ON d.namespace = n.name
                 WHERE n.name = $1",
            )
            .bind(ns)
            .fetch_optional(&self.pool)
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
        self.announce(change);
        Ok(stored)
    }
}
