//! Savepoint resources: ownership, list order and filters, location counting, in-flight scan, CAS.

use std::collections::BTreeSet;
use std::sync::Arc;

use stateplane_model::{
    normalize_location, DeploymentId, JobId, Savepoint, SavepointId, SavepointOrigin,
    SavepointState, DEFAULT_NAMESPACE,
};

use super::{assert_err, at, deployment, namespace, savepoint};
use crate::{SavepointFilter, Store, StoreError};

fn ids(v: &[Savepoint]) -> Vec<SavepointId> {
    v.iter().map(|s| s.metadata.id).collect()
}

pub async fn savepoint_create_needs_deployment(store: Arc<dyn Store>) {
    let d = deployment(&*store, DEFAULT_NAMESPACE, "counter", 1).await;
    let mut orphan = savepoint(&d, 2, SavepointState::Started, None);
    orphan.metadata.deployment_id = DeploymentId::new();
    assert_err!(
        store.savepoint_create(&orphan).await,
        StoreError::NotFound { .. }
    );

    // The deployment must be in the savepoint's namespace.
    namespace(&*store, "other").await;
    let mut wrong_ns = savepoint(&d, 2, SavepointState::Started, None);
    wrong_ns.metadata.namespace = "other".into();
    assert_err!(
        store.savepoint_create(&wrong_ns).await,
        StoreError::NotFound { .. }
    );

    let mut s = savepoint(&d, 2, SavepointState::Completed, Some("file:/sp/1"));
    s.metadata.origin = SavepointOrigin::Copied;
    s.metadata
        .annotations
        .insert(stateplane_model::SPEC_VERSION_ANNOTATION.into(), "3".into());
    s.metadata.job_id = Some(JobId::new());
    store.savepoint_create(&s).await.unwrap();
    assert_eq!(
        store
            .savepoint_get(DEFAULT_NAMESPACE, s.metadata.id)
            .await
            .unwrap(),
        s,
        "stored whole, unchanged"
    );
    assert_err!(
        store.savepoint_create(&s).await,
        StoreError::AlreadyExists { .. }
    );
    assert_err!(
        store.savepoint_get("other", s.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .savepoint_get(DEFAULT_NAMESPACE, SavepointId::new())
            .await,
        StoreError::NotFound { .. }
    );
    assert_eq!(
        store
            .savepoint_list(DEFAULT_NAMESPACE, &SavepointFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn savepoint_list_newest_first_with_filters(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let d1 = deployment(&*store, ns, "one", 1).await;
    let d2 = deployment(&*store, ns, "two", 1).await;
    let (job_a, job_b) = (JobId::new(), JobId::new());
    use SavepointState::*;
    // Inserted out of time order on purpose.
    let specs = [
        (&d1, 30, Completed, job_a),
        (&d1, 10, Failed, job_a),
        (&d2, 25, Completed, job_b),
        (&d1, 50, Started, job_b),
        (&d1, 40, Completed, job_b),
        (&d2, 5, Completed, job_b),
    ];
    let mut all = Vec::new();
    for (d, secs, state, job) in specs {
        let mut s = savepoint(d, secs, state, Some(&format!("file:///sp/{secs}")));
        s.metadata.job_id = Some(job);
        store.savepoint_create(&s).await.unwrap();
        all.push(s);
    }
    // Two with the same time are ordered by id, descending.
    let mut twins = [
        savepoint(&d1, 20, Completed, None),
        savepoint(&d1, 20, Completed, None),
    ];
    for t in &twins {
        store.savepoint_create(t).await.unwrap();
    }
    twins.sort_by_key(|t| std::cmp::Reverse(t.metadata.id));
    // Another namespace's savepoints never show.
    namespace(&*store, "other").await;
    let od = deployment(&*store, "other", "one", 1).await;
    store
        .savepoint_create(&savepoint(&od, 60, Completed, None))
        .await
        .unwrap();

    let by_secs = |v: &[Savepoint]| v.iter().map(|s| s.metadata.created_at).collect::<Vec<_>>();
    let list = |f: SavepointFilter| {
        let store = store.clone();
        async move { store.savepoint_list(ns, &f).await.unwrap() }
    };

    let everything = list(SavepointFilter::default()).await;
    assert_eq!(
        by_secs(&everything),
        [50, 40, 30, 25, 20, 20, 10, 5].map(at)
    );
    assert_eq!(ids(&everything[4..6]), ids(&twins));

    let of_d1 = list(SavepointFilter {
        deployment_id: Some(d1.metadata.id),
        ..Default::default()
    })
    .await;
    assert_eq!(by_secs(&of_d1), [50, 40, 30, 20, 20, 10].map(at));
    assert!(of_d1
        .iter()
        .all(|s| s.metadata.deployment_id == d1.metadata.id));

    let of_job = list(SavepointFilter {
        job_id: Some(job_a),
        ..Default::default()
    })
    .await;
    assert_eq!(by_secs(&of_job), [30, 10].map(at));

    let completed = SavepointFilter {
        deployment_id: Some(d1.metadata.id),
        states: vec![Completed, Failed],
        ..Default::default()
    };
    assert_eq!(
        by_secs(&list(completed.clone()).await),
        [40, 30, 20, 20, 10].map(at)
    );
    let newest_two = list(SavepointFilter {
        limit: Some(2),
        ..completed
    })
    .await;
    assert_eq!(by_secs(&newest_two), [40, 30].map(at));
    let one = list(SavepointFilter {
        states: vec![Started],
        limit: Some(5),
        ..Default::default()
    })
    .await;
    assert_eq!(by_secs(&one), [at(50)]);
    let none = list(SavepointFilter {
        deployment_id: Some(DeploymentId::new()),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    assert!(list(SavepointFilter {
        limit: Some(0),
        ..Default::default()
    })
    .await
    .is_empty());
}

pub async fn savepoint_count_by_location_normalises(store: Arc<dyn Store>) {
    let d = deployment(&*store, DEFAULT_NAMESPACE, "counter", 1).await;
    namespace(&*store, "other").await;
    let od = deployment(&*store, "other", "copy", 1).await;
    // Flink writes file:/x, users write file:///x: one snapshot.
    let mut flink = savepoint(&d, 2, SavepointState::Completed, Some("file:/data/sp/1"));
    store.savepoint_create(&flink).await.unwrap();
    let copied = savepoint(
        &od,
        3,
        SavepointState::Completed,
        Some("file:///data/sp/1/"),
    );
    store.savepoint_create(&copied).await.unwrap();
    store
        .savepoint_create(&savepoint(
            &d,
            4,
            SavepointState::Completed,
            Some("file:///data/sp/2"),
        ))
        .await
        .unwrap();
    store
        .savepoint_create(&savepoint(&d, 5, SavepointState::Started, None))
        .await
        .unwrap();

    let count = |loc: &str| {
        let store = store.clone();
        let key = normalize_location(loc);
        async move { store.savepoint_count_by_location(&key).await.unwrap() }
    };
    assert_eq!(count("file:///data/sp/1").await, 2);
    assert_eq!(count("file:/data/sp/1").await, 2);
    assert_eq!(count("/data/sp/2").await, 1);
    assert_eq!(count("file:///data/sp/3").await, 0);

    // The key follows updates and deletes.
    flink.spec.savepoint_location = Some("file:///data/sp/3".into());
    flink = store.savepoint_update(&flink).await.unwrap();
    assert_eq!(count("file:///data/sp/1").await, 1);
    assert_eq!(count("file:///data/sp/3").await, 1);
    store
        .savepoint_delete("other", copied.metadata.id)
        .await
        .unwrap();
    assert_eq!(count("file:///data/sp/1").await, 0);
    store
        .savepoint_delete(DEFAULT_NAMESPACE, flink.metadata.id)
        .await
        .unwrap();
    assert_eq!(count("file:///data/sp/3").await, 0);
}

pub async fn savepoints_in_flight_across_namespaces(store: Arc<dyn Store>) {
    namespace(&*store, "other").await;
    let d = deployment(&*store, DEFAULT_NAMESPACE, "counter", 1).await;
    let od = deployment(&*store, "other", "counter", 1).await;
    use SavepointState::*;
    let mut expected = BTreeSet::new();
    let mut started = None;
    for (i, state) in [
        Started,
        Completed,
        PendingDeletion,
        Failed,
        Deleting,
        FailedDeletion,
    ]
    .into_iter()
    .enumerate()
    {
        for dep in [&d, &od] {
            let s = savepoint(dep, i as i64, state, Some("file:///sp/x"));
            store.savepoint_create(&s).await.unwrap();
            if state.is_in_flight() {
                expected.insert(s.metadata.id);
            }
            if state == Started {
                started = Some(s);
            }
        }
    }
    let in_flight = store.savepoints_in_flight().await.unwrap();
    assert_eq!(
        in_flight
            .iter()
            .map(|s| s.metadata.id)
            .collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(in_flight.len(), 6);

    let mut done = started.unwrap();
    done.status.state = Completed;
    store.savepoint_update(&done).await.unwrap();
    expected.remove(&done.metadata.id);
    let in_flight = store.savepoints_in_flight().await.unwrap();
    assert_eq!(
        in_flight
            .iter()
            .map(|s| s.metadata.id)
            .collect::<BTreeSet<_>>(),
        expected
    );
}

pub async fn savepoint_update_and_delete(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let d = deployment(&*store, ns, "counter", 1).await;
    let v1 = savepoint(&d, 2, SavepointState::Started, Some("file:///sp/1"));
    store.savepoint_create(&v1).await.unwrap();

    let mut change = v1.clone();
    change.status.state = SavepointState::Completed;
    let v2 = store.savepoint_update(&change).await.unwrap();
    assert_eq!(v2.metadata.resource_version, 2);
    assert!(v2.metadata.modified_at > at(2), "modifiedAt is refreshed");
    assert_eq!(store.savepoint_get(ns, v1.metadata.id).await.unwrap(), v2);
    let completed = SavepointFilter {
        states: vec![SavepointState::Completed],
        ..Default::default()
    };
    assert_eq!(
        ids(&store.savepoint_list(ns, &completed).await.unwrap()),
        [v1.metadata.id],
        "columns follow"
    );

    assert_err!(
        store.savepoint_update(&change).await,
        StoreError::Conflict {
            expected: 1,
            actual: 2,
            ..
        }
    );
    let ghost = savepoint(&d, 3, SavepointState::Started, None);
    assert_err!(
        store.savepoint_update(&ghost).await,
        StoreError::NotFound { .. }
    );

    store.savepoint_delete(ns, v1.metadata.id).await.unwrap();
    assert_err!(
        store.savepoint_get(ns, v1.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.savepoint_delete(ns, v1.metadata.id).await,
        StoreError::NotFound { .. }
    );
    store.deployment_get(ns, d.metadata.id).await.unwrap();
}

pub async fn savepoint_create_ordered_comes_after_the_newest(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let d = deployment(&*store, ns, "counter", 1).await;
    let other = deployment(&*store, ns, "other", 1).await;
    let mut rx = store.changes();

    // The first one is created now, whatever time the caller put in.
    let before = stateplane_model::now();
    let first = store
        .savepoint_create_ordered(&savepoint(&d, 1, SavepointState::Started, None))
        .await
        .unwrap();
    let after = stateplane_model::now();
    assert!(
        before <= first.metadata.created_at && first.metadata.created_at <= after,
        "{before} <= {} <= {after}",
        first.metadata.created_at
    );
    assert_eq!(first.metadata.modified_at, first.metadata.created_at);
    assert_eq!(
        store.savepoint_get(ns, first.metadata.id).await.unwrap(),
        first,
        "what is returned is what is stored"
    );
    assert_eq!(
        rx.try_recv().unwrap().id,
        first.metadata.id.to_string(),
        "announced like any create"
    );

    // A newer savepoint of the deployment (a clock ahead of this one): the next comes 1 µs after it.
    let ahead = after + chrono::TimeDelta::hours(1);
    let mut newest = savepoint(&d, 0, SavepointState::Completed, Some("file:///sp/ahead"));
    newest.metadata.created_at = ahead;
    store.savepoint_create(&newest).await.unwrap();
    let micro = chrono::TimeDelta::microseconds(1);
    let second = store
        .savepoint_create_ordered(&savepoint(&d, 1, SavepointState::Started, None))
        .await
        .unwrap();
    assert_eq!(second.metadata.created_at, ahead + micro);
    let third = store
        .savepoint_create_ordered(&savepoint(&d, 1, SavepointState::Started, None))
        .await
        .unwrap();
    assert_eq!(third.metadata.created_at, ahead + micro * 2);
    // Other deployments' savepoints do not count.
    let elsewhere = store
        .savepoint_create_ordered(&savepoint(&other, 1, SavepointState::Started, None))
        .await
        .unwrap();
    assert!(elsewhere.metadata.created_at < ahead);

    // Concurrent creates for one deployment each get a time of their own, all after the newest.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let store = store.clone();
        let s = savepoint(&d, 1, SavepointState::Started, None);
        tasks.spawn(async move { store.savepoint_create_ordered(&s).await });
    }
    let mut times = BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let s = r.unwrap().unwrap();
        assert!(s.metadata.created_at > third.metadata.created_at);
        times.insert(s.metadata.created_at);
    }
    assert_eq!(times.len(), 16, "no two share a creation time");

    // Errors are those of a create, and write nothing.
    let mut orphan = savepoint(&d, 1, SavepointState::Started, None);
    orphan.metadata.deployment_id = DeploymentId::new();
    assert_err!(
        store.savepoint_create_ordered(&orphan).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.savepoint_create_ordered(&first).await,
        StoreError::AlreadyExists { .. }
    );
    let of_d = SavepointFilter {
        deployment_id: Some(d.metadata.id),
        ..Default::default()
    };
    assert_eq!(store.savepoint_list(ns, &of_d).await.unwrap().len(), 4 + 16);
}
