//! API tokens: names unique per namespace, lookup by token id across namespaces, and tokens going
//! with their namespace.

use std::sync::Arc;

use stateplane_model::{ApiToken, Role, DEFAULT_NAMESPACE};

use super::{assert_err, at, namespace};
use crate::{Store, StoreError};

/// A token (not stored yet) whose `token_id` is `<ns>-<name>`, created at `at(secs)`.
fn token(ns: &str, name: &str, role: Role, secs: i64) -> ApiToken {
    ApiToken {
        namespace: ns.to_string(),
        name: name.to_string(),
        role,
        token_id: format!("{ns}-{name}"),
        salt: "00112233445566778899aabbccddeeff".to_string(),
        secret_hash: format!("{:064x}", secs),
        created_at: at(secs),
    }
}

pub async fn api_token_create_get_list_delete(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    let ci = token(ns, "ci", Role::Editor, 1);
    store.api_token_create(&ci).await.unwrap();
    assert_eq!(store.api_token_get(ns, "ci").await.unwrap(), ci);
    let alpha = token(ns, "alpha", Role::Owner, 2);
    store.api_token_create(&alpha).await.unwrap();
    namespace(&*store, "other").await;
    let other = token("other", "ci", Role::Viewer, 3);
    store.api_token_create(&other).await.unwrap();

    assert_eq!(
        store.api_token_list(ns).await.unwrap(),
        [alpha.clone(), ci.clone()],
        "by name, this namespace only"
    );
    assert_eq!(
        store.api_token_list("other").await.unwrap(),
        std::slice::from_ref(&other)
    );
    assert!(store.api_token_list("no-such").await.unwrap().is_empty());

    store.api_token_delete(ns, "ci").await.unwrap();
    assert_err!(
        store.api_token_get(ns, "ci").await,
        StoreError::NotFound { .. }
    );
    assert_eq!(store.api_token_list(ns).await.unwrap(), [alpha]);
    assert_eq!(
        store.api_token_get("other", "ci").await.unwrap(),
        other,
        "a token of the same name elsewhere stays"
    );
}

pub async fn api_token_refusals(store: Arc<dyn Store>) {
    let ns = DEFAULT_NAMESPACE;
    store
        .api_token_create(&token(ns, "ci", Role::Viewer, 1))
        .await
        .unwrap();
    let mut again = token(ns, "ci", Role::Owner, 2);
    again.token_id = "another-id".into();
    assert_err!(
        store.api_token_create(&again).await,
        StoreError::AlreadyExists { .. }
    );
    let mut same_id = token(ns, "other-name", Role::Owner, 2);
    same_id.token_id = format!("{ns}-ci");
    assert_err!(
        store.api_token_create(&same_id).await,
        StoreError::AlreadyExists { .. }
    );
    assert_err!(
        store
            .api_token_create(&token("no-such", "ci", Role::Viewer, 3))
            .await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.api_token_get(ns, "nope").await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store.api_token_delete(ns, "nope").await,
        StoreError::NotFound { .. }
    );
    assert_eq!(
        store.api_token_get(ns, "ci").await.unwrap().role,
        Role::Viewer,
        "refused writes changed nothing"
    );
    assert_eq!(store.api_token_list(ns).await.unwrap().len(), 1);
}

pub async fn api_token_find_by_token_id(store: Arc<dyn Store>) {
    namespace(&*store, "team-a").await;
    let t = token("team-a", "deployer", Role::Owner, 1);
    store.api_token_create(&t).await.unwrap();
    assert_eq!(
        store.api_token_find("team-a-deployer").await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(store.api_token_find("team-a-nobody").await.unwrap(), None);
    assert_eq!(store.api_token_find("").await.unwrap(), None);
    store.api_token_delete("team-a", "deployer").await.unwrap();
    assert_eq!(
        store.api_token_find("team-a-deployer").await.unwrap(),
        None,
        "a deleted token is found no more"
    );
}

pub async fn api_tokens_go_with_their_namespace(store: Arc<dyn Store>) {
    namespace(&*store, "doomed").await;
    let t = token("doomed", "ci", Role::Owner, 1);
    store.api_token_create(&t).await.unwrap();
    store.namespace_delete("doomed").await.unwrap();
    assert_eq!(store.api_token_find(&t.token_id).await.unwrap(), None);
    namespace(&*store, "doomed").await;
    assert!(
        store.api_token_list("doomed").await.unwrap().is_empty(),
        "a namespace created again under the same name starts without tokens"
    );
    assert_err!(
        store.api_token_get("doomed", "ci").await,
        StoreError::NotFound { .. }
    );
}
