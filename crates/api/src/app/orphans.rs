//! The orphan report of a namespace, and disposal of orphans on request.
//!
//! **Why the API lists storage itself.** The API records intent and never drives jobs; listing
//! storage is neither: it is a read, like the registration check, answered from what storage holds
//! now and the store's rows read right after (so whatever was recorded while listing counts). It is
//! bounded: at most [`MAX_FILES`] files per prefix and [`LIST_TIMEOUT`] in all; a listing cut short,
//! or a report longer than `limit`, says so (`truncated`, `truncatedReason`).
//!
//! **Why disposal is done here and not by the controller.** The controller's disposal protocol
//! (PENDING_DELETION → DELETING → gone) exists so that a *resource* is never forgotten before its data
//! is gone. An orphan has no resource, no deployment worker that would own it, and nothing to
//! forget: a disposal cut short leaves `_metadata` (deleted last), so the directory is still listed
//! and can be disposed of again. So the same safety rules are applied here, synchronously, to the
//! locations the caller names and nothing else: each must lie where the report looks
//! ([`orphans::place`]; anything else is a 422 before anything is deleted), is checked again against
//! fresh references right before it is deleted (in use: left alone, `IN_USE`), and is deleted through
//! the blob crate, which refuses a directory without `_metadata`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stateplane_blob::{dispose_with_surroundings, BlobError, BlobLocation, Disposal};
use stateplane_model::storage::layout::{self, Tree};
use stateplane_model::storage::orphans::{self, ConfiguredDir, OrphanKind, Place, References};
use stateplane_model::{normalize_location, now, Deployment};
use stateplane_store::{SavepointFilter, Store};
use utoipa::ToSchema;

use super::ensure_namespace;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Most files one prefix's listing reads.
pub const MAX_FILES: usize = 100_000;
/// Longest the whole listing may take.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// Orphans one report lists by default, and at most.
pub const DEFAULT_LIMIT: u32 = 500;
pub const MAX_LIMIT: u32 = 5000;
/// Locations one disposal request may name.
pub const MAX_DISPOSE: usize = 100;
/// Longest one orphan's disposal may take.
const DISPOSE_TIMEOUT: Duration = Duration::from_secs(120);

/// One snapshot directory nothing references.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Orphan {
    /// The directory holding `_metadata` (what a disposal request names).
    pub location: String,
    pub kind: OrphanKind,
    /// The deployment whose directory holds it.
    pub deployment_id: String,
    /// Whether that deployment still exists.
    pub deployment_exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    /// Bytes of the files in the directory (a checkpoint's `shared/` state is not counted).
    pub size_bytes: u64,
    pub files: u64,
    /// When its `_metadata` was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
}

/// `GET …/storage/orphans`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrphanReport {
    pub namespace: String,
    /// The prefixes listed: the namespace's derived ones, and the savepoint directories its
    /// deployments configure (where only `<dir>/<savepoint id>/…` counts).
    pub prefixes: Vec<String>,
    /// Oldest first.
    pub orphans: Vec<Orphan>,
    /// Bytes of the orphans listed.
    pub total_bytes: u64,
    /// Files read from storage.
    pub files_listed: u64,
    /// More may exist than listed.
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_reason: Option<String>,
    /// Why nothing was listed, when that is not because nothing is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Body of `POST …/storage/orphans:dispose`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrphanDisposeBody {
    /// Orphan locations from the report (1 to 100).
    pub locations: Vec<String>,
}

/// What became of one location of a disposal request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisposalOutcome {
    /// Deleted.
    Disposed,
    /// Nothing was there any more.
    AlreadyGone,
    /// Something references it now: left alone.
    InUse,
    /// Storage refused or did not answer; the message says why. Ask again.
    Failed,
}

/// What became of one location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrphanDisposal {
    pub location: String,
    pub outcome: DisposalOutcome,
    pub message: String,
    /// Directories removed with it (an empty target directory, a job's checkpoint directory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_removed: Vec<String>,
}

/// Answer of `POST …/storage/orphans:dispose`, one entry per location, in request order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrphanDisposeReport {
    pub results: Vec<OrphanDisposal>,
}

fn storage_error(e: BlobError) -> ApiError {
    ApiError::StorageUnavailable(format!("blob storage cannot be listed: {e}"))
}

