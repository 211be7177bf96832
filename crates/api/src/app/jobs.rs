//! Jobs: read-only; the controller writes them.

use stateplane_model::{DeploymentId, Job, JobId};
use stateplane_store::{JobFilter, Store};

use super::{ensure_namespace, or_not_found};
use crate::error::ApiResult;

pub async fn list(
    store: &dyn Store,
    ns: &str,
    deployment_id: Option<DeploymentId>,
) -> ApiResult<Vec<Job>> {
    ensure_namespace(store, ns).await?;
    Ok(store
        .job_list(
            ns,
            &JobFilter {
                deployment_id,
                limit: None,
            },
        )
        .await?)
}

pub async fn get(store: &dyn Store, ns: &str, id: JobId) -> ApiResult<Job> {
    ensure_namespace(store, ns).await?;
    store
        .job_get(ns, id)
        .await
        .map_err(or_not_found("job", id, ns))
}
