//! Snapshot summaries ([`SavepointSnapshot`]): one row per savepoint, written by the controller once it
//! has read the savepoint's `_metadata`. Not a resource of its own: no version, no change
//! announcements (the savepoint's annotation, written after it, is what changes and is announced). A
//! put replaces (reading `_metadata` again gives the same summary), and the row goes with its
//! savepoint by `ON DELETE CASCADE`.

use async_trait::async_trait;
use stateplane_model::snapshot::SavepointSnapshot;
use stateplane_model::{DeploymentId, SavepointId};

use super::{backend, body_by, fetch_list, list_query, to_body, ts, violation, Backend, Stmt};
use crate::{Result, SnapshotStore, StoreError};

const KIND: &str = "snapshot summary";

/// Newest first, as `snapshot_summaries_by_deployment` delivers them.
const ORDER: &str = "savepoint_created_at DESC, savepoint_id DESC";

#[async_trait]
impl<B: Backend> SnapshotStore for B {
    async fn snapshot_put(&self, namespace: &str, s: &SavepointSnapshot) -> Result<()> {
        Stmt::new(
            "INSERT INTO snapshot_summaries
               (savepoint_id, namespace, deployment_id, savepoint_created_at, body)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (savepoint_id) DO UPDATE SET body = excluded.body",
        )
        .bind(s.savepoint_id.to_string())
        .bind(namespace)
        .bind(s.deployment_id.to_string())
        .bind(ts(&s.savepoint_created_at))
        .bind(to_body(s)?)
        .run(self.writer())
        .await
        .map_err(|e| match violation(&e) {
            Some(_) => StoreError::NotFound {
                kind: "savepoint",
                id: s.savepoint_id.to_string(),
            },
            None => backend("snapshot_put", e),
        })?;
        Ok(())
    }

    async fn snapshot_get(&self, namespace: &str, id: SavepointId) -> Result<SavepointSnapshot> {
        let q = Stmt::new(
            "SELECT body FROM snapshot_summaries WHERE namespace = $1 AND savepoint_id = $2",
        )
        .bind(namespace)
        .bind(id.to_string());
        body_by(self, q, KIND, id, "snapshot_get").await
    }

    async fn snapshot_list(
        &self,
        namespace: &str,
        deployment: DeploymentId,
        limit: u32,
    ) -> Result<Vec<SavepointSnapshot>> {
        let mut q = list_query(
            "snapshot_summaries",
            "savepoint_created_at, savepoint_id",
            ORDER,
        );
        q.push(" WHERE namespace = ")
            .push_bind(namespace)
            .push(" AND deployment_id = ")
            .push_bind(deployment.to_string())
            .push(" ORDER BY ")
            .push(ORDER)
            .push(" LIMIT ")
            .push_bind(i64::from(limit));
        fetch_list(self, q, KIND, "snapshot_list").await
    }
}
