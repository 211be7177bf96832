//! What the SQLite and PostgreSQL test files share: the rows they write by hand and the checks they
//! make on them. Each file runs the statements on a connection of its own backend.

#![allow(dead_code)]

use stateplane_model::{
    Deployment, DeploymentSpec, DeploymentState, Namespace, Savepoint, SavepointOrigin,
    SavepointState, DEFAULT_NAMESPACE,
};
use stateplane_store::{SavepointFilter, Store, StoreError};

pub fn spec() -> DeploymentSpec {
    serde_json::from_value(serde_json::json!({
        "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}
    }))
    .unwrap()
}

/// The names of every namespace, in the store's order.
pub async fn namespace_names(store: &dyn Store) -> Vec<String> {
    let all = store.namespace_list().await.unwrap();
    all.into_iter().map(|n| n.metadata.name).collect()
}

/// Statements to run by hand, each with its text arguments (`$n` parameters, which both accept).
pub type Statements = Vec<(&'static str, Vec<String>)>;

/// Runs statements written by hand on a connection of either backend.
pub async fn run<DB>(conn: &mut DB::Connection, statements: Statements)
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (sql, args) in statements {
        let mut q = sqlx::query::<DB>(sql);
        for a in args {
            q = q.bind(a);
        }
        q.execute(&mut *conn).await.unwrap();
    }
}

/// Every migration file of `backend` (`sqlite` or `postgres`) ran, once, successfully.
pub async fn assert_each_migration_applied_once<DB>(conn: &mut DB::Connection, backend: &str)
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let (applied, failed): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT success) FROM _sqlx_migrations",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let dir = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(dir).unwrap().count();
    assert_eq!((applied, failed), (files as i64, 0));
}

/// Writes a deployment and a savepoint through the store, then returns the statements that make both
/// rows unreadable.
pub async fn rows_to_corrupt(store: &dyn Store) -> (Deployment, Statements) {
    let d = Deployment::new(DEFAULT_NAMESPACE, "counter", spec());
    store.deployment_create(&d).await.unwrap();
    let s = Savepoint::new(
        DEFAULT_NAMESPACE,
        d.metadata.id,
        SavepointOrigin::Copied,
        SavepointState::Completed,
        None,
    );
    store.savepoint_create(&s).await.unwrap();
    let corrupt = vec![
        (
            "UPDATE deployments SET body = '{\"not\": \"a deployment\"'",
            vec![],
        ),
        ("UPDATE savepoints SET body = 'garbage'", vec![]),
    ];
    (d, corrupt)
}

/// Reading the rows corrupted by [`rows_to_corrupt`] fails with a backend error, not a panic.
pub async fn assert_corrupt_rows_fail(store: &dyn Store, d: &Deployment) {
    assert!(matches!(
        store.deployment_get(DEFAULT_NAMESPACE, d.metadata.id).await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        store.deployment_list(None).await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        store
            .savepoint_list(DEFAULT_NAMESPACE, &SavepointFilter::default())
            .await,
        Err(StoreError::Backend(_))
    ));
}

/// Makes the database behind `conn` as an earlier release of `backend` (`sqlite` or `postgres`)
/// would have: its migrations (those before `0003`) and a RUNNING deployment written by hand.
pub async fn earlier_release_database<DB>(conn: &mut DB::Connection, backend: &str) -> Deployment
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let dir = tempfile::tempdir().unwrap();
    let all = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    for name in ["0001_init.sql", "0002_api_tokens.sql"] {
        std::fs::copy(format!("{all}/{name}"), dir.path().join(name)).unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    migrator.run_direct(&mut *conn).await.unwrap();
    let mut d = Deployment::new(DEFAULT_NAMESPACE, "counter", spec());
    d.status.state = DeploymentState::Running;
    let rows = vec![
        (
            "INSERT INTO namespaces (name, created_at, resource_version, body)
             VALUES ('default', '2025-01-01T00:00:00.000000Z', 1, $1)",
            vec![serde_json::to_string(&Namespace::new(DEFAULT_NAMESPACE)).unwrap()],
        ),
        (
            "INSERT INTO deployments
               (id, namespace, name, desired_state, status_state, created_at, resource_version, body)
             VALUES ($1, 'default', 'counter', 'RUNNING', 'RUNNING', '2025-01-01T00:00:00.000000Z', 1, $2)",
            vec![d.metadata.id.to_string(), serde_json::to_string(&d).unwrap()],
        ),
    ];
    run::<DB>(conn, rows).await;
    d
}

/// The store opened on the upgraded database reads and counts the earlier release's deployment.
pub async fn assert_upgraded(store: &dyn Store, d: &Deployment) {
    assert_eq!(
        store.deployment_count_by_state().await.unwrap(),
        [(DeploymentState::Running, 1)]
    );
    assert_eq!(
        store
            .deployment_get(DEFAULT_NAMESPACE, d.metadata.id)
            .await
            .unwrap(),
        *d
    );
}
