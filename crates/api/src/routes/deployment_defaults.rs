//! `/api/v1/namespaces/{namespace}/deployment-defaults`

use axum::extract::State;
use stateplane_model::DeploymentDefaults;

use crate::app::defaults as app;
use crate::bodies::DeploymentDefaultsPatch;
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::params::ApiPath;
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/deployment-defaults", tag = "deployment-defaults", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    responses((status = 200, description = "The defaults (resourceVersion 0 when never set)", body = DeploymentDefaults)))]
pub async fn deployment_defaults_get(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<Reply> {
    Reply::ok(&app::get(s.store.as_ref(), &ns).await?)
}

/// JSON merge patch (RFC 7396) of `{spec: …}`, a partial deployment spec merged under every new
/// deployment of the namespace.
#[utoipa::path(patch, path = "/api/v1/namespaces/{namespace}/deployment-defaults", tag = "deployment-defaults", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = DeploymentDefaultsPatch,
    responses((status = 200, description = "The defaults after the patch", body = DeploymentDefaults),
        (status = 409, description = "CONFLICT: metadata.resourceVersion is stale", body = ErrorBody)))]
pub async fn deployment_defaults_patch(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<DeploymentDefaultsPatch>,
) -> ApiResult<Reply> {
    Reply::ok(&app::patch(s.store.as_ref(), &ns, body).await?)
}
