//! Savepoints: register existing snapshots, request new ones, copy them to deployments, delete them.
//!
//! - Register (`spec.savepointLocation` + `status.state: COMPLETED`, the body of Ververica's "Manually
//!   Adding a Savepoint Resource"): stored as COMPLETED with origin COPIED, whatever `origin` the client
//!   sent; its annotations (the spec version) and `flinkSavepointId` are kept. Unlike Ververica, where a
//!   bad location shows only when a job fails to restore from it, the location is checked first through
//!   `stateplane_blob`: the scheme must be supported, something must exist there, and it must hold a
//!   `_metadata` file with Flink's header — else 422 naming `spec.savepointLocation` and what is wrong.
//!   A location under another namespace's derived blob-storage directory is refused before storage
//!   is read ([`super::fences`]); so is a copy of one.
//!   The checkpoint id read from the header is recorded
//!   ([`stateplane_model::storage::CHECKPOINT_ID_ANNOTATION`]). Every answer storage gives is definite
//!   (nothing there, a file instead of a directory, unreadable, no `_metadata`, not Flink's): a 422
//!   that says which and nothing more about the file system, whether or not blob storage is
//!   configured. Only where remote storage cannot be reached or refuses the credentials is the
//!   snapshot accepted, with [`stateplane_model::UNVERIFIED_LOCATION_ANNOTATION`] saying why: Flink
//!   may well reach what this server cannot. This read of storage is the API's one exception to "the API writes intent only": a
//!   registration is a claim about storage, and checking it at the door is what makes it safe.
//! - Request (`{metadata: {deploymentId}}` alone): the intent is stored as STARTED with its final
//!   location already chosen (`<savepoint dir>/<savepoint id>`); the controller, woken by the store's
//!   change feed, has Flink take it and writes COMPLETED or FAILED. Refused without a savepoint
//!   directory or without a running job.
//! - Copy (`POST …/savepoints/{id}/copy` with `{metadata: {deploymentId}}`): a new COPIED resource at
//!   the same location for the same or another deployment of the namespace, annotated with the target
//!   deployment's current spec version, so that deployment's next start can restore it ("fork a
//!   deployment from a snapshot"). Only COMPLETED savepoints can be copied. A copy of data stateplane
//!   wrote carries [`DATA_WRITTEN_BY_ANNOTATION`], so whichever of them goes last disposes of it.
//! - Delete: what [`stateplane_model::storage::disposal`] says touches data (a snapshot stateplane wrote
//!   — one it triggered or a copy of one, or anything under the directories it derives from blob
//!   storage — that no other resource, of any origin, points to)
//!   is disposed by the controller: the resource goes to PENDING_DELETION (202). Any other resource is
//!   removed at once (200), its data left alone. STARTED savepoints cannot be deleted; FAILED_DELETION
//!   ones are retried.
//!
//! Annotations that only the server sets (checkpoint id, unverified, periodic, copied-from) are dropped
//! from client input, so they are always true.

use std::time::Duration;

use stateplane_blob::BlobError;
use stateplane_model::paths::{savepoint_base_dir, savepoint_target_dir};
use stateplane_model::storage::{
    self, CHECKPOINT_ID_ANNOTATION, COPIED_FROM_ANNOTATION, DATA_WRITTEN_BY_ANNOTATION,
    PERIODIC_ANNOTATION, WRITTEN_BY_STATEPLANE,
};
use stateplane_model::{
    DeploymentId, DeploymentState, JobId, Savepoint, SavepointCreate, SavepointFormat, SavepointId,
    SavepointOrigin, SavepointState, StringMap, SPEC_VERSION_ANNOTATION,
    UNVERIFIED_LOCATION_ANNOTATION,
};
use stateplane_store::{ResourceKind, SavepointFilter, Store, StoreError};

use super::{busy, ensure_namespace, or_not_found, CAS_ATTEMPTS};
use crate::bodies::{SavepointCopyBody, SavepointCreateBody};
use crate::error::{ApiError, ApiResult};
use crate::params::Wait;
use crate::AppState;

pub async fn list(
    store: &dyn Store,
    ns: &str,
    deployment_id: Option<DeploymentId>,
    job_id: Option<JobId>,
) -> ApiResult<Vec<Savepoint>> {
    ensure_namespace(store, ns).await?;
    Ok(store
        .savepoint_list(
            ns,
            &SavepointFilter {
                deployment_id,
                job_id,
                ..Default::default()
            },
        )
        .await?)
}

