//! Deployment targets: the Flink session clusters deployments run on. A target in use by a deployment
//! cannot be deleted.

use stateplane_model::DeploymentTarget;
use stateplane_store::{Store, StoreError};

use super::{ensure_namespace, namespace_not_found, or_not_found, required};
use crate::bodies::DeploymentTargetCreate;
use crate::compat_bodies::DeploymentTargetSpecBody;
use crate::error::{ApiError, ApiResult};
use stateplane_model::label_selector::LabelSelector;

pub async fn list(
    store: &dyn Store,
    ns: &str,
    selector: Option<&LabelSelector>,
) -> ApiResult<Vec<DeploymentTarget>> {
    ensure_namespace(store, ns).await?;
    Ok(store
        .target_list(ns)
        .await?
        .into_iter()
        .filter(|t| selector.is_none_or(|s| s.matches(&t.metadata.labels)))
        .collect())
}

/// The session cluster's REST URL from a target spec a client sent. Ververica's Kubernetes targets are
/// refused with an answer that says what stateplane runs on and which field to give.
pub fn rest_url(spec: &DeploymentTargetSpecBody) -> ApiResult<String> {
    if let Some(cluster) = &spec.flink_session_cluster {
        return Ok(cluster.rest_url.trim().to_string());
    }
    if spec.kubernetes.is_some() {
        return Err(ApiError::invalid(
            "spec.kubernetes.namespace",
            "stateplane does not start Flink clusters on Kubernetes: it runs jobs on existing Flink session \
             clusters, reached by their REST URL. Give spec.flinkSessionCluster.restUrl instead, e.g. \
             {\"spec\": {\"flinkSessionCluster\": {\"restUrl\": \"http://flink-jobmanager:8081\"}}}",
        ));
    }
    Err(ApiError::invalid(
        "spec.flinkSessionCluster.restUrl",
        "is required: the REST URL of the Flink session cluster jobs of this target run on, e.g. \
         http://flink-jobmanager:8081",
    ))
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
    let mut t = DeploymentTarget::new(ns, &name, &rest_url(&body.spec)?);
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
