//! The storage side of savepoints: disposal of deleted savepoints, retention, periodic savepoints.
//!
//! Deletion protocol (the API's DELETE and retention both enter it by writing PENDING_DELETION):
//! PENDING_DELETION → DELETING (written before storage is touched) → data disposed of through
//! `stateplane_blob` where [`stateplane_model::storage::disposal`] says it is stateplane's and
//! unshared, decided again here with the current reference count → the row deleted. The row is
//! forgotten only after disposal succeeded; a failure leaves it FAILED_DELETION with the reason, and a
//! DELETE of it tries again. A controller killed in the middle finds the row DELETING and repeats the
//! disposal, which is idempotent (an already-removed snapshot is "already gone"; a half-removed one
//! still has `_metadata`, which goes last).

use std::time::Duration;

use stateplane_blob::{BlobLocation, Disposal as Removed};
use stateplane_model::plan::FailureReason;
use stateplane_model::retention::Expired;
use stateplane_model::storage::{self, Disposal, PERIODIC_ANNOTATION};
use stateplane_model::{
    now, paths, EventName, JobId, Savepoint, SavepointFormat, SavepointId, SavepointOrigin,
    SavepointState, SPEC_VERSION_ANNOTATION,
};
use stateplane_store::StoreError;
use tracing::{info, warn};

use super::context::{ts, Ctx, Effect};
use crate::error::Error;

/// The longest one disposal may take before it is reported as failed (object stores bound each request
/// already; this bounds a listing and deletion of very many files).
const DISPOSAL_TIMEOUT: Duration = Duration::from_secs(300);

/// Disposes of a deleted savepoint's data where that is stateplane's to do, then forgets it.
pub(super) async fn dispose(x: &Ctx<'_>, id: SavepointId) -> Result<Effect, Error> {
    let sp = x.savepoint(id)?;
    let store = &x.shared.store;
    let ns = sp.metadata.namespace.clone();
    // Write-ahead: DELETING says storage may be being changed.
    let sp = if sp.status.state == SavepointState::PendingDeletion {
        x.write_savepoint(sp, |s| {
            s.status.state = SavepointState::Deleting;
            s.status.failure = None;
        })
        .await?
    } else {
        sp.clone()
    };
    let references = match sp.location_key() {
        Some(k) => store
            .savepoint_count_by_location(&k)
            .await
            .map_err(Error::Store)?,
        None => 1,
    };
    let blob = x.shared.config.blob_storage_uri.as_deref();
    let decision = storage::disposal(&sp, Some(x.d()), blob, references);
    let location = sp.spec.savepoint_location.clone().unwrap_or_default();
    let result = match tokio::time::timeout(DISPOSAL_TIMEOUT, dispose_data(&decision)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "disposal of {location} did not finish within {} s",
            DISPOSAL_TIMEOUT.as_secs()
        )),
    };
    let what = format!("savepoint {id} ({})", sp.metadata.origin);
    match result {
        Ok(words) => {
            match store.savepoint_delete(&ns, id).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            x.event(
                EventName::SavepointDeleted,
                format!("Deleted {what}: {words}"),
                sp.metadata.job_id,
                Some(id),
            )
            .await?;
        }
        Err(reason) => {
            warn!(savepoint = %id, %reason, "disposal failed");
            x.write_savepoint(&sp, |s| {
                s.status.state = SavepointState::FailedDeletion;
                s.status.failure = Some(FailureReason::DisposalFailed.failure(reason.clone()));
            })
            .await?;
            x.event(
                EventName::SavepointDeletionFailed,
                format!(
                    "Deleting {what} failed: {reason}. The savepoint is FAILED_DELETION and stays \
                     listed; DELETE it again to retry"
                ),
                sp.metadata.job_id,
                Some(id),
            )
            .await?;
        }
    }
    Ok(Effect::wrote())
}

/// Marks what retention expires for deletion (the same path as a DELETE).
pub(super) async fn expire(x: &Ctx<'_>, expired: Vec<Expired>) -> Result<Effect, Error> {
    for e in expired {
        let sp = x.savepoint(e.savepoint_id)?;
        x.write_savepoint(sp, |s| {
            s.status.state = SavepointState::PendingDeletion;
            s.status.failure = None;
        })
        .await?;
        x.event(
            EventName::SavepointExpired,
            format!(
                "Retention: deleting savepoint {} ({}, created {}, at {}): {}",
                sp.metadata.id,
                sp.metadata.origin,
                ts(sp.metadata.created_at),
                sp.spec
                    .savepoint_location
                    .as_deref()
                    .unwrap_or("no location"),
                e.reason
            ),
            sp.metadata.job_id,
            Some(sp.metadata.id),
        )
        .await?;
    }
    Ok(Effect::wrote())
}