/// A savepoint, optionally waiting (long-poll) until its state is one of the awaited ones.
pub async fn get(
    store: &dyn Store,
    ns: &str,
    id: SavepointId,
    wait: Option<Wait<SavepointState>>,
    draining: Option<crate::Draining>,
) -> ApiResult<Savepoint> {
    ensure_namespace(store, ns).await?;
    let read = || async move {
        store
            .savepoint_get(ns, id)
            .await
            .map_err(or_not_found("savepoint", id, ns))
    };
    let Some(wait) = wait else {
        return read().await;
    };
    super::watch::until(
        store,
        |c| c.kind == ResourceKind::Savepoint && c.id.parse::<SavepointId>().ok() == Some(id),
        read,
        |s: &Savepoint| wait.states.contains(&s.status.state),
        wait.timeout,
        draining,
    )
    .await
}

/// The deployment a savepoint POST names: 404 unless it exists in this namespace.
async fn deployment_of(
    store: &dyn Store,
    ns: &str,
    id: DeploymentId,
) -> ApiResult<stateplane_model::Deployment> {
    match store.deployment_get(ns, id).await {
        Ok(d) if d.metadata.namespace == ns => {
            super::teardown::refuse_if_being_deleted(&d)?;
            Ok(d)
        }
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            // Name the namespace when it is the namespace that is missing.
            ensure_namespace(store, ns).await?;
            Err(ApiError::not_found("deployment", id, ns))
        }
        Err(e) => Err(e.into()),
    }
}

/// How long a registration waits for storage before accepting the location unverified.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Annotations only the server writes.
const SERVER_ANNOTATIONS: [&str; 7] = [
    CHECKPOINT_ID_ANNOTATION,
    DATA_WRITTEN_BY_ANNOTATION,
    UNVERIFIED_LOCATION_ANNOTATION,
    PERIODIC_ANNOTATION,
    COPIED_FROM_ANNOTATION,
    stateplane_model::snapshot::SUMMARY_ANNOTATION,
    stateplane_model::snapshot::SUMMARY_ERROR_ANNOTATION,
];

fn client_annotations(mut a: StringMap) -> StringMap {
    for k in SERVER_ANNOTATIONS {
        a.remove(k);
    }
    a
}

/// Checks a location to be registered; the annotations to record on success (the checkpoint id, or
/// why it could not be checked). 422 naming `spec.savepointLocation` when it is no Flink snapshot.
async fn verify_location(location: &str) -> ApiResult<(&'static str, String)> {
    const FIELD: &str = "spec.savepointLocation";
    match stateplane_blob::inspect(location, VALIDATION_TIMEOUT).await {
        Ok(h) => Ok((CHECKPOINT_ID_ANNOTATION, h.checkpoint_id.to_string())),
        Err(e) if e.is_unreachable() => {
            tracing::info!(%location, error = %e, "registering a snapshot unverified");
            Ok((UNVERIFIED_LOCATION_ANNOTATION, e.to_string()))
        }
        Err(e @ BlobError::NotFound { .. }) => Err(ApiError::invalid(
            FIELD,
            format!("{e}: register the directory of an existing savepoint or retained checkpoint"),
        )),
        Err(e) => Err(ApiError::invalid(FIELD, e.to_string())),
    }
}

