//! Deployment targets. Deployments refer to their target by name, so a target is deleted (or renamed)
//! only when no deployment of its namespace names it. Both lock the namespace row `FOR UPDATE` before
//! that check, which deployment writes (holding `FOR KEY SHARE` on it) wait for: the check and the write
//! are one step for every other writer.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::{Postgres, Transaction};
use stateplane_model::DeploymentTarget;

use super::{
    announced, backend, fetch_list, from_body, list_query, not_found, notify_in, to_body, ts,
    violation, PostgresStore,
};
use crate::{DeploymentTargetStore, ResourceKind, Result, StoreError};

const KIND: &str = "deployment target";

#[async_trait]
impl DeploymentTargetStore for PostgresStore {
    async fn target_create(&self, t: &DeploymentTarget) -> Result<()> {
        let m = &t.metadata;
        let change = self.change(
            ResourceKind::DeploymentTarget,
            &m.namespace,
            m.name.clone(),
            None,
        );
        sqlx::query(&announced(
            "INSERT INTO deployment_targets (id, namespace, name, created_at, resource_version, body)
             VALUES ($1, $2, $3, $4, $5, $6)",
            6,
        ))
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(&m.name)
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(t)?)
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.name.clone(),
            },
            Some(_) => not_found("namespace", &m.namespace),
            None => backend("target_create", e),
        })?;
        self.announce(change);
        Ok(())
    }

    async fn target_get(&self, namespace: &str, name: &str) -> Result<DeploymentTarget> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM deployment_targets WHERE namespace = $1 AND name = $2",
        )
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("target_get", e))?
        .ok_or_else(|| not_found(KIND, name))?;
        from_body(KIND, &body)
    }

    async fn target_list(&self, namespace: &str) -> Result<Vec<DeploymentTarget>> {
        let mut q = list_query("deployment_targets", "name", "name");
        q.push(" WHERE namespace = ").push_bind(namespace);
        fetch_list(q, &self.pool, KIND, "target_list").await
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
        let mut tx = self.pool.begin().await.map_err(err)?;
        lock_namespace(&mut tx, &m.namespace).await?;
        let current = sqlx::query_as::<_, (String, i64)>(
            "SELECT name, resource_version FROM deployment_targets WHERE namespace = $1 AND id = $2
             FOR UPDATE",
        )
        .bind(&m.namespace)
        .bind(&id)
        .fetch_optional(&mut *tx)
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
            if let Some(dep) = first_user(&mut tx, &m.namespace, &old_name).await? {
                return Err(in_use(&old_name, &dep));
            }
        }
        sqlx::query(
            "UPDATE deployment_targets SET name = $1, created_at = $2, resource_version = $3, body = $4
             WHERE namespace = $5 AND id = $6",
        )
        .bind(&m.name)
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(&stored)?)
        .bind(&m.namespace)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.name.clone(),
            },
            _ => backend(OP, e),
        })?;
        let change = self.change(
            ResourceKind::DeploymentTarget,
            &m.namespace,
            m.name.clone(),
            None,
        );
        notify_in(&mut tx, self.payload(&change))
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.announce(change);
        Ok(stored)
    }

    async fn target_delete(&self, namespace: &str, name: &str) -> Result<()> {
        const OP: &str = "target_delete";
        let err = |e| backend(OP, e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        lock_namespace(&mut tx, namespace).await?;
        if let Some(dep) = first_user(&mut tx, namespace, name).await? {
            return Err(in_use(name, &dep));
        }
        let done = sqlx::query("DELETE FROM deployment_targets WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Err(not_found(KIND, name));
        }
        let change = self.change(
            ResourceKind::DeploymentTarget,
            namespace,
            name.to_string(),
            None,
        );
        notify_in(&mut tx, self.payload(&change))
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.announce(change);
        Ok(())
    }
}

/// Locks the namespace row against deployment writes until the transaction ends (a missing namespace
/// locks nothing; the statements after it find nothing either).
async fn lock_namespace(tx: &mut Transaction<'static, Postgres>, namespace: &str) -> Result<()> {
    sqlx::query("SELECT 1 FROM namespaces WHERE name = $1 FOR UPDATE")
        .bind(namespace)
        .execute(&mut **tx)
        .await
        .map_err(|e| backend("lock namespace", e))?;
    Ok(())
}

/// The oldest deployment of the namespace that names the target, if any.
async fn first_user(
    tx: &mut Transaction<'static, Postgres>,
    namespace: &str,
    target: &str,
) -> Result<Option<String>> {
    sqlx::query_scalar::<_, String>(
        "SELECT name FROM deployments WHERE namespace = $1 AND target_name = $2
         ORDER BY created_at, id LIMIT 1",
    )
    .bind(namespace)
    .bind(target)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| backend("find deployments of a target", e))
}

fn in_use(target: &str, deployment: &str) -> StoreError {
    StoreError::Refused(format!(
        "deployment target '{target}' is used by deployment '{deployment}'; point the deployment at another \
         target or delete it first"
    ))
}
