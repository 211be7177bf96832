//! The query layer of both stores: every resource's statements, written once, and the rules around
//! them (compare-and-swap, what a delete takes with it, what is announced).
//!
//! The two dialects share their schema (column for column) and their statements: both accept `$n`
//! parameters, `RETURNING`, CTEs before `UPDATE`, `INSERT … SELECT` and `string_agg(… ORDER BY …)`.
//! What differs is supplied by a [`Backend`]:
//! - the pools: SQLite reads through a read-only pool and writes through a single connection;
//!   PostgreSQL has one pool for both.
//! - write transactions: SQLite's start with `BEGIN IMMEDIATE` on the single writer, which serialises
//!   every write; PostgreSQL's run in parallel under READ COMMITTED, so statements that read before
//!   they write take row locks ([`Backend::FOR_UPDATE`], [`Backend::FOR_KEY_SHARE`]; empty on
//!   SQLite, which has none and needs none). The locking rules are in [`crate::postgres`]'s docs.
//! - announcing a write to other replicas inside the writing statement or transaction
//!   ([`Backend::announcing`], [`Backend::announce_in`]: `pg_notify` on PostgreSQL, nothing on
//!   SQLite, which has no other replicas). Both then announce to this process's subscribers right
//!   after the commit, before the call returns.
//!
//! Every store trait is implemented here once for every [`Backend`]; the backend modules hold only
//! connecting, their pools and the few statements only one dialect has.

use std::fmt::Display;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::error::ErrorKind;
use sqlx::{Database, Pool, Transaction};
use stateplane_model::{DeploymentId, Namespace, DEFAULT_NAMESPACE};
use tokio::sync::broadcast;

use crate::{Change, ResourceKind, Result, Store, StoreError};

pub(crate) use exec::{Dialect, Stmt};

pub(crate) mod api_token;
pub(crate) mod deployment;
pub(crate) mod event;
pub(crate) mod exec;
mod jar_cache;
pub(crate) mod job;
mod namespace;
pub(crate) mod savepoint;
mod secret_value;
mod snapshot;
mod snapshot_prefixes;
mod target;

/// A store's connections and change channel: what every backend has.
#[derive(Debug)]
pub(crate) struct Handles<DB: Database> {
    /// Reads go through this pool.
    pub(crate) reader: Pool<DB>,
    /// Writes go through this pool (the reader itself where one pool serves both).
    pub(crate) writer: Pool<DB>,
    /// This process's subscribers ([`Store::changes`]).
    pub(crate) changes: broadcast::Sender<Change>,
}