/// Registers a snapshot or requests a savepoint, as the body's shape says.
pub async fn create(state: &AppState, ns: &str, body: SavepointCreateBody) -> ApiResult<Savepoint> {
    let store = state.store.as_ref();
    // The body's shape is checked; which of the two requests it is, the model decides (from the same
    // members, passed on as JSON).
    let body = serde_json::to_value(&body)
        .map_err(|e| ApiError::Internal(format!("re-encoding a savepoint body: {e}")))?;
    let intent = SavepointCreate::from_body(body)?;
    let sp = match intent {
        SavepointCreate::Register {
            deployment_id,
            location,
            annotations,
            flink_savepoint_id,
        } => {
            deployment_of(store, ns, deployment_id).await?;
            let blob = state.config.blob_storage_uri.as_deref();
            super::fences::check(ns, &location, blob, "spec.savepointLocation")?;
            super::snapshot_prefixes::check(store, ns, &location, blob, "spec.savepointLocation")
                .await?;
            let (key, value) = verify_location(&location).await?;
            let mut sp = Savepoint::new(
                ns,
                deployment_id,
                SavepointOrigin::Copied,
                SavepointState::Completed,
                Some(location),
            );
            sp.metadata.annotations = client_annotations(annotations);
            sp.metadata.annotations.insert(key.into(), value);
            sp.spec.flink_savepoint_id = flink_savepoint_id;
            sp
        }
        SavepointCreate::Request {
            deployment_id,
            annotations,
            format,
        } => {
            let d = deployment_of(store, ns, deployment_id).await?;
            let blob = state.config.blob_storage_uri.as_deref();
            if savepoint_base_dir(&d, blob).is_none() {
                return Err(ApiError::SavepointsNotConfigured);
            }
            let job_id = match (&d.status.state, &d.status.running) {
                (DeploymentState::Running, Some(running)) => running.job_id,
                _ => {
                    let remedy = if d.spec.state == stateplane_model::DesiredState::Running {
                        "wait until status.state is RUNNING (GET the deployment with ?waitFor=RUNNING)"
                    } else {
                        "set spec.state to RUNNING and wait until status.state is RUNNING"
                    };
                    return Err(ApiError::DeploymentNotRunning(format!(
                        "deployment '{}' has no running job (status.state {}): a savepoint is taken of a running \
                         job; {remedy}",
                        d.metadata.name, d.status.state
                    )));
                }
            };
            let spec_version = match store.job_get(ns, job_id).await {
                Ok(job) => job
                    .metadata
                    .annotations
                    .get(SPEC_VERSION_ANNOTATION)
                    .cloned(),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            }
            .unwrap_or_else(|| d.spec_version().to_string());
            let mut sp = Savepoint::new(
                ns,
                deployment_id,
                SavepointOrigin::UserRequest,
                SavepointState::Started,
                None,
            );
            sp.spec.savepoint_location = savepoint_target_dir(&d, blob, sp.metadata.id);
            sp.spec.format_type = Some(format.unwrap_or(SavepointFormat::Canonical));
            sp.metadata.job_id = Some(job_id);
            sp.metadata.annotations = client_annotations(annotations);
            sp.metadata
                .annotations
                .insert(SPEC_VERSION_ANNOTATION.into(), spec_version);
            sp
        }
    };
    // The store gives it its creation time, after every savepoint of the deployment, serialised with
    // every other such create (across replicas too): the controller, which takes requested savepoints
    // oldest first, never sees a newer one before an older one exists.
    let deployment_id = sp.metadata.deployment_id;
    store
        .savepoint_create_ordered(&sp)
        .await
        .map_err(or_not_found("deployment", deployment_id, ns))
}

/// What a DELETE did.
#[derive(Debug)]
pub enum Deletion {
    /// The resource is gone; this was its last state.
    Deleted(Savepoint),
    /// The controller will dispose the data and then remove the resource.
    Pending(Savepoint),
}

/// Whether deleting `sp` must also dispose its data: stateplane wrote it and nothing else points to it
/// (the rule is [`storage::disposal`], which the controller applies again before disposing).
async fn must_dispose(state: &AppState, sp: &Savepoint) -> ApiResult<bool> {
    let Some(key) = sp.location_key() else {
        return Ok(false);
    };
    let references = state.store.savepoint_count_by_location(&key).await?;
    let blob = state.config.blob_storage_uri.as_deref();
    Ok(storage::disposal(sp, blob, references).touches_data())
}

