//! Deployments: identity, listing order, compare-and-swap and the cascade on delete.

use std::sync::Arc;

use stateplane_model::{Deployment, DeploymentId, DesiredState, SavepointState, DEFAULT_NAMESPACE};

use super::{assert_err, at, deployment, event, job, namespace, savepoint, spec};
use crate::{EventFilter, JobFilter, SavepointFilter, Store, StoreError};

pub async fn deployment_create_and_get(store: Arc<dyn Store>) {
    let mut d = Deployment::new(DEFAULT_NAMESPACE, "counter", spec());
    d.metadata.labels.insert("team".into(), "a".into());
    d.spec.deployment_target_name = Some("session".into());
    store.deployment_create(&d).await.unwrap();
    let id = d.metadata.id;

    assert_eq!(
        store.deployment_get(DEFAULT_NAMESPACE, id).await.unwrap(),
        d,
        "stored whole, unchanged"
    );
    assert_eq!(
        store
            .deployment_get_by_name(DEFAULT_NAMESPACE, "counter")
            .await
            .unwrap(),
        d
    );

    namespace(&*store, "other").await;
    assert_err!(
        store.deployment_get("other", id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.deployment_get_by_name("other", "counter").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .deployment_get(DEFAULT_NAMESPACE, DeploymentId::new())
            .await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .deployment_get_by_name(DEFAULT_NAMESPACE, "nope")
            .await,
        StoreError::NotFound { .. }
    );
}

pub async fn deployment_create_refusals(store: Arc<dyn Store>) {
    let d = deployment(&*store, DEFAULT_NAMESPACE, "counter", 1).await;

    let same_name = Deployment::new(DEFAULT_NAMESPACE, "counter", spec());
    assert_err!(
        store.deployment_create(&same_name).await,
        StoreError::AlreadyExists { .. }
    );
    assert_err!(
        store.deployment_create(&d).await,
        StoreError::AlreadyExists { .. }
    );

    let lost = Deployment::new("no-such-namespace", "counter", spec());
    assert_err!(
        store.deployment_create(&lost).await,
        StoreError::NotFound { .. }
    );

    // Names are unique per namespace only.
    namespace(&*store, "other").await;
    store
        .deployment_create(&Deployment::new("other", "counter", spec()))
        .await
        .unwrap();

    assert_eq!(
        store.deployment_list(None).await.unwrap().len(),
        2,
        "failed creates stored nothing"
    );
}

pub async fn deployment_list_oldest_first(store: Arc<dyn Store>) {
    namespace(&*store, "other").await;
    let b = deployment(&*store, DEFAULT_NAMESPACE, "b", 20).await;
    let a = deployment(&*store, DEFAULT_NAMESPACE, "a", 10).await;
    let o = deployment(&*store, "other", "o", 15).await;
    let c = deployment(&*store, DEFAULT_NAMESPACE, "c", 30).await;

    let ids = |v: Vec<Deployment>| v.into_iter().map(|d| d.metadata.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .deployment_list(Some(DEFAULT_NAMESPACE))
            .await
            .unwrap()),
        [a.metadata.id, b.metadata.id, c.metadata.id]
    );
    assert_eq!(
        ids(store.deployment_list(Some("other")).await.unwrap()),
        [o.metadata.id]
    );
    assert_eq!(
        ids(store.deployment_list(None).await.unwrap()),
        [a.metadata.id, o.metadata.id, b.metadata.id, c.metadata.id]
    );
    assert!(store
        .deployment_list(Some("no-such-namespace"))
        .await
        .unwrap()
        .is_empty());
}

