//! Change notifications: one per committed write, sent before the write returns, none for a write that
//! failed.

use std::sync::Arc;

use stateplane_model::{
    Deployment, DeploymentDefaults, DeploymentTarget, DesiredState, Namespace, SavepointState,
    DEFAULT_NAMESPACE,
};
use tokio::sync::broadcast::{error::TryRecvError, Receiver};

use super::{assert_err, deployment, event, job, namespace, savepoint, spec};
use crate::{Change, ResourceKind, Store, StoreError};

/// The change that must already be waiting.
#[track_caller]
fn next(rx: &mut Receiver<Change>) -> Change {
    match rx.try_recv() {
        Ok(c) => c,
        Err(e) => panic!("expected a change, got {e:?}"),
    }
}

#[track_caller]
fn nothing_more(rx: &mut Receiver<Change>) {
    match rx.try_recv() {
        Err(TryRecvError::Empty) => {}
        other => panic!("expected no change, got {other:?}"),
    }
}

fn change(kind: ResourceKind, ns: &str, id: impl ToString, d: Option<&Deployment>) -> Change {
    Change {
        kind,
        namespace: ns.into(),
        id: id.to_string(),
        deployment_id: d.map(|d| d.metadata.id),
    }
}

pub async fn changes_announce_committed_writes(store: Arc<dyn Store>) {
    use ResourceKind as K;
    let mut rx = store.changes();
    let ns = "watched";

    store.namespace_create(&Namespace::new(ns)).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Namespace, ns, ns, None));

    store
        .deployment_defaults_put(&DeploymentDefaults::empty(ns))
        .await
        .unwrap();
    assert_eq!(next(&mut rx), change(K::DeploymentDefaults, ns, ns, None));

    store
        .target_create(&DeploymentTarget::new(
            ns,
            "session",
            "http://127.0.0.1:8081",
        ))
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx),
        change(K::DeploymentTarget, ns, "session", None)
    );
    let t = store.target_get(ns, "session").await.unwrap();
    store.target_update(&t).await.unwrap();
    assert_eq!(
        next(&mut rx),
        change(K::DeploymentTarget, ns, "session", None)
    );
    store.target_delete(ns, "session").await.unwrap();
    assert_eq!(
        next(&mut rx),
        change(K::DeploymentTarget, ns, "session", None)
    );

    let d = Deployment::new(ns, "counter", spec());
    store.deployment_create(&d).await.unwrap();
    let dep = Some(&d);
    assert_eq!(next(&mut rx), change(K::Deployment, ns, d.metadata.id, dep));
    let d = store.deployment_update(&d).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Deployment, ns, d.metadata.id, dep));

    let s = savepoint(&d, 1, SavepointState::Started, None);
    store.savepoint_create(&s).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Savepoint, ns, s.metadata.id, dep));
    store.savepoint_update(&s).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Savepoint, ns, s.metadata.id, dep));
    store.savepoint_delete(ns, s.metadata.id).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Savepoint, ns, s.metadata.id, dep));

    let j = job(&d, 2);
    store.job_create(&j).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Job, ns, j.metadata.id, dep));
    store.job_update(&j).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Job, ns, j.metadata.id, dep));

    let e = event(&d, 3, "hello");
    store.event_append(&e).await.unwrap();
    assert_eq!(next(&mut rx), change(K::Event, ns, e.metadata.id, dep));

    store
        .jar_put("http://127.0.0.1:8081", "abc", "1_job.jar")
        .await
        .unwrap();
    nothing_more(&mut rx);

    // A namespace delete announces the deployments it removed, then the namespace.
    let other = deployment(&*store, ns, "other", 4).await;
    assert_eq!(
        next(&mut rx),
        change(K::Deployment, ns, other.metadata.id, Some(&other))
    );
    store.namespace_delete(ns).await.unwrap();
    let mut removed = vec![next(&mut rx), next(&mut rx)];
    removed.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![
        change(K::Deployment, ns, d.metadata.id, dep),
        change(K::Deployment, ns, other.metadata.id, Some(&other)),
    ];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(removed, expected);
    assert_eq!(next(&mut rx), change(K::Namespace, ns, ns, None));
    nothing_more(&mut rx);

    let d = deployment(&*store, DEFAULT_NAMESPACE, "last", 5).await;
    assert_eq!(
        next(&mut rx),
        change(K::Deployment, DEFAULT_NAMESPACE, d.metadata.id, Some(&d))
    );
    store
        .deployment_delete(DEFAULT_NAMESPACE, d.metadata.id)
        .await
        .unwrap();
    assert_eq!(
        next(&mut rx),
        change(K::Deployment, DEFAULT_NAMESPACE, d.metadata.id, Some(&d))
    );
    nothing_more(&mut rx);
}

pub async fn failed_writes_announce_nothing(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    namespace(&*store, "busy").await;
    let mut running = deployment(&*store, "busy", "running", 1).await;
    running.spec.state = DesiredState::Running;
    running.spec.deployment_target_name = Some("session".into());
    let running = store.deployment_update(&running).await.unwrap();
    store
        .target_create(&DeploymentTarget::new(
            "busy",
            "session",
            "http://127.0.0.1:8081",
        ))
        .await
        .unwrap();
    let d = deployment(&*store, ns, "counter", 1).await;
    let s = savepoint(&d, 2, SavepointState::Started, None);
    store.savepoint_create(&s).await.unwrap();
    let j = job(&d, 3);
    store.job_create(&j).await.unwrap();
    let e = event(&d, 4, "hello");
    store.event_append(&e).await.unwrap();
    let v2 = store.deployment_update(&d).await.unwrap();

    let mut rx = store.changes();
    assert_err!(
        store.namespace_create(&Namespace::new("busy")).await,
        StoreError::AlreadyExists { .. }
    );
    assert_err!(store.namespace_delete("busy").await, StoreError::Refused(_));
    assert_err!(
        store.namespace_delete("never").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .deployment_defaults_put(&DeploymentDefaults::empty("never"))
            .await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .deployment_create(&Deployment::new(ns, "counter", spec()))
            .await,
        StoreError::AlreadyExists { .. }
    );
    assert_err!(
        store.deployment_update(&d).await,
        StoreError::Conflict { .. }
    );
    assert_err!(
        store.deployment_delete("busy", v2.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.target_delete("busy", "session").await,
        StoreError::Refused(_)
    );
    assert_err!(
        store.target_delete(ns, "session").await,
        StoreError::NotFound { .. }
    );
    let mut orphan = savepoint(&running, 5, SavepointState::Started, None);
    orphan.metadata.namespace = ns.into();
    assert_err!(
        store.savepoint_create(&orphan).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.savepoint_create(&s).await,
        StoreError::AlreadyExists { .. }
    );
    let stored = store.savepoint_update(&s).await.unwrap();
    let _ = next(&mut rx);
    assert_err!(
        store.savepoint_update(&s).await,
        StoreError::Conflict { .. }
    );
    store
        .savepoint_delete(ns, stored.metadata.id)
        .await
        .unwrap();
    let _ = next(&mut rx);
    assert_err!(
        store.savepoint_delete(ns, stored.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(store.job_create(&j).await, StoreError::AlreadyExists { .. });
    store.job_update(&j).await.unwrap();
    let _ = next(&mut rx);
    assert_err!(store.job_update(&j).await, StoreError::Conflict { .. });
    assert_err!(
        store.event_append(&e).await,
        StoreError::AlreadyExists { .. }
    );
    nothing_more(&mut rx);
}
