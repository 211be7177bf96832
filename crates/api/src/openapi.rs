//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` attributes and the model's
//! schemas, served at `GET /api/v1/openapi.json`.
//!
//! After generation every operation gets the error responses all operations share (400, 404, 503; for
//! operations with a body also 413, 415, 422), and every JSON body is offered as YAML too, so the
//! document describes what the server really answers (it is meant to be fuzzed with schemathesis).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stateplane_model::{
    Deployment, DeploymentSpec, DeploymentTarget, DeploymentTargetSpec, Event, Job, Namespace,
    Savepoint, SavepointFormat, SavepointState,
};
use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi as OpenApiDoc, Ref, RefOr, Response};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::format::Reply;
use crate::routes;

macro_rules! list_schema {
    ($name:ident, $item:ty, $kind:literal) => {
        #[doc = concat!("`ResourceListOf", $kind, "`.")]
        #[derive(Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// Always `v1`.
            pub api_version: String,
            #[schema(example = $kind)]
            pub kind: String,
            #[schema(value_type = Object)]
            pub metadata: serde_json::Map<String, Value>,
            pub items: Vec<$item>,
        }
    };
}

list_schema!(NamespaceList, Namespace, "ResourceListOfNamespace");
list_schema!(DeploymentList, Deployment, "ResourceListOfDeployment");
list_schema!(
    DeploymentTargetList,
    DeploymentTarget,
    "ResourceListOfDeploymentTarget"
);
list_schema!(SavepointList, Savepoint, "ResourceListOfSavepoint");
list_schema!(JobList, Job, "ResourceListOfJob");
list_schema!(EventList, Event, "ResourceListOfEvent");

/// Body of `POST /api/v1/namespaces`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NamespaceCreate {
    pub metadata: NameOnly,
}

/// `{name}`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NameOnly {
    /// A DNS label: lower-case letters, digits and `-`, at most 63 characters.
    #[schema(example = "team-a", pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub name: String,
}

/// Metadata a client sets when creating a resource.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMetadata {
    /// A DNS label, unique in the namespace.
    #[schema(
        example = "word-count",
        pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    )]
    pub name: String,
    pub display_name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Body of `POST …/deployments`: `spec` is merged over the namespace's deployment defaults.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeploymentCreate {
    pub metadata: CreateMetadata,
    pub spec: DeploymentSpec,
}

/// Metadata a PATCH may change.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchMetadata {
    pub display_name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    /// The version the change is based on: the PATCH is refused (409) if the resource changed since.
    pub resource_version: Option<i64>,
}

/// Body of `PATCH …/deployments/{deploymentId}`: a JSON merge patch (RFC 7396).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeploymentPatch {
    pub metadata: Option<PatchMetadata>,
    /// A partial DeploymentSpec; `null` removes a field.
    #[schema(value_type = Option<Object>)]
    pub spec: Option<Value>,
}

/// `{resourceVersion}`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionOnly {
    pub resource_version: Option<i64>,
}

/// Body of `PATCH …/deployment-defaults`: a JSON merge patch of the partial spec.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeploymentDefaultsPatch {
    pub metadata: Option<VersionOnly>,
    /// A partial DeploymentSpec; `null` removes a field.
    #[schema(value_type = Option<Object>)]
    pub spec: Option<Value>,
}

/// Body of `POST …/deployment-targets`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeploymentTargetCreate {
    pub metadata: CreateMetadata,
    pub spec: DeploymentTargetSpec,
}

/// Metadata of a savepoint POST.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointCreateMetadata {
    #[schema(value_type = String, format = Uuid)]
    pub deployment_id: uuid::Uuid,
    /// Carry `com.dataartisans.appmanager.controller.deployment.spec.version` when registering, or
    /// the savepoint is never used for a restore.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Spec of a savepoint POST.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointCreateSpec {
    /// Register only: the snapshot directory.
    pub savepoint_location: Option<String>,
    /// Register only.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub flink_savepoint_id: Option<uuid::Uuid>,
    /// Request only: CANONICAL (default) or NATIVE.
    pub format_type: Option<SavepointFormat>,
}

/// Status of a savepoint POST: `COMPLETED` to register.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SavepointCreateStatus {
    pub state: Option<SavepointState>,
}