/// Marks `sp` PENDING_DELETION for the controller (a deployment's deletion disposing of its data),
/// unless it is already on its way; retried on a concurrent change.
pub async fn mark_for_deletion(store: &dyn Store, sp: &Savepoint) -> ApiResult<()> {
    let (ns, id) = (sp.metadata.namespace.as_str(), sp.metadata.id);
    let mut current = sp.clone();
    for _ in 0..CAS_ATTEMPTS {
        if matches!(
            current.status.state,
            SavepointState::PendingDeletion | SavepointState::Deleting
        ) {
            return Ok(());
        }
        let mut next = current.clone();
        next.status.state = SavepointState::PendingDeletion;
        next.status.failure = None;
        match store.savepoint_update(&next).await {
            Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(StoreError::Conflict { .. }) => {
                current = match store.savepoint_get(ns, id).await {
                    Ok(c) => c,
                    Err(StoreError::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(busy("savepoint", &id.to_string()))
}

pub async fn delete(state: &AppState, ns: &str, id: SavepointId) -> ApiResult<Deletion> {
    let store = state.store.as_ref();
    ensure_namespace(store, ns).await?;
    for _ in 0..CAS_ATTEMPTS {
        let sp = store
            .savepoint_get(ns, id)
            .await
            .map_err(or_not_found("savepoint", id, ns))?;
        match sp.status.state {
            SavepointState::Started => {
                return Err(ApiError::SavepointInProgress(format!(
                    "savepoint {id} is still being taken (STARTED); wait until it is COMPLETED or FAILED \
                     (GET it with ?waitFor=COMPLETED,FAILED) and delete it then"
                )))
            }
            SavepointState::PendingDeletion | SavepointState::Deleting => return Ok(Deletion::Pending(sp)),
            _ => {}
        }
        if must_dispose(state, &sp).await? {
            let mut next = sp.clone();
            next.status.state = SavepointState::PendingDeletion;
            next.status.failure = None;
            match store.savepoint_update(&next).await {
                Ok(s) => return Ok(Deletion::Pending(s)),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(or_not_found("savepoint", id, ns)(e)),
            }
        }
        store
            .savepoint_delete(ns, id)
            .await
            .map_err(or_not_found("savepoint", id, ns))?;
        return Ok(Deletion::Deleted(sp));
    }
    Err(busy("savepoint", &id.to_string()))
}

/// Copies a COMPLETED savepoint to a deployment of the same namespace (the same one or another): a new
/// COPIED resource at the same location, created now and annotated with the target's current spec
/// version, so that it is what the target's next start restores (under LATEST_SAVEPOINT and
/// LATEST_STATE alike) — also when copying an older snapshot to its own deployment to go back to it. The data is shared, never duplicated; deleting either resource keeps it while
/// the other exists.
pub async fn copy(
    state: &AppState,
    ns: &str,
    id: SavepointId,
    body: SavepointCopyBody,
) -> ApiResult<Savepoint> {
    let store = state.store.as_ref();
    ensure_namespace(store, ns).await?;
    let source = store
        .savepoint_get(ns, id)
        .await
        .map_err(or_not_found("savepoint", id, ns))?;
    let target = deployment_of(store, ns, body.metadata.deployment_id).await?;
    let location = match (&source.status.state, &source.spec.savepoint_location) {
        (SavepointState::Completed, Some(l)) => l.clone(),
        (SavepointState::Started, _) => {
            return Err(ApiError::SavepointInProgress(format!(
                "savepoint {id} is still being taken (STARTED); copy it once it is COMPLETED \
                 (GET it with ?waitFor=COMPLETED,FAILED)"
            )))
        }
        (state, _) => {
            return Err(ApiError::Refused(format!(
                "savepoint {id} is {state}: only a COMPLETED savepoint can be copied"
            )))
        }
    };
    let blob = state.config.blob_storage_uri.as_deref();
    super::fences::check(ns, &location, blob, "spec.savepointLocation")?;
    let mut sp = Savepoint::new(
        ns,
        target.metadata.id,
        SavepointOrigin::Copied,
        SavepointState::Completed,
        Some(location),
    );
    // What is known about the data travels with it; what was about the source's job does not.
    for key in [CHECKPOINT_ID_ANNOTATION, UNVERIFIED_LOCATION_ANNOTATION] {
        if let Some(v) = source.metadata.annotations.get(key) {
            sp.metadata.annotations.insert(key.into(), v.clone());
        }
    }
    // Data stateplane wrote stays stateplane's in every copy: the last resource to go disposes of it.
    if storage::written_by_us(&source) {
        sp.metadata.annotations.insert(
            DATA_WRITTEN_BY_ANNOTATION.into(),
            WRITTEN_BY_STATEPLANE.into(),
        );
    }
    sp.metadata.annotations.insert(
        SPEC_VERSION_ANNOTATION.into(),
        target.spec_version().to_string(),
    );
    sp.metadata
        .annotations
        .insert(COPIED_FROM_ANNOTATION.into(), id.to_string());
    sp.spec.flink_savepoint_id = source.spec.flink_savepoint_id;
    store.savepoint_create(&sp).await.map_err(or_not_found(
        "deployment",
        target.metadata.id,
        ns,
    ))?;
    store
        .savepoint_get(ns, sp.metadata.id)
        .await
        .map_err(or_not_found("savepoint", sp.metadata.id, ns))
}
