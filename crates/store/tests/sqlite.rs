//! The SQLite store against real SQLite files: the whole conformance suite (a fresh database in a
//! temporary directory per case), plus what only SQLite has: the file, its pragmas and its migrations.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use stateplane_model::{
    Deployment, DeploymentTarget, Namespace, Savepoint, SavepointOrigin, SavepointState,
};
use stateplane_store::conformance::Fixture;
use stateplane_store::{
    DeploymentStore, DeploymentTargetStore, NamespaceStore, SavepointStore, SqliteStore, StoreError,
};

async fn fresh() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).await.expect("open store");
    Fixture::new(store, dir)
}

stateplane_store::store_conformance_tests!(fresh().await);

mod common;
use common::spec;

#[tokio::test]
async fn data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("nested/data"))
        .await
        .unwrap();
    store
        .namespace_create(&Namespace::new("team-a"))
        .await
        .unwrap();
    let d = Deployment::new("team-a", "counter", spec());
    store.deployment_create(&d).await.unwrap();
    let d = store.deployment_update(&d).await.unwrap();
    let s = Savepoint::new(
        "team-a",
        d.metadata.id,
        SavepointOrigin::Copied,
        SavepointState::Completed,
        Some("file:/sp/1".into()),
    );
    store.savepoint_create(&s).await.unwrap();
    store.close().await;
    drop(store);

    let store = SqliteStore::open(&dir.path().join("nested/data"))
        .await
        .unwrap();
    assert!(dir.path().join("nested/data/stateplane.db").is_file());
    assert_eq!(
        store.deployment_get("team-a", d.metadata.id).await.unwrap(),
        d
    );
    assert_eq!(
        store.savepoint_get("team-a", s.metadata.id).await.unwrap(),
        s
    );
    assert_eq!(
        store
            .savepoint_count_by_location("file:///sp/1")
            .await
            .unwrap(),
        1
    );
    let names = common::namespace_names(&store).await;
    assert_eq!(names, ["default", "team-a"]);
}

#[tokio::test]
async fn writes_go_through_wal_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let settings = store.settings().await.unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert!(settings.synchronous_full, "{settings:?}");
    assert!(settings.foreign_keys, "{settings:?}");
    assert!(
        settings.busy_timeout >= Duration::from_secs(1),
        "{settings:?}"
    );

    // WAL is a property of the file: any connection sees it.
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.path().join("stateplane.db"))
        .connect()
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn reopening_runs_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.db");
    let store = SqliteStore::open_file(&file).await.unwrap();
    store
        .target_create(&DeploymentTarget::new(
            "default",
            "session",
            "http://127.0.0.1:8081",
        ))
        .await
        .unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = SqliteStore::open_file(&file).await.unwrap();
        store.target_get("default", "session").await.unwrap();
        assert_eq!(
            store.namespace_list().await.unwrap().len(),
            1,
            "default is created once"
        );
        store.close().await;
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(&file)
        .connect()
        .await
        .unwrap();
    common::assert_each_migration_applied_once::<sqlx::Sqlite>(&mut conn, "sqlite").await;
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_row_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let (d, corrupt) = common::rows_to_corrupt(&store).await;
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.path().join("stateplane.db"))
        .connect()
        .await
        .unwrap();
    common::run::<sqlx::Sqlite>(&mut conn, corrupt).await;
    conn.close().await.unwrap();
    common::assert_corrupt_rows_fail(&store, &d).await;
}

#[tokio::test]
async fn open_fails_cleanly_where_no_database_can_be() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    assert!(matches!(
        SqliteStore::open(&blocker.join("data")).await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        SqliteStore::open_file(&blocker).await,
        Err(StoreError::Backend(_))
    ));
}

/// A database made by an earlier release, with a RUNNING deployment in it: opening it with this
/// release upgrades it (every migration applied), and the deployment counts.
#[tokio::test]
async fn an_existing_database_is_upgraded_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new().filename(dir.path().join("stateplane.db"));
    let mut conn = options
        .clone()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    let d = common::earlier_release_database::<sqlx::Sqlite>(&mut conn, "sqlite").await;
    conn.close().await.unwrap();

    let store = SqliteStore::open(dir.path()).await.unwrap();
    common::assert_upgraded(&store, &d).await;
    store.close().await;
    let mut conn = options.connect().await.unwrap();
    common::assert_each_migration_applied_once::<sqlx::Sqlite>(&mut conn, "sqlite").await;
    conn.close().await.unwrap();
}
