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
//! order. The statements are the SQLite ones (the shared query layer, [`crate::sql`]); what is
//! PostgreSQL-only is the row locking described next and the notifications.
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
//! # TLS
//! Connections (the pool's, the listener's and the leader lease's) use TLS as the URL's `sslmode` says,
//! with rustls and the system's trusted roots: `disable` never, `prefer` (the default) when the server
//! offers it, `require` always (without checking the certificate), `verify-ca` always with a
//! certificate that chains to a trusted root, `verify-full` also naming the URL's host.
//! `sslrootcert=<file>` trusts the CA certificate(s) in that PEM file as well (a managed database's CA
//! bundle); `sslcert` and `sslkey` present a client certificate. `tests/postgres_tls.rs` checks these
//! against a server that accepts only TLS.
//!
//! # Several replicas, one controller
//! [`LeaderLease`] decides which replica runs the controller.
//!
//! The statements are the shared query layer's ([`crate::sql`]); this module holds connecting and what
//! the query layer asks of a backend: the pool, transactions, the lock clauses above and `pg_notify`.

pub mod lease;
pub mod notify;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use stateplane_model::DeploymentId;
use uuid::Uuid;

use crate::sql::{backend, ensure_default_namespace, Backend, Handles, Stmt};
use crate::{Change, Result, StoreError};

pub use lease::LeaderLease;

/// The PostgreSQL implementation of [`Store`]. Cheap to clone: clones share the pool, the change
/// channel and the listener, which stops when the last clone is dropped (or at [`PostgresStore::close`]).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    /// One pool, reader and writer alike.
    handles: Handles<Postgres>,
    /// Tags this store's notifications, so its own listener skips what was already announced locally.
    origin: Uuid,
    listener: Arc<notify::ListenerTask>,
}

/// Connections of the pool shared by reads and writes (the listener has one more of its own).
pub const POOL_CONNECTIONS: u32 = 8;

/// How long a call waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?…`, libpq's URL syntax, with
    /// `sslmode` and `sslrootcert` as in the module docs), runs the migrations, makes sure the `default` namespace exists and starts listening for other
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
        let handles = Handles::new(pool.clone(), pool);
        let origin = Uuid::new_v4();
        // Listening starts before `connect` returns: nothing another replica commits afterwards is missed.
        let listener = notify::ListenerTask::start(
            options.application_name("stateplane-listener"),
            handles.reader.clone(),
            origin,
            handles.changes.clone(),
        )
        .await?;
        let store = PostgresStore {
            handles,
            origin,
            listener: Arc::new(listener),
        };
        ensure_default_namespace(&store).await?;
        Ok(store)
    }

    /// Stops listening and closes every connection; waits for statements under way. Further calls
    /// fail with [`StoreError::Backend`].
    pub async fn close(&self) {
        self.listener.stop();
        self.handles.close().await;
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

/// The advisory lock class of [`Backend::serialise_savepoints_of`] ("spor"): the two-key form
/// `(class, hashtext(deployment id))`, a key space apart from the one-key leader lease. Two
/// deployments whose ids hash alike merely wait for each other.
const SAVEPOINT_ORDER_LOCK_CLASS: i32 = 0x7370_6f72;

/// Writers run in parallel: the statements that read before they write lock what they read (see the
/// module docs), and every write notifies the other replicas in its own transaction.
#[async_trait]
impl Backend for PostgresStore {
    type Db = Postgres;
    const BEGIN: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const FOR_KEY_SHARE: &'static str = " FOR KEY SHARE";

    fn handles(&self) -> &Handles<Postgres> {
        &self.handles
    }

    /// The write runs in a CTE and `pg_notify` is called once per row written, with the payload bound
    /// as the last parameter: one round trip, atomic (no row written, nothing announced).
    fn announcing(&self, write: Stmt, change: &Change) -> Stmt {
        let payload = notify::payload(self.origin, change);
        let n = write.arg_count() + 1;
        write
            .map_sql(|sql| {
                format!(
                    "WITH written AS ({sql} RETURNING 1) SELECT pg_notify('{}', ${n}) FROM written",
                    notify::CHANNEL
                )
            })
            .bind(payload)
    }

    async fn announce_in(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        changes: &[Change],
    ) -> sqlx::Result<()> {
        for c in changes {
            Stmt::new("SELECT pg_notify($1, $2)")
                .bind(notify::CHANNEL)
                .bind(notify::payload(self.origin, c))
                .run(&mut *tx)
                .await?;
        }
        Ok(())
    }

    async fn serialise_savepoints_of(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        deployment: DeploymentId,
    ) -> sqlx::Result<()> {
        Stmt::new(format!(
            "SELECT pg_advisory_xact_lock({SAVEPOINT_ORDER_LOCK_CLASS}, hashtext($1))"
        ))
        .bind(deployment.to_string())
        .run(tx)
        .await?;
        Ok(())
    }
}