/// Body of `POST …/savepoints`: `{metadata: {deploymentId}}` alone requests a savepoint;
/// with `spec.savepointLocation` and `status.state: COMPLETED` it registers an existing snapshot.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SavepointCreateBody {
    pub metadata: SavepointCreateMetadata,
    pub spec: Option<SavepointCreateSpec>,
    pub status: Option<SavepointCreateStatus>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stateplane API",
        description = "Runs Apache Flink jobs as Deployments and keeps savepoints as first-class resources. \
                       Compatible with Ververica Platform's Application Manager API v1. Bodies in and out as \
                       application/json or application/yaml. Every error answers {code, message, field}.",
        version = "1.0.0"
    ),
    paths(
        routes::health::healthz,
        routes::namespaces::namespace_list,
        routes::namespaces::namespace_create,
        routes::namespaces::namespace_get,
        routes::namespaces::namespace_delete,
        routes::deployment_defaults::deployment_defaults_get,
        routes::deployment_defaults::deployment_defaults_patch,
        routes::deployments::deployment_list,
        routes::deployments::deployment_create,
        routes::deployments::deployment_get,
        routes::deployments::deployment_patch,
        routes::deployments::deployment_delete,
        routes::deployments::deployment_restore_preview,
        routes::deployment_targets::deployment_target_list,
        routes::deployment_targets::deployment_target_create,
        routes::deployment_targets::deployment_target_get,
        routes::deployment_targets::deployment_target_delete,
        routes::savepoints::savepoint_list,
        routes::savepoints::savepoint_create,
        routes::savepoints::savepoint_get,
        routes::savepoints::savepoint_delete,
        routes::savepoints::savepoint_copy,
        routes::jobs::job_list,
        routes::jobs::job_get,
        routes::events::event_list,
        routes::api_tokens::api_token_list,
        routes::api_tokens::api_token_create,
        routes::api_tokens::api_token_get,
        routes::api_tokens::api_token_delete,
        openapi_json,
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

const JSON: &str = "application/json";
const YAML: &str = "application/yaml";

fn error_response(description: &str) -> RefOr<Response> {
    let mut r = Response::new(description);
    r.content.insert(
        JSON.into(),
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    );
    r.content.insert(
        YAML.into(),
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    );
    RefOr::T(r)
}

fn complete(op: &mut Operation, open: bool) {
    let has_body = op.request_body.is_some();
    if let Some(body) = op.request_body.as_mut() {
        if let Some(json) = body.content.get(JSON).cloned() {
            body.content.insert(YAML.into(), json);
        }
    }
    for r in op.responses.responses.values_mut() {
        if let RefOr::T(r) = r {
            if let Some(json) = r.content.get(JSON).cloned() {
                r.content.insert(YAML.into(), json);
            }
        }
    }
    let mut common = vec![
        ("400", "MALFORMED_BODY or INVALID_PARAMETER: the body does not parse, or a path or query parameter is malformed; `field` names it"),
        ("404", "NOT_FOUND: the namespace or resource does not exist"),
        ("503", "STORE_UNAVAILABLE: the store failed; retry"),
    ];
    if !open {
        common.extend([
            ("401", "UNAUTHENTICATED: the server requires an API token (`Authorization: Bearer <token>`) and none or an invalid one was sent"),
            ("403", "FORBIDDEN: the token's role does not allow this, or the namespace is not the token's"),
        ]);
    }
    if has_body {
        common.extend([
            ("413", "PAYLOAD_TOO_LARGE: the body exceeds 1 MiB"),
            ("415", "UNSUPPORTED_MEDIA_TYPE: send application/json or application/yaml"),
            ("422", "MALFORMED_FIELD (wrong type or shape) or INVALID_FIELD (breaks a rule); `field` names the field"),
        ]);
    }
    for (status, description) in common {
        op.responses
            .responses
            .entry(status.into())
            .or_insert_with(|| error_response(description));
    }
}

/// The OpenAPI document.
pub fn document() -> OpenApiDoc {
    let mut doc = ApiDoc::openapi();
    for (path, item) in doc.paths.paths.iter_mut() {
        let open = crate::auth::policy::need(&axum::http::Method::GET, Some(path))
            == crate::auth::Need::Open;
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
            &mut item.put,
        ]
        .into_iter()
        .flatten()
        {
            complete(op, open);
        }
    }
    doc
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document of this API", body = Object)))]
pub async fn openapi_json() -> ApiResult<Reply> {
    static DOC: OnceLock<Value> = OnceLock::new();
    let doc = DOC.get_or_init(|| serde_json::to_value(document()).unwrap_or_default());
    Reply::ok(doc)
}
