//! Deployment targets: the Flink session clusters deployments run on. A target in use by a deployment
//! cannot be deleted.

use serde::Deserialize;
use serde_json::Value;
use stateplane_model::error::from_value;
use stateplane_model::{lenient_string_map, DeploymentTarget, DeploymentTargetSpec, StringMap};
use stateplane_store::{Store, StoreError};

use super::{ensure_namespace, namespace_not_found, or_not_found, required_str};
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetBody {
    #[serde(default)]
    metadata: TargetMetadata,
    spec: DeploymentTargetSpec,
}

#[derive(Default, Deserialize)]
struct TargetMetadata {
    #[serde(default, deserialize_with = "lenient_string_map")]
    labels: StringMap,
    #[serde(default, deserialize_with = "lenient_string_map")]
    annotations: StringMap,
}

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
pub async fn create(store: &dyn Store, ns: &str, body: &Value) -> ApiResult<DeploymentTarget> {
    let name = required_str(body, "/metadata/name", "metadata.name")?;
    let b: TargetBody = from_value(body.clone(), "")?;
    let mut t = DeploymentTarget::new(ns, &name, b.spec.flink_session_cluster.rest_url.trim());
    t.metadata.labels = b.metadata.labels;
    t.metadata.annotations = b.metadata.annotations;
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
