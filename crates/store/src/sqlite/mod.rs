//! The SQLite store: stateplane's embedded default, one file `<data dir>/stateplane.db`.
//!
//! # What is durable
//! Every write that returns `Ok` has been committed and fsynced: the database runs in WAL mode with
//! `synchronous=FULL`, so a commit reaches the disk before the call returns and survives a crash of the
//! process or the machine. Nothing is cached in memory: every read goes to the database. The change
//! notifications ([`Store::changes`]) are not durable; they are a hint sent after the commit, and a
//! receiver that missed some re-reads the store.
//!
//! # Schema
//! The migrations under `migrations/sqlite` are embedded in the binary and run at open (idempotent:
//! sqlx records what ran in `_sqlx_migrations`). Each resource is kept whole as JSON in `body` next to
//! copies of the fields the API filters and sorts by, rewritten from the body on every write, so a query
//! never parses JSON and every list is served by an index with its `LIMIT` in SQL. Foreign keys
//! (`foreign_keys=ON`) tie every row to its namespace and deployment; the store still deletes children
//! explicitly, in one transaction, so the same code works where cascades are configured differently.
//!
//! # Connections
//! SQLite lets one writer in at a time, and in WAL mode readers never wait for it. So there are two
//! pools on the same file:
//! - a **write pool of exactly one connection**. Writers queue in the pool (fairly, in order) instead of
//!   spinning in SQLite's busy handler, a read-check-write transaction can never hit a lock-upgrade
//!   deadlock, and multi-statement transactions start with `BEGIN IMMEDIATE`, which takes the write lock
//!   up front (this matters only if another process opens the file; the busy timeout covers that).
//! - a **read pool of [`READ_CONNECTIONS`] read-only connections**, so lists and gets run in parallel
//!   with each other and with the writer. Each statement sees the latest committed state, so a read after
//!   a returned write always sees that write.
//!
//! Lists come back from SQLite as a single row (see `list_query`), and every list is index-ordered
//! with its `LIMIT` in SQL, so the latency of a deployment's savepoint list depends on that deployment's
//! savepoints, not on the table: `tests/sqlite_scale.rs` checks it at 10 000 deployments and 1 000 000
//! savepoints.
//!
//! One resource per file below; this module holds opening, the pools and the shared helpers.

mod api_token;
mod deployment;
mod event;
mod jar_cache;
mod job;
mod namespace;
mod savepoint;
pub mod seed;
mod target;

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, Transaction};
use stateplane_model::{DeploymentId, Namespace, DEFAULT_NAMESPACE};
use tokio::sync::broadcast;

use crate::sql::{backend, from_body, not_found, parse_id, to_body, ts, violation};
use crate::{Change, ResourceKind, Result, Store, StoreError};

/// The database file's name inside the data directory.
pub const DB_FILE_NAME: &str = "stateplane.db";

