//! `/api/v1/namespaces/{namespace}/deployment-targets[/{name}]`

use axum::extract::State;
use stateplane_model::{DeploymentTarget, ResourceList};

use crate::app::targets as app;
use crate::bodies::DeploymentTargetCreate;
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::openapi::DeploymentTargetList;
use crate::params::{ApiPath, Params};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/deployment-targets", tag = "deployment-targets", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("labelSelector" = Option<String>, Query, description = "Kubernetes label selector")),
    responses((status = 200, description = "Targets of the namespace", body = DeploymentTargetList)))]
pub async fn deployment_target_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    q: Params,
) -> ApiResult<Reply> {
    let items = app::list(s.store.as_ref(), &ns, q.selector()?.as_ref()).await?;
    Reply::ok(&ResourceList::new("DeploymentTarget", items))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/deployment-targets", tag = "deployment-targets", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = DeploymentTargetCreate,
    responses((status = 201, description = "Created", body = DeploymentTarget),
        (status = 409, description = "ALREADY_EXISTS", body = ErrorBody)))]
pub async fn deployment_target_create(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<DeploymentTargetCreate>,
) -> ApiResult<Reply> {
    Reply::created(&app::create(s.store.as_ref(), &ns, body).await?)
}

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/deployment-targets/{name}", tag = "deployment-targets", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name"), ("name" = String, Path, description = "Target name")),
    responses((status = 200, description = "The target", body = DeploymentTarget)))]
pub async fn deployment_target_get(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    Reply::ok(&app::get(s.store.as_ref(), &ns, &name).await?)
}

/// Refused while a deployment of the namespace names the target in `spec.deploymentTargetName`.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/deployment-targets/{name}", tag = "deployment-targets", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"), ("name" = String, Path, description = "Target name")),
    responses((status = 200, description = "Deleted; the target as it was", body = DeploymentTarget),
        (status = 409, description = "TARGET_IN_USE", body = ErrorBody)))]
pub async fn deployment_target_delete(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    Reply::ok(&app::delete(s.store.as_ref(), &ns, &name).await?)
}