/// The savepoint directories the namespace's deployments configure (outside the derived prefixes).
fn configured_dirs(deployments: &[Deployment], blob: Option<&str>) -> Vec<ConfiguredDir> {
    deployments
        .iter()
        .filter_map(|d| {
            let dir = d.configured_savepoint_dir()?.trim();
            let inside_derived = blob.is_some_and(|b| layout::derived(dir, b).is_some());
            (!dir.is_empty() && !inside_derived).then(|| ConfiguredDir {
                dir: normalize_location(dir),
                deployment: d.metadata.id.to_string(),
            })
        })
        .collect()
}

/// Everything that keeps data in use, in every namespace.
async fn references(store: &dyn Store) -> ApiResult<References> {
    let mut refs = References::default();
    for ns in store.namespace_list().await? {
        let all = store
            .savepoint_list(&ns.metadata.name, &SavepointFilter::default())
            .await?;
        for sp in all {
            refs.savepoint_ids.insert(sp.metadata.id.to_string());
            refs.locations.extend(sp.location_key());
        }
    }
    for job in store.jobs_active().await? {
        refs.active_flink_jobs.insert(job.flink_job_id());
        refs.locations.extend(
            job.spec
                .savepoint_location
                .as_deref()
                .map(normalize_location),
        );
    }
    Ok(refs)
}

/// The report of namespace `ns`: at most `limit` orphans, oldest first.
pub async fn report(state: &AppState, ns: &str, limit: Option<u32>) -> ApiResult<OrphanReport> {
    let store = state.store.as_ref();
    ensure_namespace(store, ns).await?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let blob = state.config.blob_storage_uri.as_deref();
    let deployments = store.deployment_list(Some(ns)).await?;
    let configured = configured_dirs(&deployments, blob);
    let mut prefixes: Vec<String> = blob
        .map(|b| {
            Tree::ALL
                .iter()
                .map(|t| layout::namespace_prefix(b, *t, ns))
                .collect()
        })
        .unwrap_or_default();
    for c in &configured {
        if !prefixes.contains(&c.dir) {
            prefixes.push(c.dir.clone());
        }
    }
    let mut out = OrphanReport {
        namespace: ns.to_string(),
        prefixes: prefixes.clone(),
        orphans: Vec::new(),
        total_bytes: 0,
        files_listed: 0,
        truncated: false,
        truncated_reason: None,
        note: None,
    };
    if prefixes.is_empty() {
        out.note = Some(
            "no blob storage is configured (--blob-storage-uri) and no deployment of the namespace \
             configures a savepoint directory: there is nothing stateplane laid out to look at"
                .into(),
        );
        return Ok(out);
    }
    // Storage first, then the store: a snapshot recorded while storage was listed is then seen as
    // referenced, never reported.
    let listing = async {
        let mut found = Vec::new();
        for prefix in &prefixes {
            let loc = BlobLocation::parse(prefix).map_err(storage_error)?;
            let s = loc.find_snapshots(MAX_FILES).await.map_err(storage_error)?;
            found.push((prefix.clone(), s));
        }
        Ok::<_, ApiError>(found)
    };
    let listed = tokio::time::timeout(LIST_TIMEOUT, listing)
        .await
        .map_err(|_| {
            ApiError::StorageUnavailable(format!(
                "listing blob storage did not finish within {} s",
                LIST_TIMEOUT.as_secs()
            ))
        })??;
    let refs = references(store).await?;
    let names: HashMap<String, String> = deployments
        .iter()
        .map(|d| (d.metadata.id.to_string(), d.metadata.name.clone()))
        .collect();
    let mut reasons = Vec::new();
    let mut orphans: BTreeMap<String, Orphan> = BTreeMap::new();
    let at = now();
    for (prefix, s) in listed {
        out.files_listed += s.files_listed;
        if s.truncated {
            reasons.push(format!(
                "the listing of {prefix} stopped after {MAX_FILES} files"
            ));
        }
        for f in s.snapshots {
            let Some(place) = orphans::place(&f.location, ns, blob, &configured) else {
                continue;
            };
            if refs.protects(&f.location).is_some() {
                continue;
            }
            let written_at: Option<DateTime<Utc>> = f.written_at.map(Into::into);
            let key = normalize_location(&f.location);
            orphans.insert(
                key.clone(),
                Orphan {
                    location: key,
                    kind: place.kind,
                    deployment_exists: names.contains_key(&place.deployment),
                    deployment_name: names.get(&place.deployment).cloned(),
                    deployment_id: place.deployment,
                    size_bytes: f.size,
                    files: f.files,
                    age_seconds: written_at.map(|w| (at - w).num_seconds().max(0)),
                    written_at,
                },
            );
        }
    }
    let mut all: Vec<Orphan> = orphans.into_values().collect();
    all.sort_by(|a, b| (a.written_at, &a.location).cmp(&(b.written_at, &b.location)));
    if all.len() > limit {
        reasons.push(format!(
            "{} orphans found, the first {limit} listed (limit)",
            all.len()
        ));
        all.truncate(limit);
    }
    out.total_bytes = all.iter().map(|o| o.size_bytes).sum();
    out.orphans = all;
    out.truncated = !reasons.is_empty();
    out.truncated_reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    Ok(out)
}

