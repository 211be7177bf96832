//! Snapshot summaries, read only: what the controller read from a savepoint's `_metadata`
//! ([`stateplane_model::snapshot`]). The API never reads `_metadata` for these: the summary is the
//! controller's, stored once per COMPLETED savepoint.

use stateplane_model::snapshot::{SavepointSnapshot, SUMMARY_ERROR_ANNOTATION};
use stateplane_model::SavepointId;
use stateplane_store::{Store, StoreError};

use super::deployments::resolve;
use super::{ensure_namespace, or_not_found};
use crate::error::{ApiError, ApiResult};

/// Most summaries one list returns.
pub const MAX_LIST: u32 = 1000;

/// A savepoint's summary; 404 when it was not read yet, 409 `REFUSED` with the reason when the
/// savepoint's `_metadata` cannot be read.
pub async fn get(store: &dyn Store, ns: &str, id: SavepointId) -> ApiResult<SavepointSnapshot> {
    ensure_namespace(store, ns).await?;
    let sp = store
        .savepoint_get(ns, id)
        .await
        .map_err(or_not_found("savepoint", id, ns))?;
    match store.snapshot_get(ns, id).await {
        Ok(s) => Ok(s),
        Err(StoreError::NotFound { .. }) => Err(
            match sp.metadata.annotations.get(SUMMARY_ERROR_ANNOTATION) {
                Some(reason) => ApiError::Refused(format!(
                    "savepoint {id} has no snapshot summary: its _metadata cannot be read: {reason}"
                )),
                None => ApiError::not_found("snapshot summary", id, ns),
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// A deployment's summaries, newest savepoint first.
pub async fn list(
    store: &dyn Store,
    ns: &str,
    deployment: &str,
    limit: Option<u32>,
) -> ApiResult<Vec<SavepointSnapshot>> {
    let d = resolve(store, ns, deployment).await?;
    let limit = limit.unwrap_or(100).clamp(1, MAX_LIST);
    Ok(store.snapshot_list(ns, d.metadata.id, limit).await?)
}