impl<DB: Database> Clone for Handles<DB> {
    fn clone(&self) -> Self {
        Handles {
            reader: self.reader.clone(),
            writer: self.writer.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<DB: Database> Handles<DB> {
    pub(crate) fn new(reader: Pool<DB>, writer: Pool<DB>) -> Handles<DB> {
        Handles {
            reader,
            writer,
            changes: broadcast::channel(CHANGE_CAPACITY).0,
        }
    }

    /// Closes every connection; waits for statements under way.
    pub(crate) async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// What a database backend supplies to the shared query layer (see the module docs). The defaults
/// are those of a backend with a single writer and no other replicas (SQLite); PostgreSQL overrides
/// them.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    type Db: Dialect;

    /// The statement that starts a write transaction.
    const BEGIN: &'static str;
    /// Appended to a `SELECT` whose rows must stay locked against other writers until the
    /// transaction ends. None with a single writer: no other writer runs meanwhile.
    const FOR_UPDATE: &'static str = "";
    /// Appended to a `SELECT` of a parent row that must not be deleted (nor locked `FOR UPDATE`) by
    /// another writer until the transaction ends.
    const FOR_KEY_SHARE: &'static str = "";

    fn handles(&self) -> &Handles<Self::Db>;

    /// `write`, one statement that writes at most one row, turned into one that returns a row per
    /// row written and announces `change` to other replicas if (and when) it commits.
    fn announcing(&self, write: Stmt, _change: &Change) -> Stmt {
        write.map_sql(|sql| format!("{sql} RETURNING 1"))
    }

    /// Announces `changes` to other replicas when `tx` commits (never if it rolls back).
    async fn announce_in(
        &self,
        _tx: &mut Transaction<'static, Self::Db>,
        _changes: &[Change],
    ) -> sqlx::Result<()> {
        Ok(())
    }

    /// Makes every other transaction that calls this for the same deployment wait until `tx` ends.
    /// Nothing to do where write transactions are serialised anyway.
    async fn serialise_savepoints_of(
        &self,
        _tx: &mut Transaction<'static, Self::Db>,
        _deployment: DeploymentId,
    ) -> sqlx::Result<()> {
        Ok(())
    }

    /// The pool reads go through.
    fn reader(&self) -> &Pool<Self::Db> {
        &self.handles().reader
    }

    /// The pool single-statement writes go through.
    fn writer(&self) -> &Pool<Self::Db> {
        &self.handles().writer
    }

    /// Starts a write transaction on the writer.
    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Self::Db>> {
        self.writer().begin_with(Self::BEGIN).await
    }
}

impl<B: Backend> Store for B {
    fn changes(&self) -> broadcast::Receiver<Change> {
        self.handles().changes.subscribe()
    }
}

/// Capacity of a store's change channel; a receiver further behind than this gets `Lagged` and
/// re-reads.
const CHANGE_CAPACITY: usize = 1024;

/// A change to announce.
pub(crate) fn change(
    kind: ResourceKind,
    namespace: &str,
    id: String,
    deployment_id: Option<DeploymentId>,
) -> Change {
    Change {
        kind,
        namespace: namespace.to_string(),
        id,
        deployment_id,
    }
}

/// Announces committed writes to this process's subscribers; nobody listening is fine.
pub(crate) fn announce<B: Backend>(b: &B, changes: impl IntoIterator<Item = Change>) {
    for c in changes {
        let _ = b.handles().changes.send(c);
    }
}

/// Runs `write` (one statement, at most one row) on the writer, announcing `change` if it wrote
/// a row; whether it did.
pub(crate) async fn write_one<B: Backend>(
    b: &B,
    write: Stmt,
    change: Change,
) -> sqlx::Result<bool> {
    let written = b.announcing(write, &change).run(b.writer()).await? > 0;
    if written {
        announce(b, [change]);
    }
    Ok(written)
}

/// Commits `tx`, announcing `changes` (to other replicas with the commit, to this process's
/// subscribers right after it).
pub(crate) async fn commit<B: Backend>(
    b: &B,
    mut tx: Transaction<'static, B::Db>,
    changes: Vec<Change>,
) -> sqlx::Result<()> {
    b.announce_in(&mut tx, &changes).await?;
    tx.commit().await?;
    announce(b, changes);
    Ok(())
}

/// Creates the `default` namespace unless it exists (at open, before anyone subscribes).
pub(crate) async fn ensure_default_namespace<B: Backend>(b: &B) -> Result<()> {
    let ns = Namespace::new(DEFAULT_NAMESPACE);
    Stmt::new(
        "INSERT INTO namespaces (name, created_at, resource_version, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(&ns.metadata.name)
    .bind(ts(&ns.metadata.created_at))
    .bind(ns.metadata.resource_version)
    .bind(to_body(&ns)?)
    .run(b.writer())
    .await
    .map_err(|e| backend("create default namespace", e))?;
    Ok(())
}

/// The row a compare-and-swap update is for: `expected` is the version it must still have.
pub(crate) struct Versioned<'a> {
    pub table: &'static str,
    pub kind: &'static str,
    pub namespace: &'a str,
    pub id: String,
    pub expected: i64,
}

/// Runs a compare-and-swap `update` of one row (see [`write_one`]); a constraint violation is what
/// `violated` says it means (else a backend error named `op`), a row that did not match is
/// [`cas_failure`]'s answer.
pub(crate) async fn update_versioned<B: Backend>(
    b: &B,
    update: Stmt,
    change: Change,
    row: Versioned<'_>,
    op: &'static str,
    violated: impl FnOnce(ErrorKind) -> Option<StoreError>,
) -> Result<()> {
    let written =
        write_one(b, update, change)
            .await
            .map_err(|e| match violation(&e).and_then(violated) {
                Some(known) => known,
                None => backend(op, e),
            })?;
    if written {
        return Ok(());
    }
    let Versioned {
        table,
        kind,
        namespace,
        id,
        expected,
    } = row;
    Err(cas_failure(b, table, kind, namespace, id, expected).await)
}

/// The [`StoreError`] for a compare-and-swap update that matched no row: the row is gone
/// ([`StoreError::NotFound`]) or has another version ([`StoreError::Conflict`]).
pub(crate) async fn cas_failure<B: Backend>(
    b: &B,
    table: &'static str,
    kind: &'static str,
    namespace: &str,
    id: String,
    expected: i64,
) -> StoreError {
    let sql = format!("SELECT resource_version FROM {table} WHERE namespace = $1 AND id = $2");
    match Stmt::new(sql)
        .bind(namespace)
        .bind(&id)
        .fetch_optional::<_, i64>(b.reader())
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

/// Starts a list query whose rows come back as one JSON array, in `order`: append the inner query's
/// `WHERE`, `ORDER BY` and `LIMIT` (over `table`, whose `columns` `order` uses), then run it with
/// [`fetch_list`].
///
/// Why one row: sqlx hands each row from SQLite's worker thread to the caller separately, a few µs per
/// row and worse when the CPU is busy. Measured on a database of 1M savepoints, listing a deployment's
/// 100 savepoints from cached pages took p50 0.49 ms / p99 3.0 ms row by row and 0.21 ms / 1.3 ms as one
/// row; PostgreSQL likewise transfers and parses one row instead of one per resource.
pub(crate) fn list_query(table: &str, columns: &str, order: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT string_agg(body, ',' ORDER BY {order}) FROM (SELECT body, {columns} FROM {table}"
    ))
}

/// Closes a query started with [`list_query`].
pub(crate) fn finish_list(mut q: Stmt) -> Stmt {
    q.push(") AS page");
    q
}

/// Runs a query started with [`list_query`] on the reader and parses the bodies.
pub(crate) async fn fetch_list<B: Backend, T: DeserializeOwned>(
    b: &B,
    q: Stmt,
    kind: &'static str,
    op: &str,
) -> Result<Vec<T>> {
    let joined: Option<String> = finish_list(q)
        .fetch_one(b.reader())
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

/// A resource's body by its key columns, on the reader.
pub(crate) async fn body_by<B: Backend, T: DeserializeOwned>(
    b: &B,
    q: Stmt,
    kind: &'static str,
    key: impl Display,
    op: &str,
) -> Result<T> {
    let body: String = q
        .fetch_optional(b.reader())
        .await
        .map_err(|e| backend(op, e))?
        .ok_or_else(|| not_found(kind, key))?;
    from_body(kind, &body)
}

/// Timestamps are stored as RFC 3339 text with microseconds, which sorts like the time.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored timestamp.
pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| backend("parse stored time", format!("corrupt timestamp '{s}': {e}")))
}

pub(crate) fn to_body<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| backend("serialise resource", e))
}

/// Parses a stored body; a row that does not parse is corruption, reported, never a panic.
pub(crate) fn from_body<T: DeserializeOwned>(kind: &'static str, body: &str) -> Result<T> {
    serde_json::from_str(body)
        .map_err(|e| backend("parse stored resource", format!("corrupt {kind} row: {e}")))
}

/// Parses an id (or state) column.
pub(crate) fn parse_id<T: FromStr>(kind: &'static str, s: &str) -> Result<T>
where
    T::Err: Display,
{
    s.parse()
        .map_err(|e| backend("parse stored id", format!("corrupt {kind} id '{s}': {e}")))
}

/// An unexpected database failure: logged here with what was being done, returned as
/// [`StoreError::Backend`].
pub(crate) fn backend(op: &str, e: impl Display) -> StoreError {
    tracing::error!(op, error = %e, "store failed");
    StoreError::Backend(format!("{op}: {e}"))
}

/// Which constraint a failed statement violated, if that is why it failed.
pub(crate) fn violation(e: &sqlx::Error) -> Option<ErrorKind> {
    match e {
        sqlx::Error::Database(db) => match db.kind() {
            k @ (ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation) => Some(k),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn not_found(kind: &'static str, id: impl Display) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}
