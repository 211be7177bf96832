//! Deployments. The columns next to the body are what the other rules need without parsing JSON: the
//! name (unique per namespace), desired and observed state (the namespace-delete check) and the target
//! name (the target-delete check).

use async_trait::async_trait;
use stateplane_model::{Deployment, DeploymentId};

use super::{
    backend, fetch_list, from_body, list_query, not_found, to_body, ts, violation, SqliteStore,
};
use crate::{DeploymentStore, ResourceKind, Result, StoreError};
use sqlx::error::ErrorKind;

const KIND: &str = "deployment";

#[async_trait]
impl DeploymentStore for SqliteStore {
    async fn deployment_create(&self, d: &Deployment) -> Result<()> {
        let m = &d.metadata;
        sqlx::query(
            "INSERT INTO deployments
               (id, namespace, name, desired_state, status_state, target_name, created_at, resource_version, body)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(&m.name)
        .bind(d.spec.state.as_str())
        .bind(d.status.state.as_str())
        .bind(d.spec.deployment_target_name.as_deref())
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(d)?)
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists { kind: KIND, name: m.name.clone() },
            Some(_) => not_found("namespace", &m.namespace),
            None => backend("deployment_create", e),
        })?;
        self.notify(
            ResourceKind::Deployment,
            &m.namespace,
            m.id.to_string(),
            Some(m.id),
        );
        Ok(())
    }

    async fn deployment_get(&self, namespace: &str, id: DeploymentId) -> Result<Deployment> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM deployments WHERE namespace = ? AND id = ?",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| backend("deployment_get", e))?
        .ok_or_else(|| not_found(KIND, id))?;
        from_body(KIND, &body)
    }

    async fn deployment_get_by_name(&self, namespace: &str, name: &str) -> Result<Deployment> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM deployments WHERE namespace = ? AND name = ?",
        )
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| backend("deployment_get_by_name", e))?
        .ok_or_else(|| not_found(KIND, name))?;
        from_body(KIND, &body)
    }

    async fn deployment_list(&self, namespace: Option<&str>) -> Result<Vec<Deployment>> {
        let mut q = list_query("deployments", "created_at, id", "created_at, id");
        if let Some(ns) = namespace {
            q.push(" WHERE namespace = ").push_bind(ns);
        }
        fetch_list(q, &self.reader, KIND, "deployment_list").await
    }

    async fn deployment_update(&self, d: &Deployment) -> Result<Deployment> {
        let expected = d.metadata.resource_version;
        let mut stored = d.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let done = sqlx::query(
            "UPDATE deployments
             SET name = ?, desired_state = ?, status_state = ?, target_name = ?, created_at = ?,
                 resource_version = resource_version + 1, body = ?
             WHERE namespace = ? AND id = ? AND resource_version = ?",
        )
        .bind(&m.name)
        .bind(stored.spec.state.as_str())
        .bind(stored.status.state.as_str())
        .bind(stored.spec.deployment_target_name.as_deref())
        .bind(ts(&m.created_at))
        .bind(to_body(&stored)?)
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(expected)
        .execute(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.name.clone(),
            },
            _ => backend("deployment_update", e),
        })?;
        if done.rows_affected() == 0 {
            return Err(self
                .cas_failure(
                    "deployments",
                    KIND,
                    &m.namespace,
                    m.id.to_string(),
                    expected,
                )
                .await);
        }
        self.notify(
            ResourceKind::Deployment,
            &m.namespace,
            m.id.to_string(),
            Some(m.id),
        );
        Ok(stored)
    }

    async fn deployment_delete(&self, namespace: &str, id: DeploymentId) -> Result<()> {
        const OP: &str = "deployment_delete";
        let id_text = id.to_string();
        let mut tx = self.begin_write(OP).await?;
        // Children first: the foreign keys refuse a deployment row that still has any.
        for sql in [
            "DELETE FROM events WHERE namespace = ? AND deployment_id = ?",
            "DELETE FROM savepoints WHERE namespace = ? AND deployment_id = ?",
            "DELETE FROM jobs WHERE namespace = ? AND deployment_id = ?",
        ] {
            sqlx::query(sql)
                .bind(namespace)
                .bind(&id_text)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend(OP, e))?;
        }
        let done = sqlx::query("DELETE FROM deployments WHERE namespace = ? AND id = ?")
            .bind(namespace)
            .bind(&id_text)
            .execute(&mut *tx)
            .await
            .map_err(|e| backend(OP, e))?;
        if done.rows_affected() == 0 {
            // Dropping the transaction rolls it back (there was nothing to delete anyway).
            return Err(not_found(KIND, id));
        }
        tx.commit().await.map_err(|e| backend(OP, e))?;
        self.notify(ResourceKind::Deployment, namespace, id_text, Some(id));
        Ok(())
    }
}
