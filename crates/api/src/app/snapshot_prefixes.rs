//! The prefixes a namespace's registered snapshots may come from (admin-set), and the check every
//! registration passes ([`stateplane_model::storage::prefixes`]).

use serde::Deserialize;
use stateplane_model::storage::prefixes::{self, SnapshotPrefixes};
use stateplane_store::{Store, StoreError};
use utoipa::ToSchema;

use super::namespace_not_found;
use crate::error::{ApiError, ApiResult};

/// Body of `PUT …/storage/allowed-prefixes`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SnapshotPrefixesBody {
    /// Storage URIs (`s3://bucket/team-a`, `file:///srv/snapshots`); empty: no restriction.
    pub prefixes: Vec<String>,
}

fn not_found(ns: &str) -> impl FnOnce(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound { .. } => namespace_not_found(ns),
        e => e.into(),
    }
}

pub async fn get(store: &dyn Store, ns: &str) -> ApiResult<SnapshotPrefixes> {
    store.snapshot_prefixes_get(ns).await.map_err(not_found(ns))
}

/// Replaces the namespace's prefixes (checked and normalised first: 422 on `prefixes[i]`).
pub async fn put(
    store: &dyn Store,
    ns: &str,
    body: SnapshotPrefixesBody,
) -> ApiResult<SnapshotPrefixes> {
    let mut p = SnapshotPrefixes::none(ns);
    p.prefixes = prefixes::validate(&body.prefixes)?;
    store.snapshot_prefixes_put(&p).await.map_err(not_found(ns))
}

/// Refuses a registration at `location` (the value of `field`) outside the namespace's allowed
/// prefixes: 422 naming the field and the prefixes.
pub async fn check(
    store: &dyn Store,
    ns: &str,
    location: &str,
    blob: Option<&str>,
    field: &str,
) -> ApiResult<()> {
    let p = get(store, ns).await?;
    if p.allows(location, blob) {
        return Ok(());
    }
    Err(ApiError::invalid(
        field,
        format!(
            "namespace '{ns}' accepts registered snapshots only from {} (set by the admin) or its own \
             blob-storage directories",
            p.prefixes.join(", ")
        ),
    ))
}
