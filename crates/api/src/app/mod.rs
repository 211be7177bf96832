//! The application layer: the rules of every operation, written against the [`Store`] trait only.
//!
//! Each function checks everything first and then makes exactly one store write (a create, a
//! compare-and-swap update or a delete), so a refused request changes nothing. Updates without a
//! client-given `resourceVersion` re-read and retry a few times on a conflict; with one, a conflict is
//! the client's 409.

use stateplane_store::{Store, StoreError};

use crate::error::{ApiError, ApiResult};

pub mod api_tokens;
pub mod defaults;
pub mod deployments;
pub mod events;
pub mod fences;
pub mod jobs;
pub mod namespaces;
pub mod orphans;
pub mod savepoints;
pub mod secret_values;
pub mod snapshot_prefixes;
pub mod snapshots;
pub mod targets;
pub mod teardown;
pub mod upgrade_preview;
pub mod upsert;
pub mod watch;

/// How often a read-modify-write is retried when someone else wrote in between.
const CAS_ATTEMPTS: usize = 5;

/// 404 unless the namespace exists.
pub async fn ensure_namespace(store: &dyn Store, ns: &str) -> ApiResult<()> {
    match store.namespace_get(ns).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => Err(namespace_not_found(ns)),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn namespace_not_found(ns: &str) -> ApiError {
    ApiError::NotFound {
        kind: "namespace",
        id: ns.to_string(),
        namespace: None,
    }
}

/// Maps a store `NotFound` to a 404 naming the resource and namespace; other errors as usual.
pub(crate) fn or_not_found(
    kind: &'static str,
    id: impl ToString,
    ns: &str,
) -> impl FnOnce(StoreError) -> ApiError {
    let id = id.to_string();
    let ns = ns.to_string();
    move |e| match e {
        StoreError::NotFound { .. } => ApiError::NotFound {
            kind,
            id,
            namespace: Some(ns),
        },
        e => e.into(),
    }
}

/// A member the rules require (`metadata.name`, a token's `role`): 422 `INVALID_FIELD` when it is
/// missing or `null` (its type was checked when the body was read).
pub(crate) fn required(field: &str, value: Option<String>) -> ApiResult<String> {
    value.ok_or_else(|| ApiError::invalid(field, "is required"))
}

/// 409 for a PATCH based on an old read.
pub(crate) fn stale(kind: &str, name: &str, expected: i64, actual: i64) -> ApiError {
    ApiError::Conflict(format!(
        "{kind} '{name}' is at resourceVersion {actual} but your change is based on {expected}: \
         read it again, reapply your change and retry"
    ))
}

/// 409 when a resource kept changing during every retry.
pub(crate) fn busy(kind: &str, name: &str) -> ApiError {
    ApiError::Conflict(format!(
        "{kind} '{name}' kept changing while the request was applied; retry"
    ))
}
