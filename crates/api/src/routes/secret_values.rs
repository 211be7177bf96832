//! `/api/v1/namespaces/{namespace}/secret-values[/{name}]`: owner of the namespace only; the value is
//! write-only (see [`crate::app::secret_values`]).

use axum::extract::State;
use stateplane_model::{ResourceList, SecretValue};

use crate::app::secret_values as app;
use crate::compat_bodies::SecretValueBody;
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::openapi::SecretValueList;
use crate::params::{ApiPath, Params};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/secret-values", tag = "secret-values", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("labelSelector" = Option<String>, Query, description = "Kubernetes label selector")),
    responses((status = 200, description = "Secret values of the namespace, by name (never their values)", body = SecretValueList)))]
pub async fn secret_value_list(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    q: Params,
) -> ApiResult<Reply> {
    let items = app::list(s.store.as_ref(), &ns, q.selector()?.as_ref()).await?;
    Reply::ok(&ResourceList::new("SecretValue", items))
}

/// `{metadata: {name}, spec: {kind: PLAIN, value}}`; the value is sealed with the server's key.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/secret-values", tag = "secret-values", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    request_body = SecretValueBody,
    responses((status = 201, description = "Created (without the value)", body = SecretValue),
        (status = 409, description = "ALREADY_EXISTS, or REFUSED: the server has no secret key", body = ErrorBody)))]
pub async fn secret_value_create(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
    Input(body): Input<SecretValueBody>,
) -> ApiResult<Reply> {
    Reply::created(&app::create(&s, &ns, body).await?)
}

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/secret-values/{name}", tag = "secret-values", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"), ("name" = String, Path, description = "Secret value name")),
    responses((status = 200, description = "The secret value (without the value)", body = SecretValue)))]
pub async fn secret_value_get(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    Reply::ok(&app::get(s.store.as_ref(), &ns, &name).await?)
}

/// A new `spec.value`, labels or annotations; `metadata.resourceVersion` honoured when given.
#[utoipa::path(patch, path = "/api/v1/namespaces/{namespace}/secret-values/{name}", tag = "secret-values", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"), ("name" = String, Path, description = "Secret value name")),
    request_body = SecretValueBody,
    responses((status = 200, description = "Updated (without the value)", body = SecretValue),
        (status = 409, description = "CONFLICT: metadata.resourceVersion is stale", body = ErrorBody)))]
pub async fn secret_value_patch(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
    Input(body): Input<SecretValueBody>,
) -> ApiResult<Reply> {
    Reply::ok(&app::patch(&s, &ns, &name, body).await?)
}

/// Deletes it; a deployment that still refers to it fails its next start, naming it.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/secret-values/{name}", tag = "secret-values", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"), ("name" = String, Path, description = "Secret value name")),
    responses((status = 200, description = "Deleted; the resource as it was", body = SecretValue)))]
pub async fn secret_value_delete(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<Reply> {
    Reply::ok(&app::delete(s.store.as_ref(), &ns, &name).await?)
}
