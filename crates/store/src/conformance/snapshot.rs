//! Snapshot summaries: put replaces, get and list per deployment newest first, and a summary goes with
//! its savepoint.

use std::sync::Arc;

use stateplane_model::snapshot::{OperatorState, SavepointSnapshot, SnapshotSummary, StateSizes};
use stateplane_model::{SavepointId, SavepointState};

use super::{assert_err, at, deployment, savepoint};
use crate::{Store, StoreError};

fn summary(s: &stateplane_model::Savepoint, bytes: u64) -> SavepointSnapshot {
    let sizes = StateSizes {
        keyed: bytes,
        total: bytes,
        inline: bytes,
        ..StateSizes::default()
    };
    SavepointSnapshot {
        savepoint_id: s.metadata.id,
        deployment_id: s.metadata.deployment_id,
        savepoint_created_at: s.metadata.created_at,
        duration_ms: Some(40),
        summary: SnapshotSummary {
            format_version: 6,
            checkpoint_id: 3,
            operators: vec![OperatorState {
                operator_id: "5b61d6019ab04da71a4e62533c1a8c40".into(),
                uid: Some("count-per-key".into()),
                name: None,
                parallelism: 2,
                max_parallelism: 128,
                fully_finished: false,
                state: sizes,
            }],
            total: sizes,
        },
    }
}

pub async fn snapshot_summaries_put_get_list_and_go_with_their_savepoint(store: Arc<dyn Store>) {
    let d = deployment(&*store, "default", "a", 0).await;
    let other = deployment(&*store, "default", "b", 0).await;
    let old = savepoint(&d, 1, SavepointState::Completed, Some("file:///sp/1"));
    let new = savepoint(&d, 2, SavepointState::Completed, Some("file:///sp/2"));
    let theirs = savepoint(&other, 3, SavepointState::Completed, Some("file:///sp/3"));
    for s in [&old, &new, &theirs] {
        store.savepoint_create(s).await.unwrap();
    }
    assert_err!(
        store.snapshot_get("default", old.metadata.id).await,
        StoreError::NotFound { .. }
    );
    assert_err!(
        store
            .snapshot_put(
                "default",
                &summary(&savepoint(&d, 9, SavepointState::Completed, None), 1)
            )
            .await,
        StoreError::NotFound { .. }
    );
    store
        .snapshot_put("default", &summary(&old, 10))
        .await
        .unwrap();
    store
        .snapshot_put("default", &summary(&old, 11))
        .await
        .unwrap();
    store
        .snapshot_put("default", &summary(&new, 20))
        .await
        .unwrap();
    store
        .snapshot_put("default", &summary(&theirs, 30))
        .await
        .unwrap();
    assert_eq!(
        store
            .snapshot_get("default", old.metadata.id)
            .await
            .unwrap(),
        summary(&old, 11),
        "a put replaces"
    );
    let listed = store
        .snapshot_list("default", d.metadata.id, 10)
        .await
        .unwrap();
    let ids: Vec<SavepointId> = listed.iter().map(|s| s.savepoint_id).collect();
    assert_eq!(
        ids,
        [new.metadata.id, old.metadata.id],
        "newest first, own only"
    );
    assert_eq!(listed[0].savepoint_created_at, at(2));
    let one = store
        .snapshot_list("default", d.metadata.id, 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);

    store
        .savepoint_delete("default", old.metadata.id)
        .await
        .unwrap();
    assert_err!(
        store.snapshot_get("default", old.metadata.id).await,
        StoreError::NotFound { .. }
    );
    store
        .deployment_delete("default", other.metadata.id)
        .await
        .unwrap();
    assert_err!(
        store.snapshot_get("default", theirs.metadata.id).await,
        StoreError::NotFound { .. }
    );
}
