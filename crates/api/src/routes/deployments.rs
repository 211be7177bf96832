//! `/api/v1/namespaces/{namespace}/deployments[/{deploymentId}[/restore-preview]]`

use axum::extract::State;
use axum::Extension;
use stateplane_model::restore::RestoreDecision;
use stateplane_model::{Deployment, DeploymentState, ResourceList};

use crate::app::deployments as app;
use crate::bodies::{DeploymentCreate, DeploymentPatch};
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::openapi::DeploymentList;
use crate::params::{ApiPath, Params};
use crate::{AppState, Draining};

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/deployments", tag = "deployments", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("labelSelector" = Option<String>, Query, description = "Kubernetes label selector: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated, all must hold")),
    responses((status = 200, description = "Deployments of the namespace, oldest first", body = DeploymentList)))]
pub async fn deployment_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    q: Params,
) -> ApiResult<Reply> {
    let items = app::list(s.store.as_ref(), &ns, q.selector()?.as_ref()).await?;
    Reply::ok(&ResourceList::new("Deployment", items))
}

/// Creates a deployment. The namespace's deployment defaults are merged under `spec` (explicit fields
/// win); server-owned fields (`metadata.id`, `createdAt`, `resourceVersion`, `status`) are ignored.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/deployments", tag = "deployments", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = DeploymentCreate,
    responses((status = 201, description = "Created", body = Deployment),
        (status = 409, description = "ALREADY_EXISTS: the name is taken in this namespace", body = ErrorBody)))]
pub async fn deployment_create(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<DeploymentCreate>,
) -> ApiResult<Reply> {
    Reply::created(&app::create(s.store.as_ref(), &ns, body).await?)
}

/// A deployment by id or name. With `waitFor`, answers as soon as `status.state` is one of the given
/// states, or with the deployment as it is at the timeout.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}", tag = "deployments", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment id (UUID) or name"),
        ("waitFor" = Option<String>, Query, description = "Comma-separated status states to wait for, e.g. RUNNING"),
        ("timeout" = Option<String>, Query, description = "Longest wait, e.g. 30s (default 30s, at most 120s)")),
    responses((status = 200, description = "The deployment", body = Deployment)))]
pub async fn deployment_get(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    q: Params,
    draining: Option<Extension<Draining>>,
) -> ApiResult<Reply> {
    let wait = q.wait::<DeploymentState>()?;
    Reply::ok(&app::get(&s, &ns, &id, wait, draining.map(|d| d.0)).await?)
}

/// JSON merge patch (RFC 7396; JSON or YAML) over `{metadata: {labels, annotations, displayName}, spec}`.
/// With `metadata.resourceVersion`, refused (409) unless it is the current one.
#[utoipa::path(patch, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}", tag = "deployments", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment id (UUID) or name")),
    request_body = DeploymentPatch,
    responses((status = 200, description = "The deployment after the patch", body = Deployment),
        (status = 409, description = "CONFLICT: metadata.resourceVersion is stale", body = ErrorBody)))]
pub async fn deployment_patch(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    Input(body): Input<DeploymentPatch>,
) -> ApiResult<Reply> {
    let blob = s.config.blob_storage_uri.as_deref();
    Reply::ok(&app::patch(s.store.as_ref(), blob, &ns, &id, body).await?)
}

/// Deletes a deployment whose desired state is CANCELLED and whose status is not RUNNING or
/// TRANSITIONING, with its jobs, events and savepoint resources. The data stateplane wrote for its
/// snapshots (savepoints it took, retained checkpoints under the directories it derived) goes too
/// when nothing outside the deployment points to it: then the controller disposes of it before
/// deleting the deployment, and the answer's `stateplane.io/deletion` annotation is
/// `disposing-snapshot-data` (the deployment answers 404 once that is done). `keepSnapshotData=true`
/// keeps all data and deletes at once. Either way the answer is 200 with the deployment, the code
/// Ververica's API answers (its swagger lists 200 and 204 for this DELETE, so its generated clients
/// know no 202); its `stateplane.io/snapshot-data` annotation (and a namespace event
/// `DEPLOYMENT_DELETED`) says what happens to the data.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}", tag = "deployments", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment id (UUID) or name"),
        ("keepSnapshotData" = Option<bool>, Query, description = "true: keep every snapshot's data on storage and delete the deployment at once")),
    responses((status = 200, description = "Deleted, or being deleted (annotation `stateplane.io/deletion: disposing-snapshot-data`: the controller disposes of its snapshots' data, then deletes it); the deployment as it was, its `stateplane.io/snapshot-data` annotation saying what happens to the data", body = Deployment),
        (status = 400, description = "INVALID_PARAMETER (keepSnapshotData is not true or false)", body = ErrorBody),
        (status = 409, description = "DEPLOYMENT_NOT_CANCELLED, SAVEPOINT_IN_PROGRESS", body = ErrorBody)))]
pub async fn deployment_delete(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    q: Params,
) -> ApiResult<Reply> {
    let keep = match q.get("keepSnapshotData") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(crate::error::ApiError::parameter(
                "keepSnapshotData",
                "must be true or false",
            ))
        }
    };
    // Pending or not, 200: the annotation says which (see above).
    let done = crate::app::teardown::delete(&s, &ns, &id, keep).await?;
    Reply::ok(&done.deployment)
}

/// Which snapshot the next start restores from under the deployment's restore strategy, and why every
/// other savepoint of the deployment would not be used.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}/restore-preview", tag = "deployments", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment id (UUID) or name")),
    responses((status = 200, description = "The restore decision", body = RestoreDecision)))]
pub async fn deployment_restore_preview(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    Reply::ok(&app::restore_preview(s.store.as_ref(), &ns, &id).await?)
}
