//! Deployment targets: the Flink session clusters deployments run on. A target in use by a deployment
//! cannot be deleted.

use stateplane_model::DeploymentTarget;
use stateplane_store::{Store, StoreError};

use super::{ensure_namespace, namespace_not_found, or_not_found, required};
use crate::bodies::DeploymentTargetCreate;
use crate::error::{ApiError, ApiResult};

pub async fn list(store: &dyn Store, ns: &str) -> ApiResult<Vec<DeploymentTarget>> {
    ensure_namespace(store, ns).await?;
    Ok(store.target_list(ns).await?)
}

pub async fn get(store: &dyn Store, ns: &str, name: &str) -> ApiResult<DeploymentTarget> {
    ensure_namespace(store, ns).await?;
    store
        .target_get(ns, name)
        .await
        .map_err(or_not_found("deployment target", name, ns))
}

/// Creates a target from `{metadata: {name}, spec: {flinkSessionCluster: {restUrl}}}`.
pub async fn create(
    store: &dyn Store,
    ns: &str,
    body: DeploymentTargetCreate,
) -> ApiResult<DeploymentTarget> {
    let name = required("metadata.name", body.metadata.name)?;
    let mut t = DeploymentTarget::new(ns, &name, body.spec.flink_session_cluster.rest_url.trim());
    t.metadata.labels = body.metadata.labels;
    t.metadata.annotations = body.metadata.annotations;
    t.validate()?;
    ensure_namespace(store, ns).await?;
    store.target_create(&t).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => ApiError::AlreadyExists {
            kind: "deployment target",
            name: name.clone(),
        },
        StoreError::NotFound { .. } => namespace_not_found(ns),
        e => e.into(),
    })?;
    get(store, ns, &name).await
}

/// Deletes a target no deployment uses; returns it as it was.
pub async fn delete(store: &dyn Store, ns: &str, name: &str) -> ApiResult<DeploymentTarget> {
    let t = get(store, ns, name).await?;
    let users: Vec<String> = store
        .deployment_list(Some(ns))
        .await?
        .into_iter()
        .filter(|d| d.spec.deployment_target_name.as_deref() == Some(name))
        .map(|d| d.metadata.name)
        .collect();
    if !users.is_empty() {
        return Err(ApiError::TargetInUse(format!(
            "deployment target '{name}' is used by deployment(s) {} (spec.deploymentTargetName); point them at \
             another target or delete them first",
            users.join(", ")
        )));
    }
    store.target_delete(ns, name).await.map_err(|e| match e {
        StoreError::Refused(m) => ApiError::TargetInUse(m),
        e => or_not_found("deployment target", name, ns)(e),
    })?;
    Ok(t)
}
