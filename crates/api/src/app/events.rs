//! Events: read-only, oldest first; the controller writes them.

use stateplane_model::{DeploymentId, Event, JobId};
use stateplane_store::{EventFilter, Store};

use super::ensure_namespace;
use crate::error::ApiResult;

pub async fn list(
    store: &dyn Store,
    ns: &str,
    deployment_id: Option<DeploymentId>,
    job_id: Option<JobId>,
) -> ApiResult<Vec<Event>> {
    ensure_namespace(store, ns).await?;
    Ok(store
        .event_list(
            ns,
            &EventFilter {
                deployment_id,
                job_id,
                ..Default::default()
            },
        )
        .await?)
}
