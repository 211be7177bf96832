//! Deployment targets: names unique per namespace, compare-and-swap, and no deleting (or renaming) a
//! target a deployment names.

use std::sync::Arc;

use stateplane_model::{DeploymentTarget, DEFAULT_NAMESPACE};

use super::{assert_err, at, deployment, namespace};
use crate::{Store, StoreError};

pub async fn target_create_get_list_update_delete(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let mut t = DeploymentTarget::new(ns, "session", "http://127.0.0.1:8081");
    t.metadata.modified_at = at(0);
    store.target_create(&t).await.unwrap();
    assert_eq!(store.target_get(ns, "session").await.unwrap(), t);
    assert_err!(
        store
            .target_create(&DeploymentTarget::new(ns, "session", "http://x:1"))
            .await,
        StoreError::AlreadyExists { .. }
    );
    assert_err!(
        store
            .target_create(&DeploymentTarget::new(
                "no-such-namespace",
                "session",
                "http://x:1"
            ))
            .await,
        StoreError::NotFound { .. }
    );
    namespace(&*store, "other").await;
    store
        .target_create(&DeploymentTarget::new("other", "session", "http://x:1"))
        .await
        .unwrap();
    store
        .target_create(&DeploymentTarget::new(ns, "alpha", "http://x:2"))
        .await
        .unwrap();
    let names: Vec<_> = store
        .target_list(ns)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.metadata.name)
        .collect();
    assert_eq!(names, ["alpha", "session"], "by name, this namespace only");

    let mut change = t.clone();
    change.spec.flink_session_cluster.rest_url = "http://127.0.0.1:9091".into();
    let v2 = store.target_update(&change).await.unwrap();
    assert_eq!(v2.metadata.resource_version, 2);
    assert!(v2.metadata.modified_at > at(0), "modifiedAt is refreshed");
    assert_eq!(store.target_get(ns, "session").await.unwrap(), v2);
    assert_err!(
        store.target_update(&change).await,
        StoreError::Conflict {
            expected: 1,
            actual: 2,
            ..
        }
    );
    assert_err!(
        store
            .target_update(&DeploymentTarget::new(ns, "ghost", "http://x:1"))
            .await,
        StoreError::NotFound { .. }
    );

    // An unused target may be renamed, but not onto a taken name.
    let mut taken = v2.clone();
    taken.metadata.name = "alpha".into();
    assert_err!(
        store.target_update(&taken).await,
        StoreError::AlreadyExists { .. }
    );
    let mut renamed = v2.clone();
    renamed.metadata.name = "beta".into();
    let v3 = store.target_update(&renamed).await.unwrap();
    assert_eq!(store.target_get(ns, "beta").await.unwrap(), v3);
    assert_err!(
        store.target_get(ns, "session").await,
        StoreError::NotFound { .. }
    );

    store.target_delete(ns, "beta").await.unwrap();
    assert_err!(
        store.target_get(ns, "beta").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.target_delete(ns, "beta").await,
        StoreError::NotFound { .. }
    );
    assert_eq!(store.target_list(ns).await.unwrap().len(), 1);
    store.target_get("other", "session").await.unwrap();
}

pub async fn target_delete_refused_while_referenced(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let t = DeploymentTarget::new(ns, "session", "http://127.0.0.1:8081");
    store.target_create(&t).await.unwrap();
    let mut d = deployment(&*store, ns, "counter", 1).await;
    d.spec.deployment_target_name = Some("session".into());
    d = store.deployment_update(&d).await.unwrap();

    match store.target_delete(ns, "session").await {
        Err(StoreError::Refused(msg)) => assert!(
            msg.contains("counter"),
            "the refusal names the deployment: {msg}"
        ),
        other => panic!("expected Refused, got {other:?}"),
    }
    let mut renamed = t.clone();
    renamed.metadata.name = "renamed".into();
    assert_err!(store.target_update(&renamed).await, StoreError::Refused(_));
    assert_eq!(
        store.target_get(ns, "session").await.unwrap(),
        t,
        "refusals changed nothing"
    );

    // A deployment of another namespace naming a target of the same name does not count.
    namespace(&*store, "other").await;
    let mut elsewhere = deployment(&*store, "other", "counter", 2).await;
    elsewhere.spec.deployment_target_name = Some("session".into());
    store.deployment_update(&elsewhere).await.unwrap();

    d.spec.deployment_target_name = None;
    store.deployment_update(&d).await.unwrap();
    store.target_delete(ns, "session").await.unwrap();
    assert_err!(
        store.target_get(ns, "session").await,
        StoreError::NotFound { .. }
    );
}
