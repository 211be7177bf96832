//! Namespaces, their deletion rules and their deployment defaults.

use std::sync::Arc;

use stateplane_model::{
    DeploymentDefaults, DeploymentState, DeploymentTarget, DesiredState, Namespace, SavepointState,
    DEFAULT_NAMESPACE,
};

use super::{assert_err, at, deployment, event, job, namespace, savepoint};
use crate::{EventFilter, JobFilter, SavepointFilter, Store, StoreError};

pub async fn default_namespace_exists(store: Arc<dyn Store>) {
    let ns = store.namespace_get(DEFAULT_NAMESPACE).await.unwrap();
    assert_eq!(ns.metadata.name, DEFAULT_NAMESPACE);
    let names: Vec<_> = store
        .namespace_list()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.metadata.name)
        .collect();
    assert_eq!(names, [DEFAULT_NAMESPACE]);
}

pub async fn namespace_create_get_list_delete(store: Arc<dyn Store>) {
    let a = Namespace::new("team-a");
    store.namespace_create(&a).await.unwrap();
    assert_eq!(store.namespace_get("team-a").await.unwrap(), a);
    assert_err!(
        store.namespace_create(&Namespace::new("team-a")).await,
        StoreError::AlreadyExists { .. }
    );
    namespace(&*store, "b-team").await;

    let names: Vec<_> = store
        .namespace_list()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        ["b-team", "default", "team-a"],
        "namespaces are listed by name"
    );

    store.namespace_delete("team-a").await.unwrap();
    assert_err!(
        store.namespace_get("team-a").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.namespace_delete("team-a").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.namespace_get("never").await,
        StoreError::NotFound { .. }
    );
    assert_eq!(store.namespace_list().await.unwrap().len(), 2);
}

pub async fn namespace_delete_refused_while_deployments_run(store: Arc<dyn Store>) {
    namespace(&*store, "busy").await;
    let mut d = deployment(&*store, "busy", "counter", 1).await;
    let cases = [
        (DesiredState::Running, DeploymentState::Running),
        (DesiredState::Running, DeploymentState::Cancelled),
        (DesiredState::Suspended, DeploymentState::Suspended),
        (DesiredState::Cancelled, DeploymentState::Running),
        (DesiredState::Cancelled, DeploymentState::Transitioning),
    ];
    for (desired, status) in cases {
        d.spec.state = desired;
        d.status.state = status;
        d = store.deployment_update(&d).await.unwrap();
        match store.namespace_delete("busy").await {
            Err(StoreError::Refused(msg)) => {
                assert!(
                    msg.contains("counter"),
                    "the refusal names the deployment: {msg}"
                )
            }
            other => panic!("desired {desired}, status {status}: expected Refused, got {other:?}"),
        }
        // The refusal changed nothing.
        store.namespace_get("busy").await.unwrap();
        assert_eq!(
            store.deployment_get("busy", d.metadata.id).await.unwrap(),
            d
        );
    }
    for status in [
        DeploymentState::Cancelled,
        DeploymentState::Failed,
        DeploymentState::Finished,
    ] {
        d.spec.state = DesiredState::Cancelled;
        d.status.state = status;
        d = store.deployment_update(&d).await.unwrap();
    }
    store.namespace_delete("busy").await.unwrap();
    assert_err!(
        store.namespace_get("busy").await,
        StoreError::NotFound { .. }
    );
}

