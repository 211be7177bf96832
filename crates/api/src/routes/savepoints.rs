//! `/api/v1/namespaces/{namespace}/savepoints[/{savepointId}]`

use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use stateplane_model::{ResourceList, Savepoint, SavepointId, SavepointState};

use crate::app::savepoints::{self as app, Deletion};
use crate::bodies::{SavepointCopyBody, SavepointCreateBody};
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::openapi::SavepointList;
use crate::params::{parse_id, ApiPath, Params};
use crate::{AppState, Draining};

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/savepoints", tag = "savepoints", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = Option<String>, Query, description = "Only savepoints of this deployment (UUID)", format = Uuid),
        ("jobId" = Option<String>, Query, description = "Only savepoints of this job (UUID)", format = Uuid)),
    responses((status = 200, description = "Savepoints, newest first", body = SavepointList)))]
pub async fn savepoint_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    q: Params,
) -> ApiResult<Reply> {
    let items = app::list(s.store.as_ref(), &ns, q.id("deploymentId")?, q.id("jobId")?).await?;
    Reply::ok(&ResourceList::new("Savepoint", items))
}

/// Two shapes: `{metadata: {deploymentId}}` alone requests a savepoint of the deployment's running job
/// (state STARTED, origin USER_REQUEST; the controller completes it); `spec.savepointLocation` with
/// `status.state: COMPLETED` registers an existing snapshot (origin COPIED).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/savepoints", tag = "savepoints", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = SavepointCreateBody,
    responses((status = 201, description = "Created (registered, or requested and under way)", body = Savepoint),
        (status = 409, description = "SAVEPOINTS_NOT_CONFIGURED or DEPLOYMENT_NOT_RUNNING", body = ErrorBody)))]
pub async fn savepoint_create(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<SavepointCreateBody>,
) -> ApiResult<Reply> {
    Reply::created(&app::create(&s, &ns, body).await?)
}

/// A savepoint. With `waitFor`, answers as soon as its state is one of the given ones, or with the
/// savepoint as it is at the timeout.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/savepoints/{savepointId}", tag = "savepoints", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("savepointId" = String, Path, description = "Savepoint id (UUID)", format = Uuid),
        ("waitFor" = Option<String>, Query, description = "Comma-separated states to wait for, e.g. COMPLETED,FAILED"),
        ("timeout" = Option<String>, Query, description = "Longest wait, e.g. 30s (default 30s, at most 120s)")),
    responses((status = 200, description = "The savepoint", body = Savepoint)))]
pub async fn savepoint_get(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    q: Params,
    draining: Option<Extension<Draining>>,
) -> ApiResult<Reply> {
    let id: SavepointId = parse_id("savepointId", &id)?;
    let wait = q.wait::<SavepointState>()?;
    Reply::ok(&app::get(s.store.as_ref(), &ns, id, wait, draining.map(|d| d.0)).await?)
}

/// Deletes a savepoint resource. Data stateplane wrote and nothing else references is disposed by the
/// controller first (202, state PENDING_DELETION); otherwise the resource is removed at once (200) and
/// the data left alone.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/savepoints/{savepointId}", tag = "savepoints", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("savepointId" = String, Path, description = "Savepoint id (UUID)", format = Uuid)),
    responses((status = 200, description = "Deleted; the savepoint as it was (data untouched)", body = Savepoint),
        (status = 202, description = "Disposal under way (PENDING_DELETION or DELETING)", body = Savepoint),
        (status = 409, description = "SAVEPOINT_IN_PROGRESS", body = ErrorBody)))]
pub async fn savepoint_delete(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    let id: SavepointId = parse_id("savepointId", &id)?;
    match app::delete(&s, &ns, id).await? {
        Deletion::Deleted(sp) => Reply::ok(&sp),
        Deletion::Pending(sp) => Reply::with_status(StatusCode::ACCEPTED, &sp),
    }
}

/// Copies a COMPLETED savepoint to a deployment of the namespace (`{metadata: {deploymentId}}`, the
/// same deployment or another): a new COPIED savepoint at the same location, annotated with the target
/// deployment's current spec version, so the target's next start restores it. The data is shared, not
/// duplicated, and kept as long as any savepoint resource points to it.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/savepoints/{savepointId}/copy", tag = "savepoints", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("savepointId" = String, Path, description = "Savepoint id (UUID) to copy", format = Uuid)),
    request_body = SavepointCopyBody,
    responses((status = 201, description = "The copy (origin COPIED)", body = Savepoint),
        (status = 404, description = "No such savepoint or target deployment in this namespace", body = ErrorBody),
        (status = 409, description = "SAVEPOINT_IN_PROGRESS or REFUSED: only COMPLETED savepoints are copied", body = ErrorBody)))]
pub async fn savepoint_copy(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    Input(body): Input<SavepointCopyBody>,
) -> ApiResult<Reply> {
    let id: SavepointId = parse_id("savepointId", &id)?;
    Reply::created(&app::copy(&s, &ns, id, body).await?)
}