/// Disposes of the orphans at `body.locations` (see the module docs for the rules).
pub async fn dispose(
    state: &AppState,
    ns: &str,
    body: OrphanDisposeBody,
) -> ApiResult<OrphanDisposeReport> {
    let store = state.store.as_ref();
    ensure_namespace(store, ns).await?;
    let blob = state.config.blob_storage_uri.as_deref();
    if body.locations.is_empty() || body.locations.len() > MAX_DISPOSE {
        return Err(ApiError::invalid(
            "locations",
            format!("name 1 to {MAX_DISPOSE} orphan locations from the report"),
        ));
    }
    let deployments = store.deployment_list(Some(ns)).await?;
    let configured = configured_dirs(&deployments, blob);
    // Every location is checked before anything is deleted.
    let mut planned: Vec<(String, Place, BlobLocation)> = Vec::new();
    for (i, location) in body.locations.iter().enumerate() {
        let field = format!("locations[{i}]");
        let place = orphans::place(location, ns, blob, &configured).ok_or_else(|| {
            ApiError::invalid(
                &field,
                "not a location the orphan report lists: only snapshot directories inside a \
                 deployment's directory under this namespace's blob-storage prefixes (or \
                 <configured savepoint dir>/<savepoint id>/…) can be disposed of here",
            )
        })?;
        let loc =
            BlobLocation::parse(location).map_err(|e| ApiError::invalid(&field, e.to_string()))?;
        let key = normalize_location(location);
        if !planned.iter().any(|(k, _, _)| *k == key) {
            planned.push((key, place, loc));
        }
    }
    let refs = references(store).await?;
    let mut results = Vec::new();
    for (key, place, loc) in planned {
        let result = |outcome: DisposalOutcome, message: String| OrphanDisposal {
            location: key.clone(),
            outcome,
            message,
            also_removed: Vec::new(),
        };
        // Fresh, right before deleting: a registration of this exact location since `refs` was read.
        let in_use = match refs.protects(&key) {
            Some(why) => Some(why),
            None => (store.savepoint_count_by_location(&key).await? > 0)
                .then(|| "a savepoint resource points to it".to_string()),
        };
        if let Some(why) = in_use {
            results.push(result(DisposalOutcome::InUse, format!("left alone: {why}")));
            continue;
        }
        let parse = |l: Option<String>| l.and_then(|l| BlobLocation::parse(&l).ok());
        let (target, job) = (parse(place.target_dir), parse(place.job_dir));
        let done = tokio::time::timeout(
            DISPOSE_TIMEOUT,
            dispose_with_surroundings(&loc, target.as_ref(), job.as_ref()),
        )
        .await;
        results.push(match done {
            Ok(Ok(d)) => {
                tracing::info!(namespace = ns, location = %key, "disposed of an orphan");
                let mut r = match d.snapshot {
                    Disposal::Removed { files } => {
                        result(DisposalOutcome::Disposed, format!("deleted ({files} files)"))
                    }
                    Disposal::AlreadyGone => {
                        result(DisposalOutcome::AlreadyGone, "nothing was there any more".into())
                    }
                };
                for w in d.warnings {
                    r.message.push_str(&format!("; {w}"));
                }
                r.also_removed = d.also_removed;
                r
            }
            Ok(Err(e)) => result(DisposalOutcome::Failed, e.to_string()),
            Err(_) => result(
                DisposalOutcome::Failed,
                format!(
                    "did not finish within {} s; ask again (_metadata goes last, so it is still listed)",
                    DISPOSE_TIMEOUT.as_secs()
                ),
            ),
        });
    }
    Ok(OrphanDisposeReport { results })
}
