//! HTTP handlers: parse the request, call one function of [`crate::app`], convert the result.
//!
//! Each handler is declared once, by its `#[utoipa::path]`: path, method, parameters, request body,
//! responses and the permission it needs (`security`, see [`crate::auth::policy`]). [`declared`] turns
//! those declarations into the router and the OpenAPI document at the same time, so a route cannot
//! be served undocumented or documented unserved. Error responses common to all operations (400, 401,
//! 403, 404, 413, 415, 422, 503) are added to the document in [`crate::openapi`], so only the
//! operation-specific ones are listed here.

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub mod access;
pub mod api_tokens;
pub mod compat;
pub mod deployment_defaults;
pub mod deployment_targets;
pub mod deployments;
pub mod events;
pub mod fallback;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod namespaces;
pub mod savepoints;
pub mod secret_values;
pub mod snapshots;
pub mod storage;
pub mod upgrade_preview;

/// Every documented operation, grouped by path (one `routes!` per path).
pub(crate) fn declared() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(compat::status))
        .routes(routes!(compat::system_info))
        .routes(routes!(
            secret_values::secret_value_list,
            secret_values::secret_value_create
        ))
        .routes(routes!(
            secret_values::secret_value_get,
            secret_values::secret_value_patch,
            secret_values::secret_value_delete
        ))
        .routes(routes!(crate::openapi::openapi_json))
        .routes(routes!(
            namespaces::namespace_list,
            namespaces::namespace_create
        ))
        .routes(routes!(
            namespaces::namespace_get,
            namespaces::namespace_delete
        ))
        .routes(routes!(access::access_get))
        .routes(routes!(
            deployment_defaults::deployment_defaults_get,
            deployment_defaults::deployment_defaults_patch
        ))
        .routes(routes!(
            deployments::deployment_list,
            deployments::deployment_create
        ))
        .routes(routes!(
            deployments::deployment_get,
            deployments::deployment_patch,
            compat::deployment_put,
            deployments::deployment_delete
        ))
        .routes(routes!(deployments::deployment_restore_preview))
        .routes(routes!(upgrade_preview::deployment_upgrade_preview))
        .routes(routes!(upgrade_preview::deployment_replace_preview))
        .routes(routes!(
            deployment_targets::deployment_target_list,
            deployment_targets::deployment_target_create
        ))
        .routes(routes!(
            deployment_targets::deployment_target_get,
            compat::deployment_target_put,
            deployment_targets::deployment_target_delete
        ))
        .routes(routes!(
            savepoints::savepoint_list,
            savepoints::savepoint_create
        ))
        .routes(routes!(
            savepoints::savepoint_get,
            savepoints::savepoint_delete
        ))
        .routes(routes!(savepoints::savepoint_copy))
        .routes(routes!(snapshots::savepoint_snapshot_get))
        .routes(routes!(snapshots::deployment_snapshot_list))
        .routes(routes!(storage::storage_orphan_list))
        .routes(routes!(storage::storage_orphan_dispose))
        .routes(routes!(
            storage::storage_allowed_prefixes_get,
            storage::storage_allowed_prefixes_put
        ))
        .routes(routes!(jobs::job_list))
        .routes(routes!(jobs::job_get))
        .routes(routes!(events::event_list))
        .routes(routes!(
            api_tokens::api_token_list,
            api_tokens::api_token_create
        ))
        .routes(routes!(
            api_tokens::api_token_get,
            api_tokens::api_token_delete
        ))
}