/// Connections of the read pool. The machine this runs on has few cores and a read is short, so a
/// handful is enough to keep readers from queueing behind one another.
pub const READ_CONNECTIONS: u32 = 4;

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Capacity of the change channel; a receiver further behind than this gets `Lagged` and re-reads.
const CHANGE_CAPACITY: usize = 1024;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of [`Store`]. Cheap to clone: clones share the pools and the change
/// channel.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    changes: broadcast::Sender<Change>,
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/stateplane.db`, creating `data_dir` too.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore> {
        tokio::fs::create_dir_all(data_dir).await.map_err(|e| {
            backend(
                "create data directory",
                format!("{}: {e}", data_dir.display()),
            )
        })?;
        Self::open_file(&data_dir.join(DB_FILE_NAME)).await
    }

    /// Opens (creating if needed) the database file at `path`, runs the migrations and makes sure the
    /// `default` namespace exists.
    pub async fn open_file(path: &Path) -> Result<SqliteStore> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // No liveness ping before each use: a connection to a local file does not go stale, and the
        // ping is a round trip to the connection's thread on every query.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // Kept for the store's lifetime, with its prepared statements; never recycled.
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(|e| backend("open database", format!("{}: {e}", path.display())))?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| backend("run migrations", e))?;
        // Opened after the writer switched the file to WAL, so the readers never try to change the
        // journal mode of a read-only connection.
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(base.read_only(true))
            .await
            .map_err(|e| {
                backend(
                    "open database for reading",
                    format!("{}: {e}", path.display()),
                )
            })?;
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let store = SqliteStore {
            reader,
            writer,
            changes,
        };
        store.ensure_default_namespace().await?;
        Ok(store)
    }

    /// Closes every connection; waits for statements under way. Further calls fail with
    /// [`StoreError::Backend`].
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// The settings of the connection that writes, as SQLite reports them: what decides durability.
    pub async fn settings(&self) -> Result<SqliteSettings> {
        let err = |e: sqlx::Error| backend("read settings", e);
        let mut conn = self.writer.acquire().await.map_err(err)?;
        let journal_mode = sqlx::query_scalar::<_, String>("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
        let mut ints = Vec::new();
        for sql in [
            "PRAGMA synchronous",
            "PRAGMA foreign_keys",
            "PRAGMA busy_timeout",
        ] {
            ints.push(
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(err)?,
            );
        }
        Ok(SqliteSettings {
            journal_mode,
            synchronous_full: ints[0] == 2,
            foreign_keys: ints[1] == 1,
            busy_timeout: Duration::from_millis(u64::try_from(ints[2]).unwrap_or(0)),
        })
    }

    async fn ensure_default_namespace(&self) -> Result<()> {
        let ns = Namespace::new(DEFAULT_NAMESPACE);
        sqlx::query(
            "INSERT INTO namespaces (name, created_at, resource_version, body) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&ns.metadata.name)
        .bind(ts(&ns.metadata.created_at))
        .bind(ns.metadata.resource_version)
        .bind(to_body(&ns)?)
        .execute(&self.writer)
        .await
        .map_err(|e| backend("create default namespace", e))?;
        Ok(())
    }

    /// Starts a write transaction that holds the write lock from its first statement.
    async fn begin_write(&self, op: &str) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| backend(op, e))
    }

    /// Announces a committed write; nobody listening is fine.
    fn notify(
        &self,
        kind: ResourceKind,
        namespace: &str,
        id: String,
        deployment_id: Option<DeploymentId>,
    ) {
        let _ = self.changes.send(Change {
            kind,
            namespace: namespace.to_string(),
            id,
            deployment_id,
        });
    }

    /// The [`StoreError`] for a compare-and-swap update that matched no row: the row is gone
    /// ([`StoreError::NotFound`]) or has another version ([`StoreError::Conflict`]).
    async fn cas_failure(
        &self,
        table: &'static str,
        kind: &'static str,
        namespace: &str,
        id: String,
        expected: i64,
    ) -> StoreError {
        let sql = format!("SELECT resource_version FROM {table} WHERE namespace = ? AND id = ?");
        match sqlx::query_scalar::<_, i64>(&sql)
            .bind(namespace)
            .bind(&id)
            .fetch_optional(&self.reader)
            .await
        {
            Ok(Some(actual)) => StoreError::Conflict {
                kind,
                id,
                expected,
                actual,
            },
            Ok(None) => StoreError::NotFound { kind, id },
            Err(e) => backend("read resource version", e),
        }
    }
}

/// What [`SqliteStore::settings`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `wal` when commits go to the write-ahead log.
    pub journal_mode: String,
    /// `synchronous=FULL`: every commit is fsynced before it returns.
    pub synchronous_full: bool,
    pub foreign_keys: bool,
    pub busy_timeout: Duration,
}

impl Store for SqliteStore {
    fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// Starts a list query whose rows come back as one JSON array, in `order`: append the inner query's
/// `WHERE`, `ORDER BY` and `LIMIT` (over `table`, whose `columns` `order` uses), then run it with
/// [`fetch_list`].
///
/// Why one row: sqlx hands each row from SQLite's worker thread to the caller separately, a few µs per
/// row and worse when the CPU is busy. Measured on a database of 1M savepoints, listing a deployment's
/// 100 savepoints from cached pages took p50 0.49 ms / p99 3.0 ms row by row and 0.21 ms / 1.3 ms as one
/// row. `string_agg(… ORDER BY …)` is PostgreSQL's spelling too (SQLite has it since 3.44).
fn list_query<'a>(table: &str, columns: &str, order: &str) -> QueryBuilder<'a, Sqlite> {
    QueryBuilder::new(format!(
        "SELECT string_agg(body, ',' ORDER BY {order}) FROM (SELECT body, {columns} FROM {table}"
    ))
}

/// Runs a query started with [`list_query`] and parses the bodies.
async fn fetch_list<T: DeserializeOwned>(
    mut q: QueryBuilder<'_, Sqlite>,
    pool: &SqlitePool,
    kind: &'static str,
    op: &str,
) -> Result<Vec<T>> {
    q.push(") AS page");
    let joined: Option<String> = q
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(|e| backend(op, e))?;
    let Some(joined) = joined else {
        return Ok(Vec::new());
    };
    let mut array = String::with_capacity(joined.len() + 2);
    array.push('[');
    array.push_str(&joined);
    array.push(']');
    serde_json::from_str(&array).map_err(|e| backend(op, format!("corrupt {kind} row: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh store in a temporary directory (dropped with the directory guard).
    pub(crate) async fn temp_store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).await.expect("open store");
        (store, dir)
    }

    /// `EXPLAIN QUERY PLAN` of a statement, one line per step.
    pub(crate) async fn plan(store: &SqliteStore, sql: &str) -> String {
        let rows =
            sqlx::query_as::<_, (i64, i64, i64, String)>(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&store.reader)
                .await
                .expect("explain");
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }
}