/// Records a periodic savepoint of the running job (STARTED, its target directory chosen); the next
/// step triggers it in Flink like any requested savepoint.
pub(super) async fn periodic(x: &Ctx<'_>, job: JobId) -> Result<Effect, Error> {
    let d = x.d();
    let job = x.job(job)?;
    let blob = x.shared.config.blob_storage_uri.as_deref();
    let mut sp = Savepoint::new(
        &d.metadata.namespace,
        d.metadata.id,
        SavepointOrigin::UserRequest,
        SavepointState::Started,
        None,
    );
    let Some(target) = paths::savepoint_target_dir(d, blob, sp.metadata.id) else {
        return Ok(Effect {
            steady: true,
            ..Effect::default()
        });
    };
    sp.spec.savepoint_location = Some(target.clone());
    sp.spec.format_type = Some(SavepointFormat::Canonical);
    sp.metadata.job_id = Some(job.metadata.id);
    let spec_version = job.spec_version().unwrap_or_else(|| d.spec_version());
    sp.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), spec_version.to_string());
    sp.metadata
        .annotations
        .insert(PERIODIC_ANNOTATION.into(), "true".into());
    let last = x
        .rows
        .savepoints
        .iter()
        .filter(|s| s.metadata.job_id == Some(job.metadata.id))
        .map(|s| s.metadata.created_at)
        .max();
    x.shared
        .store
        .savepoint_create(&sp)
        .await
        .map_err(Error::Store)?;
    let since = match last {
        Some(t) => format!("the job's last savepoint was taken {}", ts(t)),
        None => "the job has taken none yet".to_string(),
    };
    info!(savepoint = %sp.metadata.id, "periodic savepoint");
    x.event(
        EventName::NeedToTriggerASavepoint,
        format!(
            "Taking periodic savepoint {} of job {} into {target} (spec.periodicSavepointInterval {}; {since}; now {})",
            sp.metadata.id,
            job.metadata.id,
            d.spec
                .periodic_savepoint_interval
                .as_deref()
                .unwrap_or_default(),
            ts(now())
        ),
        Some(job.metadata.id),
        Some(sp.metadata.id),
    )
    .await?;
    Ok(Effect::wrote())
}

fn parse(uri: &str) -> Result<BlobLocation, String> {
    BlobLocation::parse(uri).map_err(|e| format!("cannot dispose of its data: {e}"))
}

/// Performs a disposal decision; Ok says in words what happened to the data.
async fn dispose_data(decision: &Disposal) -> Result<String, String> {
    match decision {
        Disposal::KeepData { reason } => Ok(format!("its data was kept ({reason})")),
        Disposal::RemoveEmptyTarget { location } => {
            match parse(location)?.remove_if_empty().await {
                Ok(true) => Ok(format!(
                    "it never completed; its empty target directory {location} is gone"
                )),
                Ok(false) => Ok(format!(
                    "it never completed; its target directory {location} is not empty and was left in place"
                )),
                Err(e) => Err(format!("cannot remove its target directory: {e}")),
            }
        }
        Disposal::DeleteSnapshot {
            location,
            empty_parent,
            job_checkpoint_dir,
        } => {
            let loc = parse(location)?;
            let mut words = match loc.delete_snapshot().await {
                Ok(Removed::Removed { files }) => {
                    format!("disposed of its data at {location} ({files} files)")
                }
                Ok(Removed::AlreadyGone) => format!("its data at {location} was already gone"),
                Err(e) => return Err(format!("cannot dispose of its data: {e}")),
            };
            // Tidying up around the snapshot is best effort: the snapshot itself is gone.
            if let Some(parent) = empty_parent {
                if let Err(e) = parse(parent)?.remove_if_empty().await {
                    warn!(error = %e, "cannot remove the savepoint's target directory");
                }
            }
            if let Some(dir) = job_checkpoint_dir {
                let job_dir = parse(dir)?;
                match job_dir.subdirectories().await {
                    Ok(subdirs) if !subdirs.iter().any(|s| s.starts_with("chk-")) => {
                        match job_dir.delete_tree().await {
                            Ok(()) => words.push_str(&format!(
                                ", and the job's checkpoint directory {dir} (its shared state), which no other retained checkpoint uses"
                            )),
                            Err(e) => warn!(error = %e, "cannot remove the job's checkpoint directory"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "cannot list the job's checkpoint directory"),
                }
            }
            Ok(words)
        }
    }
}
