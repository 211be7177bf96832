//! Which store the server runs on, and when it runs the controller.
//!
//! - SQLite (`--data-dir`, the default): one process owns the file, so it always runs the controller.
//! - PostgreSQL (`--database-url`): several replicas may serve the API on one database. Each runs the
//!   controller only while it holds the leader lease ([`LeaderLease`]: a session advisory lock); the
//!   others wait for it and take over within a few seconds when the leader dies. A controller that
//!   starts (first or after a takeover) resumes in-flight work from the store and Flink, exactly as after
//!   a restart, so a takeover needs nothing else. Changes written by one replica reach the others'
//!   long-polls and controller through `LISTEN/NOTIFY` (see `stateplane_store::postgres::notify`).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use stateplane_controller::{Controller, ControllerConfig};
use stateplane_store::postgres::describe_url;
use stateplane_store::{LeaderLease, PostgresStore, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use super::ServerArgs;

/// The opened store.
pub enum Backend {
    Sqlite(SqliteStore),
    Postgres {
        store: PostgresStore,
        lease: Box<LeaderLease>,
        /// For logs: `host:port/database`, no credentials.
        shown: String,
    },
}

impl Backend {
    /// PostgreSQL when `--database-url` is given, else SQLite in `--data-dir`.
    pub async fn open(args: &ServerArgs) -> anyhow::Result<Backend> {
        match args.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                let shown = describe_url(url);
                let store = PostgresStore::connect(url)
                    .await
                    .with_context(|| format!("connecting to the database at {shown}"))?;
                let lease = Box::new(LeaderLease::new(url).context("--database-url")?);
                Ok(Backend::Postgres {
                    store,
                    lease,
                    shown,
                })
            }
            _ => {
                let store = SqliteStore::open(&args.data_dir)
                    .await
                    .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
                Ok(Backend::Sqlite(store))
            }
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres { store, .. } => Arc::new(store.clone()),
        }
    }

    /// The controller, to spawn: until `cancel`, always (SQLite) or while leader (PostgreSQL).
    pub fn controller(
        &self,
        config: ControllerConfig,
        cancel: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let store = self.store();
        let lease = match self {
            Backend::Sqlite(_) => None,
            Backend::Postgres { lease, .. } => Some(LeaderLease::clone(lease)),
        };
        async move {
            match lease {
                None => Controller::new(store, config, cancel).run().await,
                Some(lease) => {
                    lease
                        .run(cancel, |token| {
                            Controller::new(store.clone(), config.clone(), token).run()
                        })
                        .await
                }
            }
        }
    }

    /// Where the data is, for logs.
    pub fn describe(&self, args: &ServerArgs) -> String {
        match self {
            Backend::Sqlite(_) => format!("sqlite in {}", args.data_dir.display()),
            Backend::Postgres { shown, .. } => format!("postgres at {shown}"),
        }
    }

    /// Closes every connection; waits for statements under way.
    pub async fn close(&self) {
        match self {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres { store, .. } => store.close().await,
        }
    }
}
