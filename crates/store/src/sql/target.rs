//! Deployment targets. Deployments refer to their target by name, so a target is deleted (or renamed)
//! only when no deployment of its namespace names it, checked in the same transaction as the write. On
//! PostgreSQL both lock the namespace row `FOR UPDATE` before that check, which deployment writes
//! (holding `FOR KEY SHARE` on it) wait for; on SQLite the single writer serialises them. Either way the
//! check and the write are one step for every other writer.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::Transaction;
use stateplane_model::DeploymentTarget;

use super::{
    backend, body_by, change, commit, fetch_list, list_query, not_found, to_body, ts, violation,
    write_one, Backend, Stmt,
};
use crate::{DeploymentTargetStore, ResourceKind, Result, StoreError};

const KIND: &str = "deployment target";

#[async_trait]
impl<B: Backend> DeploymentTargetStore for B {
    async fn target_create(&self, t: &DeploymentTarget) -> Result<()> {
        let m = &t.metadata;
        let insert = Stmt::new(
            "INSERT INTO deployment_targets (id, namespace, name, created_at, resource_version, body)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(&m.name)
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(t)?);
        let change = change(
            ResourceKind::DeploymentTarget,
            &m.namespace,
            m.name.clone(),
            None,
        );
        write_one(self, insert, change)
            .await
            .map_err(|e| match violation(&e) {
                Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                    kind: KIND,
                    name: m.name.clone(),
                },
                Some(_) => not_found("namespace", &m.namespace),
                None => backend("target_create", e),
            })?;
        Ok(())
    }

    async fn target_get(&self, namespace: &str, name: &str) -> Result<DeploymentTarget> {
        let q = Stmt::new("SELECT body FROM deployment_targets WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name);
        body_by(self, q, KIND, name, "target_get").await
    }

    async fn target_list(&self, namespace: &str) -> Result<Vec<DeploymentTarget>> {
        let mut q = list_query("deployment_targets", "name", "name");
        q.push(" WHERE namespace = ").push_bind(namespace);
        fetch_list(self, q, KIND, "target_list").await
    }

    async fn target_update(&self, t: &DeploymentTarget) -> Result<DeploymentTarget> {
        const OP: &str = "target_update";
        let err = |e| backend(OP, e);
        let expected = t.metadata.resource_version;
        let mut stored = t.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let id = m.id.to_string();
        let mut tx = self.begin_write().await.map_err(err)?;
        lock_namespace::<B>(&mut tx, &m.namespace).await?;
        let current: Option<(String, i64)> = Stmt::new(format!(
            "SELECT name, resource_version FROM deployment_targets WHERE namespace = $1 AND id = $2{}",
            B::FOR_UPDATE
        ))
        .bind(&m.namespace)
        .bind(&id)
        .fetch_optional(&mut tx)
        .await
        .map_err(err)?;
        let Some((old_name, actual)) = current else {
            return Err(not_found(KIND, &m.name));
        };
        if actual != expected {
            return Err(StoreError::Conflict {
                kind: KIND,
                id: old_name,
                expected,
                actual,
            });
        }
        if old_name != m.name {
            // Deployments refer to a target by name: renaming a used one would orphan them.
            if let Some(dep) = first_user::<B>(&mut tx, &m.namespace, &old_name).await? {
                return Err(in_use(&old_name, &dep));
            }
        }
        Stmt::new(
            "UPDATE deployment_targets SET name = $1, created_at = $2, resource_version = $3, body = $4
             WHERE namespace = $5 AND id = $6",
        )
        .bind(&m.name)
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(&stored)?)
        .bind(&m.namespace)
        .bind(&id)
        .run(&mut tx)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.name.clone(),
            },
            _ => backend(OP, e),
        })?;
        let change = change(
            ResourceKind::DeploymentTarget,
            &m.namespace,
            m.name.clone(),
            None,
        );
        commit(self, tx, vec![change]).await.map_err(err)?;
        Ok(stored)
    }

    async fn target_delete(&self, namespace: &str, name: &str) -> Result<()> {
        const OP: &str = "target_delete";
        let err = |e| backend(OP, e);
        let mut tx = self.begin_write().await.map_err(err)?;
        lock_namespace::<B>(&mut tx, namespace).await?;
        if let Some(dep) = first_user::<B>(&mut tx, namespace, name).await? {
            return Err(in_use(name, &dep));
        }
        let deleted = Stmt::new(
            "DELETE FROM deployment_targets WHERE namespace = $1 AND name = $2 RETURNING name",
        )
        .bind(namespace)
        .bind(name)
        .run(&mut tx)
        .await
        .map_err(err)?;
        if deleted == 0 {
            return Err(not_found(KIND, name));
        }
        let change = change(
            ResourceKind::DeploymentTarget,
            namespace,
            name.to_string(),
            None,
        );
        commit(self, tx, vec![change]).await.map_err(err)
    }
}

/// Locks the namespace row against deployment writes until the transaction ends (a missing namespace
/// locks nothing; the statements after it find nothing either). Nothing to do with a single writer.
async fn lock_namespace<B: Backend>(
    tx: &mut Transaction<'static, B::Db>,
    namespace: &str,
) -> Result<()> {
    if B::FOR_UPDATE.is_empty() {
        return Ok(());
    }
    Stmt::new(format!(
        "SELECT name FROM namespaces WHERE name = $1{}",
        B::FOR_UPDATE
    ))
    .bind(namespace)
    .run(tx)
    .await
    .map_err(|e| backend("lock namespace", e))?;
    Ok(())
}

/// The oldest deployment of the namespace that names the target, if any.
async fn first_user<B: Backend>(
    tx: &mut Transaction<'static, B::Db>,
    namespace: &str,
    target: &str,
) -> Result<Option<String>> {
    Stmt::new(
        "SELECT name FROM deployments WHERE namespace = $1 AND target_name = $2
         ORDER BY created_at, id LIMIT 1",
    )
    .bind(namespace)
    .bind(target)
    .fetch_optional(tx)
    .await
    .map_err(|e| backend("find deployments of a target", e))
}

fn in_use(target: &str, deployment: &str) -> StoreError {
    StoreError::Refused(format!(
        "deployment target '{target}' is used by deployment '{deployment}'; point the deployment at another \
         target or delete it first"
    ))
}
