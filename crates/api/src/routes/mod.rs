//! HTTP handlers: parse the request, call one function of [`crate::app`], convert the result.
//!
//! Each handler carries its OpenAPI description (`#[utoipa::path]`); [`crate::openapi`] collects them.
//! Error responses common to all operations (400, 404, 413, 415, 422, 503) are added to the document
//! there, so only the operation-specific ones are listed here.

pub mod api_tokens;
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
