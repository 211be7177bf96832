//! `/api/v1/namespaces/{namespace}/savepoints/{savepointId}/snapshot` and
//! `/api/v1/namespaces/{namespace}/deployments/{deploymentId}/snapshots`: snapshot summaries (what a
//! COMPLETED savepoint's `_metadata` says: operators, parallelism, max parallelism, state sizes).

use axum::extract::State;
use stateplane_model::snapshot::SavepointSnapshot;
use stateplane_model::SavepointId;

use crate::app::snapshots as app;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::format::Reply;
use crate::params::{parse_id, ApiPath, Params};
use crate::AppState;

/// The summary the controller read from the savepoint's `_metadata` (only that file is read, never
/// the state files). Every COMPLETED savepoint gets one shortly after it completes or is registered.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/savepoints/{savepointId}/snapshot", tag = "savepoints", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("savepointId" = String, Path, description = "Savepoint id (UUID)", format = Uuid)),
    responses((status = 200, description = "The snapshot summary", body = SavepointSnapshot),
        (status = 409, description = "REFUSED: the savepoint's _metadata cannot be read (the message says why)", body = ErrorBody)))]
pub async fn savepoint_snapshot_get(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    let id: SavepointId = parse_id("savepointId", &id)?;
    Reply::ok(&app::get(s.store.as_ref(), &ns, id).await?)
}

/// A deployment's snapshot summaries, newest savepoint first (for the size-and-duration chart).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}/snapshots", tag = "deployments", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment id (UUID) or name"),
        ("limit" = Option<u32>, Query, description = "At most this many (default 100, at most 1000)")),
    responses((status = 200, description = "Snapshot summaries, newest first", body = Vec<SavepointSnapshot>)))]
pub async fn deployment_snapshot_list(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    q: Params,
) -> ApiResult<Reply> {
    let limit = match q.get("limit") {
        None => None,
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            ApiError::parameter(
                "limit",
                format!("'{v}' is not a whole number from 1 to {}", app::MAX_LIST),
            )
        })?),
    };
    Reply::ok(&app::list(s.store.as_ref(), &ns, &id, limit).await?)
}
