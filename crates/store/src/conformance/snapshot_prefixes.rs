//! Allowed snapshot prefixes: set whole, read back, none until set, and gone with their namespace.

use std::sync::Arc;

use stateplane_model::storage::prefixes::SnapshotPrefixes;

use super::namespace;
use crate::{Store, StoreError};

pub async fn snapshot_prefixes_get_put_and_go_with_their_namespace(store: Arc<dyn Store>) {
    let none = store.snapshot_prefixes_get("default").await.unwrap();
    assert_eq!(none, SnapshotPrefixes::none("default"));
    let mut p = SnapshotPrefixes::none("default");
    p.prefixes = vec!["s3://bucket/team-a".into(), "file:///srv/sp".into()];
    let stored = store.snapshot_prefixes_put(&p).await.unwrap();
    assert!(stored.modified_at.is_some());
    assert_eq!(
        store.snapshot_prefixes_get("default").await.unwrap(),
        stored
    );
    // Replaced whole.
    p.prefixes = vec!["s3://bucket/team-b".into()];
    store.snapshot_prefixes_put(&p).await.unwrap();
    let got = store.snapshot_prefixes_get("default").await.unwrap();
    assert_eq!(got.prefixes, ["s3://bucket/team-b"]);

    assert!(matches!(
        store.snapshot_prefixes_get("nope").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .snapshot_prefixes_put(&SnapshotPrefixes::none("nope"))
            .await,
        Err(StoreError::NotFound { .. })
    ));

    namespace(&*store, "gone").await;
    let mut g = SnapshotPrefixes::none("gone");
    g.prefixes = vec!["s3://bucket/gone".into()];
    store.snapshot_prefixes_put(&g).await.unwrap();
    store.namespace_delete("gone").await.unwrap();
    namespace(&*store, "gone").await;
    assert_eq!(
        store.snapshot_prefixes_get("gone").await.unwrap(),
        SnapshotPrefixes::none("gone"),
        "a namespace created again starts without prefixes"
    );
}
