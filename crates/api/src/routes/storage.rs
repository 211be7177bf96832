//! `/api/v1/namespaces/{namespace}/storage/orphans[:dispose]`: the orphan report (snapshot
//! directories under stateplane's prefixes that no resource references) and their disposal on
//! request (owner only: the report walks storage, and disposal deletes data no resource accounts for,
//! which cannot be undone); `/api/v1/namespaces/{namespace}/storage/allowed-prefixes`: where the
//! namespace's registered snapshots may come from (read by anyone of the namespace, set by the admin).

use axum::extract::State;

use stateplane_model::storage::prefixes::SnapshotPrefixes;

use crate::app::orphans::{self as app, OrphanDisposeBody, OrphanDisposeReport, OrphanReport};
use crate::app::snapshot_prefixes::{self, SnapshotPrefixesBody};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::params::{ApiPath, Params};
use crate::AppState;

/// Snapshot directories (savepoint-…, chk-N, or any directory holding `_metadata`) inside deployment
/// directories under the namespace's derived blob-storage prefixes, and `<dir>/<savepoint id>/…` in
/// the savepoint directories its deployments configure, that no savepoint resource (of any
/// namespace) references and no job that has not ended uses. Oldest first; bounded (see
/// `truncated`).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/storage/orphans", tag = "storage", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("limit" = Option<u32>, Query, description = "At most this many orphans (default 500, at most 5000)")),
    responses((status = 200, description = "The orphan report", body = OrphanReport),
        (status = 503, description = "STORAGE_UNAVAILABLE: blob storage cannot be listed (or STORE_UNAVAILABLE)", body = ErrorBody)))]
pub async fn storage_orphan_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    q: Params,
) -> ApiResult<Reply> {
    let limit = match q.get("limit") {
        None => None,
        Some(v) => Some(v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ApiError::parameter(
                "limit",
                format!("'{v}' is not a whole number from 1 to {}", app::MAX_LIMIT),
            )
        })?),
    };
    Reply::ok(&app::report(&s, &ns, limit).await?)
}

/// Deletes the named orphans, each checked again right before: it must lie where the report looks
/// (else 422 on `locations[i]`, before anything is deleted) and still be referenced by nothing (else
/// left alone, `IN_USE`). Nothing else is touched.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/storage/orphans:dispose", tag = "storage", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = OrphanDisposeBody,
    responses((status = 200, description = "What became of each location", body = OrphanDisposeReport)))]
pub async fn storage_orphan_dispose(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<OrphanDisposeBody>,
) -> ApiResult<Reply> {
    Reply::ok(&app::dispose(&s, &ns, body).await?)
}

/// The prefixes registered snapshots of the namespace may come from (empty: no restriction beyond
/// the fence against other namespaces' blob-storage directories).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/storage/allowed-prefixes", tag = "storage", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    responses((status = 200, description = "The namespace's allowed snapshot prefixes", body = SnapshotPrefixes)))]
pub async fn storage_allowed_prefixes_get(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<Reply> {
    Reply::ok(&snapshot_prefixes::get(s.store.as_ref(), &ns).await?)
}

/// Replaces the namespace's allowed snapshot prefixes (admin only). From then on a registration
/// (`POST …/savepoints` with `spec.savepointLocation`) outside them, and outside the namespace's own
/// blob-storage directories, is refused with 422 on `spec.savepointLocation`. Existing savepoints
/// are not touched.
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/storage/allowed-prefixes", tag = "storage", security(("bearer" = ["admin"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = SnapshotPrefixesBody,
    responses((status = 200, description = "The prefixes as stored (normalised)", body = SnapshotPrefixes)))]
pub async fn storage_allowed_prefixes_put(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<SnapshotPrefixesBody>,
) -> ApiResult<Reply> {
    Reply::ok(&snapshot_prefixes::put(s.store.as_ref(), &ns, body).await?)
}
