//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` attributes (collected with
//! the routes themselves, by [`crate::routes::declared`]) and the model's schemas, served at
//! `GET /api/v1/openapi.json`.
//!
//! After generation every operation gets the error responses all operations share (400, 404, 503; for
//! protected operations 401 and 403; for operations with a body also 413, 415, 422), and every JSON body
//! is offered as YAML too, so the document describes what the server really answers (it is meant to be
//! fuzzed with schemathesis). The `bearer` security scheme names, per operation, the role it needs
//! ([`crate::auth::policy`] reads the access rules from here).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use stateplane_model::{Deployment, DeploymentTarget, Event, Job, Namespace, Savepoint};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as OpenApiDoc, Ref, RefOr, Response};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::format::Reply;

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
list_schema!(
    SecretValueList,
    stateplane_model::SecretValue,
    "ResourceListOfSecretValue"
);

/// What the document says besides the operations, which [`crate::routes::declared`] adds.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "stateplane API",
        description = "Runs Apache Flink jobs as Deployments and keeps savepoints as first-class resources. \
                       Compatible with Ververica Platform's Application Manager API v1. Bodies in and out as \
                       application/json or application/yaml. Every error answers {code, message, field}.",
        version = "1.0.0"
    ),
    components(schemas(ErrorBody))
)]
pub(crate) struct ApiDoc;

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

/// The security scheme every protected operation names, with the role it needs (see
/// [`crate::auth::policy`]).
pub const SCHEME: &str = "bearer";

/// Whether an operation is declared open (`security(())`: an empty requirement, no credentials).
pub(crate) fn is_open(op: &Operation) -> bool {
    op.security.as_deref() == Some(&[SecurityRequirement::default()][..])
}

fn build() -> OpenApiDoc {
    let mut doc = crate::routes::declared().into_openapi();
    doc.components.get_or_insert_with(Default::default).add_security_scheme(
        SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "Needed only when the server runs with --auth: the admin token, or an API token of \
                     the path's namespace. An operation's requirement names the role it needs (viewer, \
                     editor or owner of the namespace, or admin; none: any valid token).",
                ))
                .build(),
        ),
    );
    for item in doc.paths.paths.values_mut() {
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
            let open = is_open(op);
            complete(op, open);
        }
    }
    doc
}

/// The OpenAPI document (built once).
pub fn document() -> &'static OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(build)
}

/// The document as JSON (built once): what `GET /api/v1/openapi.json` serves, and where the YAML
/// reader finds the schemas of request bodies.
pub(crate) fn document_json() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(document()).unwrap_or_default())
}

/// The schema of the request body `T` and the document it is part of, for
/// [`crate::yaml::from_slice_as`].
pub fn body_schema<T: ToSchema>() -> Option<(&'static Value, &'static Value)> {
    let doc = document_json();
    let schema = doc
        .pointer("/components/schemas")?
        .get(T::name().as_ref())?;
    Some((schema, doc))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3 document of this API", body = Object)))]
pub async fn openapi_json() -> ApiResult<Reply> {
    Reply::ok(document_json())
}
