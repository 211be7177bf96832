//! Compare-and-swap writes of the rows the controller changes (deployments, jobs, savepoints): the
//! API may change the same row meanwhile, so a write that finds a newer `resourceVersion` re-reads the
//! row and applies the change again to what it read.

use std::future::Future;

use stateplane_model::{Deployment, Job, Savepoint};
use stateplane_store::{Store, StoreError};

/// How many times a change is applied to a row that keeps changing under it before the pass gives up
/// (the worker then retries the whole pass).
const ATTEMPTS: usize = 8;

/// A row written with compare-and-swap on its `resourceVersion`.
pub(crate) trait Versioned: Clone + Send + Sync {
    /// Writes the row if the stored version is still this one; returns the row as stored.
    fn write<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a;
    /// The row as stored now.
    fn reread<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a;
}

impl Versioned for Deployment {
    fn write<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a {
        store.deployment_update(self)
    }
    fn reread<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a {
        store.deployment_get(&self.metadata.namespace, self.metadata.id)
    }
}

impl Versioned for Job {
    fn write<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a {
        store.job_update(self)
    }
    fn reread<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a {
        store.job_get(&self.metadata.namespace, self.metadata.id)
    }
}

impl Versioned for Savepoint {
    fn write<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a {
        store.savepoint_update(self)
    }
    fn reread<'a>(
        &'a self,
        store: &'a dyn Store,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send + 'a {
        store.savepoint_get(&self.metadata.namespace, self.metadata.id)
    }
}

/// Applies `change` to `row` and writes it; on a conflict re-reads the row and applies `change` again,
/// up to [`ATTEMPTS`] times (then the last conflict is the error). `change` returns false when the row
/// as read needs no write (e.g. it has left the state the change is for): then `None`.
pub(crate) async fn write_if<T: Versioned>(
    store: &dyn Store,
    row: &T,
    mut change: impl FnMut(&mut T) -> bool,
) -> Result<Option<T>, StoreError> {
    let mut r = row.clone();
    let mut attempt = 1;
    loop {
        if !change(&mut r) {
            return Ok(None);
        }
        match r.write(store).await {
            Ok(stored) => return Ok(Some(stored)),
            Err(StoreError::Conflict { .. }) if attempt < ATTEMPTS => {
                attempt += 1;
                r = r.reread(store).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// [`write_if`] for a change that always applies.
pub(crate) async fn write<T: Versioned>(
    store: &dyn Store,
    row: &T,
    mut change: impl FnMut(&mut T),
) -> Result<T, StoreError> {
    let stored = write_if(store, row, |r| {
        change(r);
        true
    })
    .await?;
    Ok(stored.unwrap_or_else(|| row.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplane_model::{DeploymentSpec, DeploymentState, DesiredState};
    use stateplane_store::{DeploymentStore, SqliteStore};

    async fn store_with_deployment() -> (tempfile::TempDir, SqliteStore, Deployment) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///job.jar"}}}
        }))
        .unwrap();
        let d = Deployment::new("default", "d", spec);
        store.deployment_create(&d).await.unwrap();
        let d = store
            .deployment_get("default", d.metadata.id)
            .await
            .unwrap();
        (dir, store, d)
    }

    #[tokio::test]
    async fn a_stale_row_is_read_again_and_the_change_applied_to_the_newer_one() {
        let (_dir, store, stale) = store_with_deployment().await;
        // Someone else (the API) changes the spec after the controller read the row.
        let mut newer = stale.clone();
        newer.spec.state = DesiredState::Running;
        let newer = store.deployment_update(&newer).await.unwrap();

        let mut calls = 0;
        let stored = write(&store, &stale, |d: &mut Deployment| {
            calls += 1;
            d.status.state = DeploymentState::Transitioning;
        })
        .await
        .unwrap();
        assert_eq!(
            calls, 2,
            "applied to the stale row, then to the re-read one"
        );
        assert_eq!(
            stored.spec.state,
            DesiredState::Running,
            "the API's change is kept"
        );
        assert_eq!(stored.status.state, DeploymentState::Transitioning);
        assert_eq!(
            stored.metadata.resource_version,
            newer.metadata.resource_version + 1
        );
    }

    #[tokio::test]
    async fn a_change_that_no_longer_applies_writes_nothing() {
        let (_dir, store, d) = store_with_deployment().await;
        let written = write_if(&store, &d, |_: &mut Deployment| false)
            .await
            .unwrap();
        assert!(written.is_none());
        let now = store
            .deployment_get("default", d.metadata.id)
            .await
            .unwrap();
        assert_eq!(now.metadata.resource_version, d.metadata.resource_version);
    }

    #[tokio::test]
    async fn a_missing_row_is_an_error_not_a_retry() {
        let (_dir, store, d) = store_with_deployment().await;
        let mut gone = d.clone();
        gone.metadata.id = stateplane_model::DeploymentId::new();
        let err = write(&store, &gone, |_: &mut Deployment| {})
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    }
}
