//! The last step of deleting a deployment whose snapshots' data was to be disposed of
//! ([`stateplane_model::storage::teardown`]): once the planner sees none of its savepoints waiting for
//! disposal, the deployment is deleted with what is left (its jobs, events, savepoint resources whose
//! data is kept), and a namespace event (which outlives the deployment's own) says so.

use stateplane_model::storage::teardown::SNAPSHOT_DATA_ANNOTATION;
use stateplane_model::{Event, EventName};
use stateplane_store::StoreError;
use tracing::info;

use super::context::{Ctx, Effect};
use crate::error::Error;

pub(super) async fn delete_deployment(x: &Ctx<'_>) -> Result<Effect, Error> {
    let d = x.d();
    let ns = &d.metadata.namespace;
    match x.shared.store.deployment_delete(ns, d.metadata.id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let announced = d
        .metadata
        .annotations
        .get(SNAPSHOT_DATA_ANNOTATION)
        .map(String::as_str)
        .unwrap_or("its snapshots' data was disposed of");
    let message = format!(
        "Deleted deployment '{}' ({}) once its snapshots' data was disposed of; as announced at the \
         DELETE: {announced}",
        d.metadata.name, d.metadata.id
    );
    info!(deployment = %d.metadata.id, "{message}");
    let mut e = Event::new(ns, d.metadata.id, EventName::DeploymentDeleted, message);
    // A namespace event: the deployment's own events went with it.
    e.metadata.deployment_id = None;
    x.shared
        .store
        .event_append(&e)
        .await
        .map_err(Error::Store)?;
    Ok(Effect::wrote())
}
