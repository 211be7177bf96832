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
//! Lists come back from SQLite as a single row (see `crate::sql::list_query`), and every list is index-ordered
//! with its `LIMIT` in SQL, so the latency of a deployment's savepoint list depends on that deployment's
//! savepoints, not on the table: `tests/sqlite_scale.rs` checks it at 10 000 deployments and 1 000 000
//! savepoints.
//!
//! The statements are the shared query layer's ([`crate::sql`]); this module holds opening, the pools
//! and what the query layer asks of a backend.

#[cfg(test)]
mod plans;
pub mod seed;

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Sqlite;

use crate::sql::{backend, ensure_default_namespace, Backend, Handles};
use crate::Result;

/// The database file's name inside the data directory.
pub const DB_FILE_NAME: &str = "stateplane.db";

/// Connections of the read pool. The machine this runs on has few cores and a read is short, so a
/// handful is enough to keep readers from queueing behind one another.
pub const READ_CONNECTIONS: u32 = 4;

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of [`Store`]. Cheap to clone: clones share the pools and the change
/// channel.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    handles: Handles<Sqlite>,
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
        let store = SqliteStore {
            handles: Handles::new(reader, writer),
        };
        ensure_default_namespace(&store).await?;
        Ok(store)
    }

    /// Closes every connection; waits for statements under way. Further calls fail with
    /// [`StoreError::Backend`].
    pub async fn close(&self) {
        self.handles.close().await;
    }

    /// The settings of the connection that writes, as SQLite reports them: what decides durability.
    pub async fn settings(&self) -> Result<SqliteSettings> {
        let err = |e: sqlx::Error| backend("read settings", e);
        let mut conn = self.handles.writer.acquire().await.map_err(err)?;
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

/// One writer: every write transaction is serialised with every other, so no row locks are needed
/// (SQLite has none), and there are no other replicas to announce writes to.
impl Backend for SqliteStore {
    type Db = Sqlite;
    /// Holds the write lock from the first statement (this matters only if another process opens the
    /// file; within this one the single writer already serialises).
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    fn handles(&self) -> &Handles<Sqlite> {
        &self.handles
    }
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
                .fetch_all(&store.handles.reader)
                .await
                .expect("explain");
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }
}
