//! The PostgreSQL store: for running several stateplane replicas on one database.
//!
//! # What is durable
//! Every write that returns `Ok` has been committed (with the server's `synchronous_commit`, `on` by
//! default: flushed to the WAL before the commit returns). Nothing is cached in memory: every read goes
//! to the database, so a replica always sees what another replica committed before the read began.
//!
//! # Schema
//! The migrations under `migrations/postgres` are embedded and run at connect (sqlx serialises
//! concurrent runs with an advisory lock, so replicas starting together are fine). The tables are the
//! SQLite ones column for column, text columns collated `"C"` so that every order is SQLite's byte
//! order. Queries are the SQLite ones with `$n` placeholders; what is PostgreSQL-only is the row locking
//! described next and the notifications.
//!
//! # Concurrency
//! SQLite has one writer, so each store call is serialised with every other. Here writers run in
//! parallel under READ COMMITTED, and the rules that read before they write take row locks so that the
//! outcome is one some serial order would give:
//! - compare-and-swap updates are a single `UPDATE … WHERE resource_version = $n`; a concurrent writer of
//!   the same row waits for the first, then re-checks the condition against the new row and matches
//!   nothing: exactly one wins.
//! - rules about a namespace's deployments (namespace delete, target delete and rename) lock the
//!   namespace row `FOR UPDATE` first; every deployment write holds a `FOR KEY SHARE` lock on it (the
//!   foreign key takes it on insert, updates take it explicitly), so such a rule's check and its write are
//!   never separated by a deployment write of that namespace.
//! - deletes of deployments lock those rows `FOR UPDATE` before deleting their children, so a child
//!   inserted concurrently waits and then finds its deployment gone ([`StoreError::NotFound`]).
//! - locks are always taken namespace first, then deployment, so these never deadlock each other.
//!
//! # Change notifications across replicas
//! A write announces itself twice: to this process's subscribers right after the commit (as SQLite
//! does, so a write's change is waiting when the call returns) and, inside the writing statement or
//! transaction, with `pg_notify` to every other replica (delivered only if it commits). See [`notify`]
//! for the listener, its health check and what subscribers see when it reconnects.
//!
//! # Several replicas, one controller
//! [`LeaderLease`] decides which replica runs the controller.
//!
//! One resource per file below; this module holds connecting and the shared helpers.

mod api_token;
mod deployment;
mod event;
mod jar_cache;
mod job;
pub mod lease;
mod namespace;
pub mod notify;
mod savepoint;
mod target;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};
use stateplane_model::{DeploymentId, Namespace, DEFAULT_NAMESPACE};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::sql::{backend, from_body, not_found, parse_id, to_body, ts, violation};
use crate::{Change, ResourceKind, Result, Store, StoreError};

pub use lease::LeaderLease;

/// Connections of the pool shared by reads and writes (the listener has one more of its own).
pub const POOL_CONNECTIONS: u32 = 8;

/// How long a call waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Capacity of the change channel; a receiver further behind than this gets `Lagged` and re-reads.
const CHANGE_CAPACITY: usize = 1024;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL implementation of [`Store`]. Cheap to clone: clones share the pool, the change
/// channel and the listener, which stops when the last clone is dropped (or at [`PostgresStore::close`]).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    changes: broadcast::Sender<Change>,
    /// Tags this store's notifications, so its own listener skips what was already announced locally.
    origin: Uuid,
    listener: Arc<notify::ListenerTask>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?…`, libpq's URL syntax), runs
    /// the migrations, makes sure the `default` namespace exists and starts listening for other
    /// replicas' changes.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// [`PostgresStore::connect`] with options built in code.
    pub async fn connect_with(options: PgConnectOptions) -> Result<PostgresStore> {
        let options = options.application_name("stateplane");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|e| backend("connect to the database", e))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| backend("run migrations", e))?;
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let origin = Uuid::new_v4();
        // Listening starts before `connect` returns: nothing another replica commits afterwards is missed.
        let listener = notify::ListenerTask::start(
            options.application_name("stateplane-listener"),
            pool.clone(),
            origin,
            changes.clone(),
        )
        .await?;
        let store = PostgresStore {
            pool,
            changes,
            origin,
            listener: Arc::new(listener),
        };
        store.ensure_default_namespace().await?;
        Ok(store)
    }

    /// Stops listening and closes every connection; waits for statements under way. Further calls
    /// fail with [`StoreError::Backend`].
    pub async fn close(&self) {
        self.listener.stop();
        self.pool.close().await;
    }

    async fn ensure_default_namespace(&self) -> Result<()> {
        let ns = Namespace::new(DEFAULT_NAMESPACE);
        sqlx::query(
            "INSERT INTO namespaces (name, created_at, resource_version, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&ns.metadata.name)
        .bind(ts(&ns.metadata.created_at))
        .bind(ns.metadata.resource_version)
        .bind(to_body(&ns)?)
        .execute(&self.pool)
        .await
        .map_err(|e| backend("create default namespace", e))?;
        Ok(())
    }

    /// A change of this store, to announce.
    fn change(
        &self,
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

    /// The `pg_notify` payload announcing `change` to the other replicas.
    fn payload(&self, change: &Change) -> String {
        notify::payload(self.origin, change)
    }

    /// Announces a committed write to this process's subscribers; nobody listening is fine.
    fn announce(&self, change: Change) {
        let _ = self.changes.send(change);
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
        let sql = format!("SELECT resource_version FROM {table} WHERE namespace = $1 AND id = $2");
        match sqlx::query_scalar::<_, i64>(&sql)
            .bind(namespace)
            .bind(&id)
            .fetch_optional(&self.pool)
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

/// `host:port/database` of a database URL, for logs: never the user or the password.
pub fn describe_url(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_default()
        ),
        Err(_) => "an invalid database URL".to_string(),
    }
}

impl Store for PostgresStore {
    fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// `write`, a single-row INSERT, UPDATE or DELETE whose parameters are `$1..$n` (`params` = n), turned
/// into a statement that also announces the row it wrote to the other replicas: the write runs in a CTE
/// and `pg_notify` is called once per row written, with the payload bound as `$n+1`. Run it with
/// `fetch_all`; the number of rows returned is the number written. One round trip, atomic: no row
/// written, nothing announced.
fn announced(write: &str, params: usize) -> String {
    format!(
        "WITH written AS ({write} RETURNING 1) SELECT pg_notify('{}', ${}) FROM written",
        notify::CHANNEL,
        params + 1
    )
}

/// Sends `pg_notify` for `change` inside a transaction: delivered to the other replicas at commit,
/// never if it rolls back.
async fn notify_in(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    payload: String,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(notify::CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Starts a list query whose rows come back as one JSON array, in `order`, like the SQLite store's
/// (one row to transfer and parse instead of one per resource): append the inner query's `WHERE`,
/// `ORDER BY` and `LIMIT`, then run it with [`fetch_list`].
fn list_query<'a>(table: &str, columns: &str, order: &str) -> QueryBuilder<'a, Postgres> {
    QueryBuilder::new(format!(
        "SELECT string_agg(body, ',' ORDER BY {order}) FROM (SELECT body, {columns} FROM {table}"
    ))
}

/// Runs a query started with [`list_query`] and parses the bodies.
async fn fetch_list<T: DeserializeOwned>(
    mut q: QueryBuilder<'_, Postgres>,
    pool: &PgPool,
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
