//! Job resources: ownership, newest-first listing, CAS and the active-jobs scan.

use std::collections::BTreeSet;
use std::sync::Arc;

use stateplane_model::{DeploymentId, Job, JobId, JobState, DEFAULT_NAMESPACE};

use super::{assert_err, at, deployment, job, namespace};
use crate::{JobFilter, Store, StoreError};

fn ids(v: &[Job]) -> Vec<JobId> {
    v.iter().map(|j| j.metadata.id).collect()
}

pub async fn job_create_get_list_update(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let d1 = deployment(&*store, ns, "one", 1).await;
    let d2 = deployment(&*store, ns, "two", 1).await;
    let j1 = job(&d1, 10);
    let j3 = job(&d2, 30);
    let j2 = job(&d1, 20);
    for j in [&j1, &j3, &j2] {
        store.job_create(j).await.unwrap();
    }
    assert_eq!(
        store.job_get(ns, j1.metadata.id).await.unwrap(),
        j1,
        "stored whole, unchanged"
    );
    assert_err!(
        store.job_create(&j1).await,
        StoreError::AlreadyExists { .. }
    );
    let mut orphan = job(&d1, 40);
    orphan.metadata.deployment_id = DeploymentId::new();
    assert_err!(store.job_create(&orphan).await, StoreError::NotFound { .. });
    assert_err!(
        store.job_get(ns, JobId::new()).await,
        StoreError::NotFound { .. }
    );
    namespace(&*store, "other").await;
    assert_err!(
        store.job_get("other", j1.metadata.id).await,
        StoreError::NotFound { .. }
    );

    let all = store.job_list(ns, &JobFilter::default()).await.unwrap();
    assert_eq!(
        ids(&all),
        [j3.metadata.id, j2.metadata.id, j1.metadata.id],
        "newest first"
    );
    let of_d1 = JobFilter {
        deployment_id: Some(d1.metadata.id),
        limit: None,
    };
    assert_eq!(
        ids(&store.job_list(ns, &of_d1).await.unwrap()),
        [j2.metadata.id, j1.metadata.id]
    );
    let latest = JobFilter {
        deployment_id: Some(d1.metadata.id),
        limit: Some(1),
    };
    assert_eq!(
        ids(&store.job_list(ns, &latest).await.unwrap()),
        [j2.metadata.id]
    );
    assert!(store
        .job_list("other", &JobFilter::default())
        .await
        .unwrap()
        .is_empty());

    let mut change = j2.clone();
    change.status.state = JobState::Started;
    let v2 = store.job_update(&change).await.unwrap();
    assert_eq!(v2.metadata.resource_version, 2);
    assert!(v2.metadata.modified_at > at(20), "modifiedAt is refreshed");
    assert_eq!(store.job_get(ns, j2.metadata.id).await.unwrap(), v2);
    assert_err!(
        store.job_update(&change).await,
        StoreError::Conflict {
            expected: 1,
            actual: 2,
            ..
        }
    );
    assert_err!(
        store.job_update(&job(&d1, 50)).await,
        StoreError::NotFound { .. }
    );
}

pub async fn jobs_active_across_namespaces(store: Arc<dyn Store>) {
    namespace(&*store, "other").await;
    let d = deployment(&*store, DEFAULT_NAMESPACE, "counter", 1).await;
    let od = deployment(&*store, "other", "counter", 1).await;
    let mut expected = BTreeSet::new();
    let mut running = None;
    for (i, state) in JobState::ALL.iter().copied().enumerate() {
        for dep in [&d, &od] {
            let mut j = job(dep, i as i64);
            j.status.state = state;
            store.job_create(&j).await.unwrap();
            if !state.is_terminal() {
                expected.insert(j.metadata.id);
            }
            if state == JobState::Started {
                running = Some(j);
            }
        }
    }
    let active = store.jobs_active().await.unwrap();
    assert_eq!(
        active
            .iter()
            .map(|j| j.metadata.id)
            .collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(active.len(), 6);

    let mut stopped = running.unwrap();
    stopped.status.state = JobState::Terminated;
    store.job_update(&stopped).await.unwrap();
    expected.remove(&stopped.metadata.id);
    let active = store.jobs_active().await.unwrap();
    assert_eq!(
        active
            .iter()
            .map(|j| j.metadata.id)
            .collect::<BTreeSet<_>>(),
        expected
    );
}