pub async fn namespace_delete_removes_everything_in_it(store: Arc<dyn Store>) {
    namespace(&*store, "gone").await;
    let mut defaults = DeploymentDefaults::empty("gone");
    defaults.spec = serde_json::json!({"restoreStrategy": {"kind": "NONE"}});
    store.deployment_defaults_put(&defaults).await.unwrap();
    store
        .target_create(&DeploymentTarget::new(
            "gone",
            "session",
            "http://127.0.0.1:8081",
        ))
        .await
        .unwrap();
    let d = deployment(&*store, "gone", "counter", 1).await;
    let j = job(&d, 2);
    store.job_create(&j).await.unwrap();
    let sp = savepoint(&d, 3, SavepointState::Completed, Some("file:///sp/gone"));
    store.savepoint_create(&sp).await.unwrap();
    store.event_append(&event(&d, 4, "hello")).await.unwrap();
    // A deployment of the same name elsewhere stays.
    let kept = deployment(&*store, "default", "counter", 1).await;

    store.namespace_delete("gone").await.unwrap();

    assert_err!(
        store.namespace_get("gone").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.deployment_get("gone", d.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.deployment_get_by_name("gone", "counter").await,
        StoreError::NotFound { .. }
    );
    assert!(store
        .deployment_list(Some("gone"))
        .await
        .unwrap()
        .is_empty());
    assert_err!(
        store.target_get("gone", "session").await,
        StoreError::NotFound { .. }
    );
    assert!(store.target_list("gone").await.unwrap().is_empty());
    assert_err!(
        store.savepoint_get("gone", sp.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert!(store
        .savepoint_list("gone", &SavepointFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .savepoint_count_by_location("file:///sp/gone")
            .await
            .unwrap(),
        0
    );
    assert_err!(
        store.job_get("gone", j.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert!(store
        .job_list("gone", &JobFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .event_list("gone", &EventFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert_err!(
        store.deployment_defaults_get("gone").await,
        StoreError::NotFound { .. }
    );
    assert_eq!(
        store
            .deployment_get("default", kept.metadata.id)
            .await
            .unwrap(),
        kept
    );

    // Nothing is left over to reappear in a namespace of the same name.
    namespace(&*store, "gone").await;
    assert_eq!(
        store
            .deployment_defaults_get("gone")
            .await
            .unwrap()
            .metadata
            .resource_version,
        0
    );
    assert!(store
        .deployment_list(Some("gone"))
        .await
        .unwrap()
        .is_empty());
    store
        .target_create(&DeploymentTarget::new(
            "gone",
            "session",
            "http://127.0.0.1:8081",
        ))
        .await
        .unwrap();
}

pub async fn deployment_defaults_get_and_put(store: Arc<dyn Store>) {
    let empty = store
        .deployment_defaults_get(DEFAULT_NAMESPACE)
        .await
        .unwrap();
    assert_eq!(empty.metadata.resource_version, 0);
    assert_eq!(empty.metadata.namespace, DEFAULT_NAMESPACE);
    assert_eq!(empty.spec, serde_json::json!({}));

    let mut d = empty.clone();
    d.spec = serde_json::json!({"upgradeStrategy": {"kind": "STATELESS"}});
    d.metadata.modified_at = at(0);
    let v1 = store.deployment_defaults_put(&d).await.unwrap();
    assert_eq!(v1.metadata.resource_version, 1);
    assert_eq!(v1.spec, d.spec);
    assert!(v1.metadata.modified_at > at(0), "modifiedAt is refreshed");
    assert_eq!(
        store
            .deployment_defaults_get(DEFAULT_NAMESPACE)
            .await
            .unwrap(),
        v1
    );

    // A second "first write" lost the race.
    assert_err!(
        store.deployment_defaults_put(&d).await,
        StoreError::Conflict {
            expected: 0,
            actual: 1,
            ..
        }
    );

    let mut next = v1.clone();
    next.spec = serde_json::json!({});
    let v2 = store.deployment_defaults_put(&next).await.unwrap();
    assert_eq!(v2.metadata.resource_version, 2);
    assert_err!(
        store.deployment_defaults_put(&v1).await,
        StoreError::Conflict {
            expected: 1,
            actual: 2,
            ..
        }
    );
    assert_eq!(
        store
            .deployment_defaults_get(DEFAULT_NAMESPACE)
            .await
            .unwrap(),
        v2
    );

    // Defaults never written, but the caller claims a version.
    namespace(&*store, "fresh").await;
    let mut claimed = DeploymentDefaults::empty("fresh");
    claimed.metadata.resource_version = 3;
    assert_err!(
        store.deployment_defaults_put(&claimed).await,
        StoreError::Conflict {
            expected: 3,
            actual: 0,
            ..
        }
    );

    assert_err!(
        store.deployment_defaults_get("never").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .deployment_defaults_put(&DeploymentDefaults::empty("never"))
            .await,
        StoreError::NotFound { .. }
    );
}
