//! Deployments. The columns next to the body are what the other rules need without parsing JSON: the
//! name (unique per namespace), desired and observed state (the namespace-delete check) and the target
//! name (the target-delete check).
//!
//! An update holds `FOR KEY SHARE` on its namespace row until it commits (an insert gets the same from
//! its foreign key), so a namespace delete or a target delete/rename, which lock that row `FOR UPDATE`
//! before checking the namespace's deployments, never misses a deployment written meanwhile.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use stateplane_model::{Deployment, DeploymentId};

use super::{
    announced, backend, fetch_list, from_body, list_query, not_found, notify_in, to_body, ts,
    violation, PostgresStore,
};
use crate::{DeploymentStore, ResourceKind, Result, StoreError};

const KIND: &str = "deployment";

#[async_trait]
impl DeploymentStore for PostgresStore {
    async fn deployment_create(&self, d: &Deployment) -> Result<()> {
        let m = &d.metadata;
        let change = self.change(
            ResourceKind::Deployment,
            &m.namespace,
            m.id.to_string(),
            Some(m.id),
        );
        sqlx::query(&announced(
            "INSERT INTO deployments
               (id, namespace, name, desired_state, status_state, target_name, created_at, resource_version, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            9,
        ))
        .bind(m.id.to_string())
        .bind(&m.namespace)
        .bind(&m.name)
        .bind(d.spec.state.as_str())
        .bind(d.status.state.as_str())
        .bind(d.spec.deployment_target_name.as_deref())
        .bind(ts(&m.created_at))
        .bind(m.resource_version)
        .bind(to_body(d)?)
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.name.clone(),
            },
            Some(_) => not_found("namespace", &m.namespace),
            None => backend("deployment_create", e),
        })?;
        self.announce(change);
        Ok(())
    }

    async fn deployment_get(&self, namespace: &str, id: DeploymentId) -> Result<Deployment> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM deployments WHERE namespace = $1 AND id = $2",
        )
        .bind(namespace)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("deployment_get", e))?
        .ok_or_else(|| not_found(KIND, id))?;
        from_body(KIND, &body)
    }

    async fn deployment_get_by_name(&self, namespace: &str, name: &str) -> Result<Deployment> {
        let body = sqlx::query_scalar::<_, String>(
            "SELECT body FROM deployments WHERE namespace = $1 AND name = $2",
        )
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
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
        fetch_list(q, &self.pool, KIND, "deployment_list").await
    }

    async fn deployment_update(&self, d: &Deployment) -> Result<Deployment> {
        let expected = d.metadata.resource_version;
        let mut stored = d.clone();
        stored.metadata.resource_version = expected + 1;
        stored.metadata.modified_at = stateplane_model::now();
        let m = &stored.metadata;
        let change = self.change(
            ResourceKind::Deployment,
            &m.namespace,
            m.id.to_string(),
            Some(m.id),
        );
        // The namespace row is locked (shared) before the row is written; see the module docs.
        let written = sqlx::query(&announced(
            "WITH ns AS (SELECT name FROM namespaces WHERE name = $6 FOR KEY SHARE)
             UPDATE deployments
             SET name = $1, desired_state = $2, status_state = $3, target_name = $4, created_at = $5,
                 resource_version = resource_version + 1, body = $9
             WHERE namespace = (SELECT name FROM ns) AND id = $7 AND resource_version = $8",
            9,
        ))
        .bind(&m.name)
        .bind(stored.spec.state.as_str())
        .bind(stored.status.state.as_str())
        .bind(stored.spec.deployment_target_name.as_deref())
        .bind(ts(&m.created_at))
        .bind(&m.namespace)
        .bind(m.id.to_string())
        .bind(expected)
        .bind(to_body(&stored)?)
        .bind(self.payload(&change))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match violation(&e) {
            Some(ErrorKind::UniqueViolation) => StoreError::AlreadyExists {
                kind: KIND,
                name: m.name.clone(),
            },
            _ => backend("deployment_update", e),
        })?;
        if written.is_empty() {
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
        self.announce(change);
        Ok(stored)
    }

    async fn deployment_delete(&self, namespace: &str, id: DeploymentId) -> Result<()> {
        const OP: &str = "deployment_delete";
        let err = |e| backend(OP, e);
        let id_text = id.to_string();
        let mut tx = self.pool.begin().await.map_err(err)?;
        // Locked first: a child inserted concurrently waits, then finds its deployment gone.
        let exists = sqlx::query_scalar::<_, i32>(
            "SELECT 1 FROM deployments WHERE namespace = $1 AND id = $2 FOR UPDATE",
        )
        .bind(namespace)
        .bind(&id_text)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        if exists.is_none() {
            return Err(not_found(KIND, id));
        }
        for sql in [
            "DELETE FROM events WHERE namespace = $1 AND deployment_id = $2",
            "DELETE FROM savepoints WHERE namespace = $1 AND deployment_id = $2",
            "DELETE FROM jobs WHERE namespace = $1 AND deployment_id = $2",
            "DELETE FROM deployments WHERE namespace = $1 AND id = $2",
        ] {
            sqlx::query(sql)
                .bind(namespace)
                .bind(&id_text)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        let change = self.change(ResourceKind::Deployment, namespace, id_text, Some(id));
        notify_in(&mut tx, self.payload(&change))
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.announce(change);
        Ok(())
    }
}
