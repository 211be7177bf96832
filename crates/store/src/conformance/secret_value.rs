//! Secret values: names unique per namespace, compare-and-swap updates of the resource and its
//! sealed value, lists that carry no sealed value, deletion with the namespace, announcements, and
//! the key check written once.

use std::sync::Arc;

use stateplane_model::{SecretValue, DEFAULT_NAMESPACE};

use super::{assert_err, at, namespace};
use crate::{ResourceKind, Store, StoreError, StoredSecretValue};

/// A secret value (not stored yet) created at `at(secs)` with `sealed` as its sealed value.
fn secret(ns: &str, name: &str, sealed: &str, secs: i64) -> StoredSecretValue {
    let mut resource = SecretValue::new(ns, name);
    resource.metadata.created_at = at(secs);
    resource.metadata.modified_at = at(secs);
    StoredSecretValue {
        resource,
        sealed: sealed.to_string(),
    }
}

pub async fn secret_value_create_get_list_update_delete(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let mut changes = store.changes();
    let pw = secret(ns, "DB_PASSWORD", "v1:sealed-one", 1);
    store.secret_value_create(&pw).await.unwrap();
    let c = changes.recv().await.unwrap();
    assert_eq!(
        (c.kind, c.namespace.as_str(), c.id.as_str()),
        (ResourceKind::SecretValue, ns, "DB_PASSWORD")
    );
    assert_eq!(store.secret_value_get(ns, "DB_PASSWORD").await.unwrap(), pw);
    let token = secret(ns, "api-token", "v1:sealed-two", 2);
    store.secret_value_create(&token).await.unwrap();
    namespace(&*store, "other").await;
    let elsewhere = secret("other", "DB_PASSWORD", "v1:sealed-three", 3);
    store.secret_value_create(&elsewhere).await.unwrap();

    assert_eq!(
        store.secret_value_list(ns).await.unwrap(),
        [pw.resource.clone(), token.resource.clone()],
        "by name (byte order), this namespace only"
    );
    assert!(store.secret_value_list("no-such").await.unwrap().is_empty());

    // a new value and a label, based on the version read
    let mut next = pw.clone();
    next.sealed = "v1:sealed-four".into();
    next.resource
        .metadata
        .labels
        .insert("team".into(), "a".into());
    let stored = store.secret_value_update(&next).await.unwrap();
    assert_eq!(stored.metadata.resource_version, 2);
    assert!(stored.metadata.modified_at > pw.resource.metadata.modified_at);
    let read = store.secret_value_get(ns, "DB_PASSWORD").await.unwrap();
    assert_eq!(read.resource, stored);
    assert_eq!(read.sealed, "v1:sealed-four");
    // the same stale version again: refused, nothing changed
    assert_err!(
        store.secret_value_update(&next).await,
        StoreError::Conflict { expected: 1, actual: 2, ref id, .. } if id == "DB_PASSWORD"
    );
    assert_eq!(
        store
            .secret_value_get(ns, "DB_PASSWORD")
            .await
            .unwrap()
            .sealed,
        "v1:sealed-four"
    );

    store.secret_value_delete(ns, "DB_PASSWORD").await.unwrap();
    assert_err!(
        store.secret_value_get(ns, "DB_PASSWORD").await,
        StoreError::NotFound { .. }
    );
    assert_eq!(
        store
            .secret_value_get("other", "DB_PASSWORD")
            .await
            .unwrap(),
        elsewhere,
        "the same name elsewhere stays"
    );
}

pub async fn secret_value_refusals(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let pw = secret(ns, "PW", "v1:a", 1);
    store.secret_value_create(&pw).await.unwrap();
    assert_err!(
        store
            .secret_value_create(&secret(ns, "PW", "v1:b", 2))
            .await,
        StoreError::AlreadyExists { .. }
    );
    assert_err!(
        store
            .secret_value_create(&secret("no-such", "PW", "v1:c", 3))
            .await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.secret_value_get(ns, "nope").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.secret_value_delete(ns, "nope").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .secret_value_update(&secret(ns, "nope", "v1:d", 4))
            .await,
        StoreError::NotFound { .. }
    );
    assert_eq!(
        store.secret_value_get(ns, "PW").await.unwrap(),
        pw,
        "refused writes changed nothing"
    );
}

pub async fn secret_values_go_with_their_namespace(store: Arc<dyn Store>) {
    namespace(&*store, "doomed").await;
    store
        .secret_value_create(&secret("doomed", "PW", "v1:a", 1))
        .await
        .unwrap();
    store.namespace_delete("doomed").await.unwrap();
    namespace(&*store, "doomed").await;
    assert!(
        store.secret_value_list("doomed").await.unwrap().is_empty(),
        "a namespace created again under the same name starts without secret values"
    );
    assert_err!(
        store.secret_value_get("doomed", "PW").await,
        StoreError::NotFound { .. }
    );
}

pub async fn secret_key_check_is_written_once(store: Arc<dyn Store>) {
    assert_eq!(
        store.secret_key_check("v1:first").await.unwrap(),
        "v1:first"
    );
    assert_eq!(
        store.secret_key_check("v1:second").await.unwrap(),
        "v1:first",
        "the first key's check stays; a later one is told what it is"
    );
}
