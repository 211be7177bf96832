//! The parts of Ververica Platform's 2.4+ API a client probes or uses beyond 2.1: `PUT` (upsert) of a
//! deployment and of a deployment target by name, `GET /api/v1/status` and
//! `/api/v1/status/system-info`.

use axum::extract::State;
use serde::Serialize;
use stateplane_model::{Deployment, DeploymentTarget, API_VERSION};
use utoipa::ToSchema;

use crate::app::upsert::{self, Upserted};
use crate::compat_bodies::{DeploymentPut, DeploymentTargetPut};
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::params::ApiPath;
use crate::AppState;

fn reply<T: Serialize>(u: Upserted<T>) -> ApiResult<Reply> {
    match u {
        Upserted::Created(v) => Reply::created(&v),
        Upserted::Replaced(v) => Reply::ok(&v),
    }
}

/// Creates the deployment named in the path (201), or replaces it (200) exactly as a PATCH making the
/// same change would: same validation, spec-version rule (a changed template upgrades a running job
/// under its upgrade strategy) and `metadata.resourceVersion` check. The namespace's deployment
/// defaults are merged under `spec`; `status` in the body is ignored.
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}", tag = "deployments", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment name (creates or replaces) or id (replaces)")),
    request_body = DeploymentPut,
    responses((status = 200, description = "Replaced", body = Deployment),
        (status = 201, description = "Created", body = Deployment),
        (status = 409, description = "CONFLICT: metadata.resourceVersion is stale", body = ErrorBody)))]
pub async fn deployment_put(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    Input(body): Input<DeploymentPut>,
) -> ApiResult<Reply> {
    let blob = s.config.blob_storage_uri.as_deref();
    reply(upsert::deployment(s.store.as_ref(), blob, &ns, &id, body).await?)
}

/// Creates the target named in the path (201) or replaces its REST URL, labels and annotations (200).
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/deployment-targets/{name}", tag = "deployment-targets", security(("bearer" = ["owner"])),
    params(("namespace" = String, Path, description = "Namespace name"), ("name" = String, Path, description = "Target name")),
    request_body = DeploymentTargetPut,
    responses((status = 200, description = "Replaced", body = DeploymentTarget),
        (status = 201, description = "Created", body = DeploymentTarget),
        (status = 409, description = "CONFLICT: metadata.resourceVersion is stale", body = ErrorBody)))]
pub async fn deployment_target_put(
    State(s): State<AppState>,
    ApiPath((ns, name)): ApiPath<(String, String)>,
    Input(body): Input<DeploymentTargetPut>,
) -> ApiResult<Reply> {
    reply(upsert::target(s.store.as_ref(), &ns, &name, body).await?)
}

/// The body of `GET /api/v1/status`.
#[derive(Serialize, ToSchema)]
pub struct ServerStatus {
    /// `OK` once the store answers (a failing store answers 503 instead).
    pub status: &'static str,
}

/// Whether the server runs (Ververica's probe).
#[utoipa::path(get, path = "/api/v1/status", tag = "status", security(()),
    responses((status = 200, description = "The server and its store answer", body = ServerStatus)))]
pub async fn status(State(s): State<AppState>) -> ApiResult<Reply> {
    s.store.namespace_list().await?;
    Reply::ok(&ServerStatus { status: "OK" })
}

/// `SystemInformation`, Ververica's shape.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemInformation {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub status: SystemInformationStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemInformationStatus {
    /// This server runs no JVM: `none (stateplane is written in Rust)`.
    pub jvm_version: &'static str,
    pub revision_information: RevisionInformation,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInformation {
    /// stateplane's version.
    pub build_version: &'static str,
}

/// The server's version, in Ververica's `SystemInformation` shape.
#[utoipa::path(get, path = "/api/v1/status/system-info", tag = "status", security(("bearer" = [])),
    responses((status = 200, description = "What the server is", body = SystemInformation)))]
pub async fn system_info() -> ApiResult<Reply> {
    Reply::ok(&SystemInformation {
        api_version: API_VERSION,
        kind: "SystemInformation",
        status: SystemInformationStatus {
            jvm_version: "none (stateplane is written in Rust)",
            revision_information: RevisionInformation {
                build_version: env!("CARGO_PKG_VERSION"),
            },
        },
    })
}
