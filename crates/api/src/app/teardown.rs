//! Deleting a deployment, and what that does to its snapshots' data.
//!
//! The decision is the model's ([`stateplane_model::storage::teardown`]): data stateplane wrote that
//! nothing outside the deployment points to goes with it, unless the caller passes
//! `keepSnapshotData=true`. When something is to be disposed of, the deployment is not deleted at
//! once: its savepoints (those whose data goes) are marked PENDING_DELETION, the deployment is
//! annotated [`DELETION_ANNOTATION`] and [`SNAPSHOT_DATA_ANNOTATION`] (what happens, in words), and the
//! controller disposes of each through the usual path (events, FAILED_DELETION) and then deletes the
//! deployment, with a namespace event. Otherwise it is deleted now. Either way the answer is 200 (as
//! Ververica's) and carries [`SNAPSHOT_DATA_ANNOTATION`], and a namespace event `DEPLOYMENT_DELETED`
//! says the same. While being deleted, a deployment cannot be changed, nor get new savepoints.

use std::collections::HashMap;

use stateplane_model::storage::teardown::{
    self, DELETION_ANNOTATION, DISPOSING_SNAPSHOT_DATA, SNAPSHOT_DATA_ANNOTATION,
};
use stateplane_model::{
    Deployment, DeploymentState, DesiredState, Event, EventName, SavepointState, StringMap,
};
use stateplane_store::{SavepointFilter, Store, StoreError};

use super::deployments::resolve;
use super::{busy, or_not_found, CAS_ATTEMPTS};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Annotations only the server writes on a deployment: a client's are dropped, the current ones kept.
pub fn server_annotations(current: Option<&StringMap>, next: &mut StringMap) {
    for key in [DELETION_ANNOTATION, SNAPSHOT_DATA_ANNOTATION] {
        match current.and_then(|c| c.get(key)) {
            Some(v) => next.insert(key.into(), v.clone()),
            None => next.remove(key),
        };
    }
}

/// 409 for a change to a deployment on its way out.
pub fn refuse_if_being_deleted(d: &Deployment) -> ApiResult<()> {
    if teardown::is_being_deleted(d) {
        return Err(ApiError::Refused(format!(
            "deployment '{}' is being deleted (its snapshots' data is being disposed of) and cannot be \
             changed; DELETE it with keepSnapshotData=true to delete it at once",
            d.metadata.name
        )));
    }
    Ok(())
}

/// What a deployment DELETE did: the deployment as it was (with [`SNAPSHOT_DATA_ANNOTATION`], and
/// [`DELETION_ANNOTATION`] when its deletion waits for the controller's disposals).
pub struct Deleted {
    pub deployment: Deployment,
}

pub async fn delete(
    state: &AppState,
    ns: &str,
    id_or_name: &str,
    keep: bool,
) -> ApiResult<Deleted> {
    let store = state.store.as_ref();
    let blob = state.config.blob_storage_uri.as_deref();
    for _ in 0..CAS_ATTEMPTS {
        let d = resolve(store, ns, id_or_name).await?;
        let stopped = !matches!(
            d.status.state,
            DeploymentState::Running | DeploymentState::Transitioning
        );
        if d.spec.state != DesiredState::Cancelled || !stopped {
            return Err(ApiError::DeploymentNotCancelled(format!(
                "deployment '{}' has spec.state {} and status.state {}: set spec.state to CANCELLED, wait \
                 until status.state is no longer RUNNING or TRANSITIONING, then delete it",
                d.metadata.name, d.spec.state, d.status.state
            )));
        }
        let filter = SavepointFilter {
            deployment_id: Some(d.metadata.id),
            ..Default::default()
        };
        let savepoints = store.savepoint_list(ns, &filter).await?;
        if let Some(sp) = savepoints
            .iter()
            .find(|s| s.status.state == SavepointState::Started)
        {
            return Err(ApiError::SavepointInProgress(format!(
                "savepoint {} of deployment '{}' is still being taken (STARTED); delete the deployment \
                 once it is COMPLETED or FAILED",
                sp.metadata.id, d.metadata.name
            )));
        }
        let mut references = HashMap::new();
        for key in savepoints.iter().filter_map(|s| s.location_key()) {
            if let std::collections::hash_map::Entry::Vacant(e) = references.entry(key) {
                let n = store.savepoint_count_by_location(e.key()).await?;
                e.insert(n);
            }
        }
        let plan = teardown::teardown(&savepoints, &references, blob, keep);
        let mut answer = d.clone();
        answer
            .metadata
            .annotations
            .insert(SNAPSHOT_DATA_ANNOTATION.into(), plan.summary.clone());
        if plan.dispose.is_empty() {
            store
                .deployment_delete(ns, d.metadata.id)
                .await
                .map_err(or_not_found("deployment", id_or_name, ns))?;
            event(
                store,
                &d,
                format!(
                    "Deleted deployment '{}' ({}): {}",
                    d.metadata.name, d.metadata.id, plan.summary
                ),
            )
            .await;
            return Ok(Deleted { deployment: answer });
        }
        // The savepoints first: the controller deletes a deployment marked as being deleted as soon
        // as none of its savepoints waits for disposal, so they must be waiting before it is marked.
        for sp in savepoints
            .iter()
            .filter(|s| plan.dispose.contains(&s.metadata.id))
        {
            super::savepoints::mark_for_deletion(store, sp).await?;
        }
        // Then the deployment: once it says it is being deleted, no savepoint is added to it.
        let mut marked = answer.clone();
        marked
            .metadata
            .annotations
            .insert(DELETION_ANNOTATION.into(), DISPOSING_SNAPSHOT_DATA.into());
        let marked = match store.deployment_update(&marked).await {
            Ok(m) => m,
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(or_not_found("deployment", id_or_name, ns)(e)),
        };
        event(
            store,
            &d,
            format!(
                "Deleting deployment '{}' ({}): {}",
                d.metadata.name, d.metadata.id, plan.summary
            ),
        )
        .await;
        return Ok(Deleted { deployment: marked });
    }
    Err(busy("deployment", id_or_name))
}

/// The namespace event of a deployment DELETE (the deployment's own events go with it). Best effort:
/// the answer says the same.
async fn event(store: &dyn Store, d: &Deployment, message: String) {
    let mut e = Event::new(
        &d.metadata.namespace,
        d.metadata.id,
        EventName::DeploymentDeleted,
        message,
    );
    e.metadata.deployment_id = None;
    if let Err(err) = store.event_append(&e).await {
        tracing::warn!(error = %err, deployment = %d.metadata.id, "could not record the deletion event");
    }
}
