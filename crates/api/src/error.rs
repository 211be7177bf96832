//! Every way an API request can fail, and the one place where that becomes an HTTP response.
//!
//! A client always gets `{"code", "message", "field"?}`: `code` is stable and meant for programs,
//! `message` says what to do about it, `field` names the body field, path or query parameter at fault.
//! Storage failures are logged here and shown only as a generic 503 `STORE_UNAVAILABLE`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stateplane_model::ValidationError;
use stateplane_store::StoreError;
use utoipa::ToSchema;

use crate::format::Payload;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `NOT_FOUND`, `INVALID_FIELD`, `CONFLICT`.
    pub code: String,
    /// What went wrong and, where possible, how to fix it.
    pub message: String,
    /// The body field (dotted path), path parameter or query parameter at fault, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Errors of the API and its application layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not well-formed JSON or YAML, or is empty (400 `MALFORMED_BODY`).
    #[error("{0}")]
    MalformedBody(String),
    /// A body field has the wrong type or shape (422 `MALFORMED_FIELD`): the body parsed, but this field
    /// does not fit the schema.
    #[error("{field}: {message}")]
    MalformedField { field: String, message: String },
    /// A body field is well-formed but breaks a rule (422 `INVALID_FIELD`).
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// A path or query parameter is malformed (400 `INVALID_PARAMETER`).
    #[error("{name}: {message}")]
    InvalidParameter { name: String, message: String },
    /// No credentials, or ones that belong to nobody (401 `UNAUTHENTICATED`, with
    /// `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthenticated(String),
    /// The credentials are valid but do not allow this request: a role too small, or a namespace that is
    /// not the token's (403 `FORBIDDEN`).
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist, or not in this namespace (404 `NOT_FOUND`).
    #[error("{kind} '{id}' not found")]
    NotFound {
        kind: &'static str,
        id: String,
        namespace: Option<String>,
    },
    /// No route matches the path (404 `ROUTE_NOT_FOUND`).
    #[error("no route {0}")]
    RouteNotFound(String),
    /// The route exists but not for this method (405 `METHOD_NOT_ALLOWED`).
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// A resource with this name exists already (409 `ALREADY_EXISTS`).
    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// The resource changed since the client read it, or kept changing while we retried (409 `CONFLICT`).
    #[error("{0}")]
    Conflict(String),
    /// A deployment can be deleted only once cancelled and stopped (409 `DEPLOYMENT_NOT_CANCELLED`).
    #[error("{0}")]
    DeploymentNotCancelled(String),
    /// A namespace can be deleted only when all its deployments are cancelled (409 `NAMESPACE_IN_USE`).
    #[error("{0}")]
    NamespaceInUse(String),
    /// A deployment target can be deleted only when no deployment uses it (409 `TARGET_IN_USE`).
    #[error("{0}")]
    TargetInUse(String),
    /// The deployment has no savepoint directory and the server has no blob storage
    /// (409 `SAVEPOINTS_NOT_CONFIGURED`, message [`stateplane_model::paths::NO_SAVEPOINT_DIR`]).
    #[error("{}", stateplane_model::paths::NO_SAVEPOINT_DIR)]
    SavepointsNotConfigured,
    /// A savepoint needs a running job (409 `DEPLOYMENT_NOT_RUNNING`).
    #[error("{0}")]
    DeploymentNotRunning(String),
    /// The savepoint is still being taken (409 `SAVEPOINT_IN_PROGRESS`).
    #[error("{0}")]
    SavepointInProgress(String),
    /// A rule of the store refused the write; its message is written for users (409 `REFUSED`).
    #[error("{0}")]
    Refused(String),
    /// The body exceeds [`crate::BODY_LIMIT`] (413 `PAYLOAD_TOO_LARGE`).
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The Content-Type is neither JSON nor YAML (415 `UNSUPPORTED_MEDIA_TYPE`).
    #[error("unsupported content type '{0}'")]
    UnsupportedMediaType(String),
    /// Blob storage could not be listed or read (unreachable, credentials refused, too slow): 503
    /// `STORAGE_UNAVAILABLE`; the message names the location and the storage's reason, never a
    /// credential.
    #[error("{0}")]
    StorageUnavailable(String),
    /// The store failed; details are logged, never sent (503 `STORE_UNAVAILABLE`).
    #[error("the store is unavailable")]
    StoreUnavailable,
    /// An upgrade preview could not be answered now: Flink, storage or the server's previewer did
    /// not answer (503 `PREVIEW_UNAVAILABLE`, the message says why).
    #[error("the upgrade preview cannot be answered now: {0}")]
    PreviewUnavailable(String),
    /// A bug: something that cannot happen did (500 `INTERNAL`). Details are logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn parameter(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name: name.into(),
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: impl ToString, namespace: &str) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
            namespace: Some(namespace.to_string()),
        }
    }

    /// HTTP status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Self::MalformedBody(_) => (S::BAD_REQUEST, "MALFORMED_BODY"),
            Self::MalformedField { .. } => (S::UNPROCESSABLE_ENTITY, "MALFORMED_FIELD"),
            Self::InvalidField { .. } => (S::UNPROCESSABLE_ENTITY, "INVALID_FIELD"),
            Self::InvalidParameter { .. } => (S::BAD_REQUEST, "INVALID_PARAMETER"),
            Self::Unauthenticated(_) => (S::UNAUTHORIZED, "UNAUTHENTICATED"),
            Self::Forbidden(_) => (S::FORBIDDEN, "FORBIDDEN"),
            Self::NotFound { .. } => (S::NOT_FOUND, "NOT_FOUND"),
            Self::RouteNotFound(_) => (S::NOT_FOUND, "ROUTE_NOT_FOUND"),
            Self::MethodNotAllowed(_) => (S::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::AlreadyExists { .. } => (S::CONFLICT, "ALREADY_EXISTS"),
            Self::Conflict(_) => (S::CONFLICT, "CONFLICT"),
            Self::DeploymentNotCancelled(_) => (S::CONFLICT, "DEPLOYMENT_NOT_CANCELLED"),
            Self::NamespaceInUse(_) => (S::CONFLICT, "NAMESPACE_IN_USE"),
            Self::TargetInUse(_) => (S::CONFLICT, "TARGET_IN_USE"),
            Self::SavepointsNotConfigured => (S::CONFLICT, "SAVEPOINTS_NOT_CONFIGURED"),
            Self::DeploymentNotRunning(_) => (S::CONFLICT, "DEPLOYMENT_NOT_RUNNING"),
            Self::SavepointInProgress(_) => (S::CONFLICT, "SAVEPOINT_IN_PROGRESS"),
            Self::Refused(_) => (S::CONFLICT, "REFUSED"),
            Self::PayloadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::UnsupportedMediaType(_) => (S::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            Self::StorageUnavailable(_) => (S::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE"),
            Self::StoreUnavailable => (S::SERVICE_UNAVAILABLE, "STORE_UNAVAILABLE"),
            Self::PreviewUnavailable(_) => (S::SERVICE_UNAVAILABLE, "PREVIEW_UNAVAILABLE"),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "INTERNAL"),
        }
    }

    /// The body a client sees.
    pub fn body(&self) -> ErrorBody {
        let (_, code) = self.status_and_code();
        let (message, field) = match self {
            Self::MalformedField { field, message } | Self::InvalidField { field, message } => {
                (format!("{field}: {message}"), Some(field.clone()))
            }
            Self::InvalidParameter { name, message } => (format!("parameter '{name}': {message}"), Some(name.clone())),
            Self::NotFound { kind, id, namespace: Some(ns) } => {
                (format!("{kind} '{id}' not found in namespace '{ns}'"), None)
            }
            Self::RouteNotFound(route) => (
                format!("no such route: {route}; the API lives under /api/v1 (see /api/v1/openapi.json)"),
                None,
            ),
            Self::MethodNotAllowed(route) => (
                format!("{route}: this method is not supported on this path (see /api/v1/openapi.json)"),
                None,
            ),
            Self::PayloadTooLarge { limit } => (
                format!("request body exceeds the limit of {limit} bytes ({} MiB)", limit / (1024 * 1024)),
                Some("body".to_string()),
            ),
            Self::UnsupportedMediaType(ct) => (
                format!(
                    "unsupported Content-Type '{ct}': send application/json or application/yaml \
                     (also application/x-yaml, text/yaml)"
                ),
                None,
            ),
            Self::StoreUnavailable => {
                ("the store is unavailable; try again shortly (the server log has details)".to_string(), None)
            }
            Self::Internal(_) => {
                ("internal error; the server log has details, please report it".to_string(), None)
            }
            Self::MalformedBody(m) => (m.clone(), Some("body".to_string())),
            other => (other.to_string(), None),
        };
        ErrorBody {
            code: code.to_string(),
            message,
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Internal(detail) => tracing::error!(code, %detail, "request failed"),
            Self::StoreUnavailable => tracing::warn!(code, "request failed: store unavailable"),
            _ => tracing::debug!(code, error = %self, "request refused"),
        }
        let body = serde_json::to_value(self.body()).unwrap_or_default();
        let mut r = Payload::response(status, body);
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"stateplane\""),
            );
        }
        r
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        match e {
            ValidationError::Malformed { field, message } => {
                Self::MalformedField { field, message }
            }
            ValidationError::Invalid { field, message } => Self::InvalidField { field, message },
        }
    }
}

/// The store's errors as API errors. Callers that know better (a 409 with a specific code, a 404 with
/// the namespace) map the variants they expect themselves; this is the fallback.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => Self::NotFound {
                kind,
                id,
                namespace: None,
            },
            StoreError::AlreadyExists { kind, name } => Self::AlreadyExists { kind, name },
            StoreError::Conflict { kind, id, .. } => Self::Conflict(format!(
                "{kind} '{id}' was changed by someone else meanwhile; read it again and retry"
            )),
            StoreError::Refused(m) => Self::Refused(m),
            StoreError::Backend(detail) => {
                tracing::error!(%detail, "store backend error");
                Self::StoreUnavailable
            }
        }
    }
}

/// A shorthand for the result of handlers and application functions.
pub type ApiResult<T> = Result<T, ApiError>;
