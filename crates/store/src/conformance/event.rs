//! Events: appended, listed oldest first, filtered, and the newest N when limited.

use std::sync::Arc;

use stateplane_model::{DeploymentId, Event, EventName, JobId, DEFAULT_NAMESPACE};

use super::{assert_err, at, deployment, event, namespace};
use crate::{EventFilter, Store, StoreError};

pub async fn event_append_and_list_with_filters(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let d1 = deployment(&*store, ns, "one", 1).await;
    let d2 = deployment(&*store, ns, "two", 1).await;
    let job = JobId::new();
    let mut appended = Vec::new();
    for i in 1..=6 {
        let d = if i % 2 == 1 { &d1 } else { &d2 };
        let mut e = event(d, i, &format!("step {i}"));
        if i >= 4 {
            e = e.with_job(job);
        }
        store.event_append(&e).await.unwrap();
        appended.push(e);
    }
    // An event about the namespace only.
    let mut general = Event::new(
        ns,
        d1.metadata.id,
        EventName::GeneralFailure,
        "namespace-wide",
    );
    general.metadata.deployment_id = None;
    general.metadata.created_at = at(7);
    store.event_append(&general).await.unwrap();
    appended.push(general);
    namespace(&*store, "other").await;
    let od = deployment(&*store, "other", "one", 1).await;
    store
        .event_append(&event(&od, 8, "elsewhere"))
        .await
        .unwrap();

    let messages = |v: Vec<Event>| v.into_iter().map(|e| e.spec.message).collect::<Vec<_>>();
    let list = |f: EventFilter| {
        let store = store.clone();
        async move { messages(store.event_list(ns, &f).await.unwrap()) }
    };

    let all = store.event_list(ns, &EventFilter::default()).await.unwrap();
    assert_eq!(all, appended, "stored whole, oldest first");
    let of_d1 = EventFilter {
        deployment_id: Some(d1.metadata.id),
        ..Default::default()
    };
    assert_eq!(list(of_d1.clone()).await, ["step 1", "step 3", "step 5"]);
    let of_job = EventFilter {
        job_id: Some(job),
        ..Default::default()
    };
    assert_eq!(list(of_job).await, ["step 4", "step 5", "step 6"]);
    let after = EventFilter {
        after: Some(at(3)),
        ..Default::default()
    };
    assert_eq!(
        list(after).await,
        ["step 4", "step 5", "step 6", "namespace-wide"],
        "strictly after"
    );
    let newest = EventFilter {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(
        list(newest).await,
        ["step 6", "namespace-wide"],
        "the newest N, oldest first"
    );
    let combined = EventFilter {
        limit: Some(2),
        after: Some(at(1)),
        ..of_d1
    };
    assert_eq!(list(combined).await, ["step 3", "step 5"]);
    let unknown = EventFilter {
        deployment_id: Some(DeploymentId::new()),
        ..Default::default()
    };
    assert!(list(unknown).await.is_empty());
    assert_eq!(
        messages(
            store
                .event_list("other", &EventFilter::default())
                .await
                .unwrap()
        ),
        ["elsewhere"]
    );

    assert_err!(
        store.event_append(&appended[0]).await,
        StoreError::AlreadyExists { .. }
    );
    let mut orphan = event(&d1, 9, "orphan");
    orphan.metadata.deployment_id = Some(DeploymentId::new());
    assert_err!(
        store.event_append(&orphan).await,
        StoreError::NotFound { .. }
    );
    let mut lost = event(&d1, 9, "lost");
    lost.metadata.namespace = "no-such-namespace".into();
    lost.metadata.deployment_id = None;
    assert_err!(store.event_append(&lost).await, StoreError::NotFound { .. });
    assert_eq!(
        store
            .event_list(ns, &EventFilter::default())
            .await
            .unwrap()
            .len(),
        7
    );
}
