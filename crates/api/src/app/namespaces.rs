//! Namespaces: create, read, delete. `default` always exists; deleting a namespace removes its resources
//! (never savepoint data) and is refused while any of its deployments is not cancelled.

use stateplane_model::{DeploymentState, DesiredState, Namespace, DEFAULT_NAMESPACE};
use stateplane_store::{Store, StoreError};

use super::{namespace_not_found, required};
use crate::bodies::NamespaceCreate;
use crate::error::{ApiError, ApiResult};

pub async fn list(store: &dyn Store) -> ApiResult<Vec<Namespace>> {
    Ok(store.namespace_list().await?)
}

pub async fn get(store: &dyn Store, name: &str) -> ApiResult<Namespace> {
    store.namespace_get(name).await.map_err(|e| match e {
        StoreError::NotFound { .. } => namespace_not_found(name),
        e => e.into(),
    })
}

/// Creates a namespace from `{metadata: {name}}`.
pub async fn create(store: &dyn Store, body: NamespaceCreate) -> ApiResult<Namespace> {
    let name = required("metadata.name", body.metadata.name)?;
    let ns = Namespace::new(&name);
    ns.validate()?;
    store.namespace_create(&ns).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => ApiError::AlreadyExists {
            kind: "namespace",
            name: name.clone(),
        },
        e => e.into(),
    })?;
    get(store, &name).await
}

/// Deletes a namespace whose deployments are all cancelled; returns it as it was.
pub async fn delete(store: &dyn Store, name: &str) -> ApiResult<Namespace> {
    let ns = get(store, name).await?;
    if name == DEFAULT_NAMESPACE {
        return Err(ApiError::Refused(format!(
            "the namespace '{DEFAULT_NAMESPACE}' always exists and cannot be deleted"
        )));
    }
    for d in store.deployment_list(Some(name)).await? {
        let running = matches!(
            d.status.state,
            DeploymentState::Running | DeploymentState::Transitioning
        );
        if d.spec.state != DesiredState::Cancelled || running {
            return Err(ApiError::NamespaceInUse(format!(
                "namespace '{name}' still has deployment '{}' (spec.state {}, status.state {}): set spec.state \
                 to CANCELLED on every deployment of the namespace and wait until it is cancelled",
                d.metadata.name, d.spec.state, d.status.state
            )));
        }
    }
    store.namespace_delete(name).await.map_err(|e| match e {
        StoreError::Refused(m) => ApiError::NamespaceInUse(m),
        StoreError::NotFound { .. } => namespace_not_found(name),
        e => e.into(),
    })?;
    Ok(ns)
}