pub async fn deployment_update_is_compare_and_swap(store: Arc<dyn Store>) {
    let v1 = deployment(&*store, DEFAULT_NAMESPACE, "counter", 1).await;
    let other = deployment(&*store, DEFAULT_NAMESPACE, "other", 2).await;

    let mut change = v1.clone();
    change.spec.state = DesiredState::Running;
    let v2 = store.deployment_update(&change).await.unwrap();
    assert_eq!(
        v2.metadata.resource_version,
        v1.metadata.resource_version + 1
    );
    assert!(v2.metadata.modified_at > at(1), "modifiedAt is refreshed");
    assert_eq!(v2.metadata.created_at, v1.metadata.created_at);
    assert_eq!(v2.spec.state, DesiredState::Running);
    assert_eq!(
        store
            .deployment_get(DEFAULT_NAMESPACE, v1.metadata.id)
            .await
            .unwrap(),
        v2,
        "returns what it stored"
    );

    // Someone who read v1 loses.
    let mut stale = v1.clone();
    stale.spec.state = DesiredState::Suspended;
    match store.deployment_update(&stale).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!(
                (expected, actual),
                (v1.metadata.resource_version, v2.metadata.resource_version)
            )
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store
            .deployment_get(DEFAULT_NAMESPACE, v1.metadata.id)
            .await
            .unwrap(),
        v2,
        "no silent overwrite"
    );

    let v3 = store.deployment_update(&v2).await.unwrap();
    assert_eq!(
        v3.metadata.resource_version,
        v2.metadata.resource_version + 1
    );

    // A rename onto a taken name is refused and changes nothing.
    let mut rename = v3.clone();
    rename.metadata.name = other.metadata.name.clone();
    assert_err!(
        store.deployment_update(&rename).await,
        StoreError::AlreadyExists { .. }
    );
    assert_eq!(
        store
            .deployment_get(DEFAULT_NAMESPACE, v1.metadata.id)
            .await
            .unwrap(),
        v3
    );

    let unknown = Deployment::new(DEFAULT_NAMESPACE, "ghost", spec());
    assert_err!(
        store.deployment_update(&unknown).await,
        StoreError::NotFound { .. }
    );
    namespace(&*store, "elsewhere").await;
    let mut moved = v3.clone();
    moved.metadata.namespace = "elsewhere".into();
    assert_err!(
        store.deployment_update(&moved).await,
        StoreError::NotFound { .. }
    );
}

