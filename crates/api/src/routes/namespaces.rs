//! `/api/v1/namespaces[/{namespace}]`

use axum::extract::State;
use stateplane_model::{Namespace, ResourceList};

use crate::app::namespaces as app;
use crate::bodies::NamespaceCreate;
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::openapi::NamespaceList;
use crate::params::ApiPath;
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/namespaces", tag = "namespaces", security(("bearer" = [])),
    responses((status = 200, description = "All namespaces, by name", body = NamespaceList)))]
pub async fn namespace_list(State(s): State<AppState>) -> ApiResult<Reply> {
    Reply::ok(&ResourceList::new(
        "Namespace",
        app::list(s.store.as_ref()).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/namespaces", tag = "namespaces", security(("bearer" = ["admin"])), request_body = NamespaceCreate,
    responses((status = 201, description = "Created", body = Namespace),
        (status = 409, description = "ALREADY_EXISTS", body = ErrorBody)))]
pub async fn namespace_create(
    State(s): State<AppState>,
    Input(body): Input<NamespaceCreate>,
) -> ApiResult<Reply> {
    Reply::created(&app::create(s.store.as_ref(), body).await?)
}

#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}", tag = "namespaces", security(("bearer" = ["viewer"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    responses((status = 200, description = "The namespace", body = Namespace)))]
pub async fn namespace_get(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<Reply> {
    Reply::ok(&app::get(s.store.as_ref(), &ns).await?)
}

/// Deletes the namespace and every resource in it (never savepoint data). Refused while any of its
/// deployments is not cancelled, and for `default`.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}", tag = "namespaces", security(("bearer" = ["admin"])),
    params(("namespace" = String, Path, description = "Namespace name")),
    responses((status = 200, description = "Deleted; the namespace as it was", body = Namespace),
        (status = 409, description = "NAMESPACE_IN_USE or REFUSED (default)", body = ErrorBody)))]
pub async fn namespace_delete(
    State(s): State<AppState>,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<Reply> {
    Reply::ok(&app::delete(s.store.as_ref(), &ns).await?)
}
