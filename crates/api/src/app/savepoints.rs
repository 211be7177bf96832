//! Savepoints: register existing snapshots, request new ones, delete them.
//!
//! - Register (`spec.savepointLocation` + `status.state: COMPLETED`, the body of Ververica's "Manually
//!   Adding a Savepoint Resource"): stored at once as COMPLETED with origin COPIED, whatever `origin` the
//!   client sent; its annotations (the spec version) and `flinkSavepointId` are kept. The location is not
//!   checked here: as Ververica documents, a bad location shows only when a job restores from it.
//! - Request (`{metadata: {deploymentId}}` alone): the intent is stored as STARTED with its final
//!   location already chosen (`<savepoint dir>/<savepoint id>`); the controller, woken by the store's
//!   change feed, has Flink take it and writes COMPLETED or FAILED. Refused without a savepoint
//!   directory or without a running job.
//! - Delete: a snapshot stateplane wrote (or a retained checkpoint in the checkpoint directory it
//!   derived) that no other resource points to is disposed by the controller: the resource goes to
//!   PENDING_DELETION (202). Any other resource is removed at once (200), its data left alone.

use serde_json::Value;
use stateplane_model::paths::{derived_checkpoint_dir, savepoint_base_dir, savepoint_target_dir};
use stateplane_model::{
    normalize_location, DeploymentId, DeploymentState, JobId, Savepoint, SavepointCreate,
    SavepointFormat, SavepointId, SavepointOrigin, SavepointState, SPEC_VERSION_ANNOTATION,
};
use stateplane_store::{ResourceKind, SavepointFilter, Store, StoreError};

use super::{busy, ensure_namespace, or_not_found, CAS_ATTEMPTS};
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
        Ok(d) if d.metadata.namespace == ns => Ok(d),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(ApiError::not_found("deployment", id, ns)),
        Err(e) => Err(e.into()),
    }
}

/// Registers a snapshot or requests a savepoint, as the body's shape says.
pub async fn create(state: &AppState, ns: &str, mut body: Value) -> ApiResult<Savepoint> {
    let store = state.store.as_ref();
    // `"spec": null` means no spec, as leaving it out does
    if let Some(o) = body.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    let intent = SavepointCreate::from_body(body)?;
    ensure_namespace(store, ns).await?;
    let sp = match intent {
        SavepointCreate::Register {
            deployment_id,
            location,
            annotations,
            flink_savepoint_id,
        } => {
            deployment_of(store, ns, deployment_id).await?;
            let mut sp = Savepoint::new(
                ns,
                deployment_id,
                SavepointOrigin::Copied,
                SavepointState::Completed,
                Some(location),
            );
            sp.metadata.annotations = annotations;
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
            sp.metadata.annotations = annotations;
            sp.metadata
                .annotations
                .insert(SPEC_VERSION_ANNOTATION.into(), spec_version);
            sp
        }
    };
    store.savepoint_create(&sp).await.map_err(or_not_found(
        "deployment",
        sp.metadata.deployment_id,
        ns,
    ))?;
    store
        .savepoint_get(ns, sp.metadata.id)
        .await
        .map_err(or_not_found("savepoint", sp.metadata.id, ns))
}

/// What a DELETE did.
#[derive(Debug)]
pub enum Deletion {
    /// The resource is gone; this was its last state.
    Deleted(Savepoint),
    /// The controller will dispose the data and then remove the resource.
    Pending(Savepoint),
}

/// Whether deleting `sp` must also dispose its data: stateplane wrote it and nothing else points to it.
async fn must_dispose(state: &AppState, sp: &Savepoint) -> ApiResult<bool> {
    let store = state.store.as_ref();
    let Some(key) = sp.location_key() else {
        return Ok(false);
    };
    let ours = match sp.metadata.origin {
        o if o.is_triggered_by_us() => true,
        SavepointOrigin::RetainedCheckpoint => {
            match store
                .deployment_get(&sp.metadata.namespace, sp.metadata.deployment_id)
                .await
            {
                Ok(d) => derived_checkpoint_dir(&d, state.config.blob_storage_uri.as_deref())
                    .map(|dir| key.starts_with(&format!("{}/", normalize_location(&dir))))
                    .unwrap_or(false),
                Err(StoreError::NotFound { .. }) => false,
                Err(e) => return Err(e.into()),
            }
        }
        _ => false,
    };
    Ok(ours && store.savepoint_count_by_location(&key).await? == 1)
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
