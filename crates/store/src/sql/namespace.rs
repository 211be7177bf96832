//! Namespaces and their deployment defaults.
//!
//! Deleting a namespace removes every row that belongs to it in one transaction, after checking in that
//! same transaction that none of its deployments runs or is meant to. On PostgreSQL the namespace row is
//! locked `FOR UPDATE` first, which waits for (and then blocks) every deployment write in the namespace
//! (they hold `FOR KEY SHARE` on it), and its deployments are locked before the check; on SQLite the
//! single writer does the same. Either way the check and the delete cannot be separated by a write that
//! starts a deployment.

use async_trait::async_trait;
use stateplane_model::{DeploymentDefaults, DeploymentId, Namespace};

use super::{
    backend, body_by, change, commit, fetch_list, from_body, list_query, not_found, parse_id,
    to_body, ts, violation, write_one, Backend, Stmt,
};
use crate::{NamespaceStore, ResourceKind, Result, StoreError};

const KIND: &str = "namespace";
const DEFAULTS: &str = "deployment defaults";

#[async_trait]
impl<B: Backend> NamespaceStore for B {
    async fn namespace_create(&self, ns: &Namespace) -> Result<()> {
        let name = &ns.metadata.name;
        let insert = Stmt::new(
            "INSERT INTO namespaces (name, created_at, resource_version, body) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(ts(&ns.metadata.created_at))
        .bind(ns.metadata.resource_version)
        .bind(to_body(ns)?);
        let change = change(ResourceKind::Namespace, name, name.clone(), None);
        write_one(self, insert, change)
            .await
            .map_err(|e| match violation(&e) {
                Some(_) => StoreError::AlreadyExists {
                    kind: KIND,
                    name: name.clone(),
                },
                None => backend("namespace_create", e),
            })?;
        Ok(())
    }

    async fn namespace_get(&self, name: &str) -> Result<Namespace> {
        let q = Stmt::new("SELECT body FROM namespaces WHERE name = $1").bind(name);
        body_by(self, q, KIND, name, "namespace_get").await
    }

    async fn namespace_list(&self) -> Result<Vec<Namespace>> {
        let q = list_query("namespaces", "name", "name");
        fetch_list(self, q, KIND, "namespace_list").await
    }

    async fn namespace_delete(&self, name: &str) -> Result<()> {
        const OP: &str = "namespace_delete";
        let err = |e| backend(OP, e);
        let mut tx = self.begin_write().await.map_err(err)?;
        let exists: Option<String> = Stmt::new(format!(
            "SELECT name FROM namespaces WHERE name = $1{}",
            B::FOR_UPDATE
        ))
        .bind(name)
        .fetch_optional(&mut tx)
        .await
        .map_err(err)?;
        if exists.is_none() {
            return Err(not_found(KIND, name));
        }
        let deployments: Vec<(String, String, String, String)> = Stmt::new(format!(
            "SELECT id, name, desired_state, status_state FROM deployments
             WHERE namespace = $1 ORDER BY created_at, id{}",
            B::FOR_UPDATE
        ))
        .bind(name)
        .fetch_all(&mut tx)
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
            "DELETE FROM namespace_snapshot_prefixes WHERE namespace = $1",
            "DELETE FROM namespaces WHERE name = $1",
        ] {
            Stmt::new(sql).bind(name).run(&mut tx).await.map_err(err)?;
        }
        let mut changes: Vec<_> = ids
            .into_iter()
            .map(|id| change(ResourceKind::Deployment, name, id.to_string(), Some(id)))
            .collect();
        changes.push(change(
            ResourceKind::Namespace,
            name,
            name.to_string(),
            None,
        ));
        commit(self, tx, changes).await.map_err(err)
    }

    async fn deployment_defaults_get(&self, namespace: &str) -> Result<DeploymentDefaults> {
        const OP: &str = "deployment_defaults_get";
        let body: Option<String> = Stmt::new(
            "SELECT d.body FROM namespaces n LEFT JOIN deployment_defaults d ON d.namespace = n.name
             WHERE n.name = $1",
        )
        .bind(namespace)
        .fetch_optional(self.reader())
        .await
        .map_err(|e| backend(OP, e))?
        .ok_or_else(|| not_found(KIND, namespace))?;
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
        let write = if expected == 0 {
            // Never set: the insert wins only if nobody set them meanwhile.
            Stmt::new(
                "INSERT INTO deployment_defaults (namespace, modified_at, resource_version, body)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (namespace) DO NOTHING",
            )
            .bind(ns)
            .bind(modified)
            .bind(stored.metadata.resource_version)
            .bind(body)
        } else {
            Stmt::new(
                "UPDATE deployment_defaults SET modified_at = $2, resource_version = resource_version + 1,
                   body = $4
                 WHERE namespace = $1 AND resource_version = $3",
            )
            .bind(ns)
            .bind(modified)
            .bind(expected)
            .bind(body)
        };
        let change = change(ResourceKind::DeploymentDefaults, ns, ns.to_string(), None);
        let written = write_one(self, write, change)
            .await
            .map_err(|e| match violation(&e) {
                Some(_) => not_found(KIND, ns),
                None => backend(OP, e),
            })?;
        if !written {
            let actual: Option<i64> = Stmt::new(
                "SELECT d.resource_version FROM namespaces n
                 LEFT JOIN deployment_defaults d ON d.namespace = n.name WHERE n.name = $1",
            )
            .bind(ns)
            .fetch_optional(self.reader())
            .await
            .map_err(|e| backend(OP, e))?
            .ok_or_else(|| not_found(KIND, ns))?;
            return Err(StoreError::Conflict {
                kind: DEFAULTS,
                id: ns.to_string(),
                expected,
                actual: actual.unwrap_or(0),
            });
        }
        Ok(stored)
    }
}