pub async fn deployment_delete_cascades(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let gone = deployment(&*store, ns, "gone", 1).await;
    let kept = deployment(&*store, ns, "kept", 2).await;
    let mut owned = Vec::new();
    for d in [&gone, &kept] {
        let j = job(d, 3);
        store.job_create(&j).await.unwrap();
        let s = savepoint(
            d,
            4,
            SavepointState::Completed,
            Some(&format!("file:///sp/{}", d.metadata.name)),
        );
        store.savepoint_create(&s).await.unwrap();
        store
            .event_append(&event(d, 5, "started").with_job(j.metadata.id))
            .await
            .unwrap();
        owned.push((j, s));
    }

    namespace(&*store, "other").await;
    assert_err!(
        store.deployment_delete("other", gone.metadata.id).await,
        StoreError::NotFound { .. }
    );
    store.deployment_delete(ns, gone.metadata.id).await.unwrap();

    assert_err!(
        store.deployment_get(ns, gone.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.job_get(ns, owned[0].0.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.savepoint_get(ns, owned[0].1.metadata.id).await,
        StoreError::NotFound { .. }
    );
    let of = |d: &Deployment| EventFilter {
        deployment_id: Some(d.metadata.id),
        ..Default::default()
    };
    assert!(store.event_list(ns, &of(&gone)).await.unwrap().is_empty());
    assert_eq!(
        store
            .savepoint_count_by_location("file:///sp/gone")
            .await
            .unwrap(),
        0
    );

    // The other deployment keeps everything.
    assert_eq!(
        store.deployment_get(ns, kept.metadata.id).await.unwrap(),
        kept
    );
    assert_eq!(
        store.job_list(ns, &JobFilter::default()).await.unwrap(),
        [owned[1].0.clone()]
    );
    assert_eq!(
        store
            .savepoint_list(ns, &SavepointFilter::default())
            .await
            .unwrap(),
        [owned[1].1.clone()]
    );
    assert_eq!(
        store
            .event_list(ns, &EventFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );

    assert_err!(
        store.deployment_delete(ns, gone.metadata.id).await,
        StoreError::NotFound { .. }
    );
    // The name is free again.
    deployment(&*store, ns, "gone", 6).await;
}

pub async fn deployment_concurrent_updates_one_wins(store: Arc<dyn Store>) {
    let read = deployment(&*store, DEFAULT_NAMESPACE, "contended", 1).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        let mut d = read.clone();
        d.metadata.labels.insert("writer".into(), i.to_string());
        tasks.spawn(async move { store.deployment_update(&d).await });
    }
    let mut won = Vec::new();
    let mut conflicts = 0;
    while let Some(res) = tasks.join_next().await {
        match res.unwrap() {
            Ok(d) => won.push(d),
            Err(StoreError::Conflict {
                expected, actual, ..
            }) => {
                assert_eq!((expected, actual), (1, 2));
                conflicts += 1;
            }
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, 19);
    let stored = store
        .deployment_get(DEFAULT_NAMESPACE, read.metadata.id)
        .await
        .unwrap();
    assert_eq!(stored, won[0]);
    assert_eq!(stored.metadata.resource_version, 2);
}

pub async fn deployment_count_by_state_follows_every_write(store: Arc<dyn Store>) {
    use stateplane_model::DeploymentState::*;
    assert_eq!(store.deployment_count_by_state().await.unwrap(), []);

    namespace(&*store, "other").await;
    let mut running = Vec::new();
    for (ns, name) in [
        (DEFAULT_NAMESPACE, "a"),
        (DEFAULT_NAMESPACE, "b"),
        ("other", "a"),
    ] {
        let mut d = deployment(&*store, ns, name, 1).await;
        d.status.state = Running;
        running.push(store.deployment_update(&d).await.unwrap());
    }
    let failed = deployment(&*store, "other", "failed", 2).await;
    let mut f = failed.clone();
    f.status.state = Failed;
    store.deployment_update(&f).await.unwrap();
    deployment(&*store, DEFAULT_NAMESPACE, "idle", 3).await;
    // Sorted by state, every namespace counted, states nobody has left out.
    assert_eq!(
        store.deployment_count_by_state().await.unwrap(),
        [(Running, 3), (Cancelled, 1), (Failed, 1)]
    );

    let mut d = running.pop().unwrap();
    d.status.state = Suspended;
    store.deployment_update(&d).await.unwrap();
    store
        .deployment_delete("other", failed.metadata.id)
        .await
        .unwrap();
    assert_eq!(
        store.deployment_count_by_state().await.unwrap(),
        [(Running, 2), (Suspended, 1), (Cancelled, 1)]
    );
}

pub async fn deployment_count_with_condition_counts_running_ones_with_it_true(
    store: Arc<dyn Store>,
) {
    use stateplane_model::conditions::{ConditionStatus, DeploymentCondition, JOB_FAILING};
    let condition = |status| DeploymentCondition {
        kind: JOB_FAILING.into(),
        status,
        reason: Some("JobRestarting".into()),
        message: Some("Flink reports the job restarting: \"type\":\"JobFailing\"".into()),
        last_transition_time: None,
        last_update_time: None,
    };
    let mut written = Vec::new();
    for (name, state, status) in [
        (
            "a",
            stateplane_model::DeploymentState::Running,
            ConditionStatus::True,
        ),
        (
            "b",
            stateplane_model::DeploymentState::Running,
            ConditionStatus::False,
        ),
        (
            "c",
            stateplane_model::DeploymentState::Running,
            ConditionStatus::True,
        ),
        (
            "d",
            stateplane_model::DeploymentState::Suspended,
            ConditionStatus::True,
        ),
    ] {
        let mut d = deployment(&*store, DEFAULT_NAMESPACE, name, 1).await;
        d.status.state = state;
        d.status.running = Some(stateplane_model::DeploymentStatusRunning {
            job_id: stateplane_model::JobId::new(),
            transition_time: stateplane_model::now(),
            conditions: vec![condition(status)],
        });
        written.push(store.deployment_update(&d).await.unwrap());
    }
    assert_eq!(
        store
            .deployment_count_with_condition(JOB_FAILING)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .deployment_count_with_condition("ClusterUnreachable")
            .await
            .unwrap(),
        0
    );
    // Not a condition type: nothing, never a wildcard.
    assert_eq!(store.deployment_count_with_condition("%").await.unwrap(), 0);
    let mut a = written.remove(0);
    a.status.running.as_mut().unwrap().conditions = vec![condition(ConditionStatus::False)];
    store.deployment_update(&a).await.unwrap();
    assert_eq!(
        store
            .deployment_count_with_condition(JOB_FAILING)
            .await
            .unwrap(),
        1
    );
}
