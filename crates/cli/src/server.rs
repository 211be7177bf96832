//! `stateplane server`: opens the store, makes sure the `default` deployment target matches
//! `--flink-rest-url`, runs the controller, serves the API, and stops gracefully on SIGTERM or Ctrl-C
//! (the API first, then the controller, then the store).
//!
//! Durable state is the SQLite database in `--data-dir` only; the process can be killed at any point
//! and restarted on the same directory (every acknowledged write is committed and fsynced).
//!
//! With `--database-url postgres://…` the state is in that PostgreSQL database instead, and several
//! replicas may serve the API on it; exactly one of them runs the controller at a time (see
//! `backend`).
//!
//! With `--auth` every request needs an API token; without it the server listens on loopback only
//! unless `--insecure-listen-anywhere` (see `access`).

mod access;
mod backend;
mod secret_key;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stateplane_api::auth::Auth;
use stateplane_api::{ApiConfig, AppState};
use stateplane_controller::ControllerConfig;
use stateplane_model::{DeploymentTarget, DEFAULT_NAMESPACE};
use stateplane_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

/// Name of the deployment target created from `--flink-rest-url`.
pub const DEFAULT_TARGET: &str = "default";

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to serve the API on (port 0 picks a free one; the address is logged).
    #[arg(long, env = "STATEPLANE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Directory of the database.
    #[arg(long, env = "STATEPLANE_DATA_DIR", default_value = "./stateplane-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL database to keep the state in instead of SQLite in --data-dir, e.g.
    /// postgres://stateplane:secret@db:5432/stateplane. Several replicas may share it; one at a time
    /// runs the controller.
    #[arg(long, env = "STATEPLANE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Universal Blob Storage base URI (e.g. file:///data/stateplane or s3://bucket/stateplane):
    /// savepoint and checkpoint directories are derived from it per namespace and deployment.
    #[arg(long, env = "STATEPLANE_BLOB_STORAGE_URI")]
    pub blob_storage_uri: Option<String>,
    /// REST URL of a Flink session cluster; becomes the deployment target `default` of namespace
    /// `default` (created, or updated when it points elsewhere).
    #[arg(long, env = "STATEPLANE_FLINK_REST_URL")]
    pub flink_rest_url: Option<String>,
    /// Require an API token on every request (except /healthz, /metrics and /api/v1/openapi.json).
    /// The admin token comes from STATEPLANE_ADMIN_TOKEN or --admin-token-file; with neither (SQLite
    /// only) it is generated into <data-dir>/admin-token.
    #[arg(long, env = "STATEPLANE_AUTH")]
    pub auth: bool,
    /// File holding the admin token (with --auth); instead of STATEPLANE_ADMIN_TOKEN.
    #[arg(long, env = "STATEPLANE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding the key secret values are sealed with (64 hex digits); instead of
    /// STATEPLANE_SECRET_KEY. With neither, on SQLite, generated into <data-dir>/secret-key.
    #[arg(long, env = "STATEPLANE_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Listen on a non-loopback address without --auth (only behind something that restricts access).
    #[arg(long)]
    pub insecure_listen_anywhere: bool,
    /// The most polling questions per second the controller asks one Flink cluster (REST URL), shared
    /// by all deployments on it: while savepoints, stops and starts are under way it asks this many at
    /// most, however many deployments wait.
    #[arg(long, env = "STATEPLANE_FLINK_POLLS_PER_SECOND", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub flink_polls_per_second: u32,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    if let Some(uri) = &args.blob_storage_uri {
        anyhow::ensure!(
            uri.contains("://") || uri.starts_with('/'),
            "--blob-storage-uri must be a URI such as file:///data/stateplane or s3://bucket/stateplane, got '{uri}'"
        );
    }
    access::check_listen(&args).await?;
    let backend = backend::Backend::open(&args).await?;
    let admin = access::admin_secret(&args, &backend)?;
    let store = backend.store();
    if let Some(url) = &args.flink_rest_url {
        ensure_default_target(store.as_ref(), url).await?;
    }

    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;

    let secrets = secret_key::cipher(&args, &backend, store.as_ref()).await?;
    // The controller shares the store with the API and is woken by its change feed.
    let cancel = CancellationToken::new();
    let defaults = ControllerConfig::default();
    let config = ControllerConfig {
        blob_storage_uri: args.blob_storage_uri.clone(),
        flink_budget: stateplane_controller::BudgetConfig {
            polls_per_second: args.flink_polls_per_second,
            ..defaults.flink_budget
        },
        secrets: secrets.clone(),
        ..defaults
    };
    // Previews are answered by any replica (they only read): not tied to the controller's lease.
    let previewer = stateplane_controller::UpgradePreviewer::new(store.clone(), config.clone());
    let controller = tokio::spawn(backend.controller(config, cancel.clone()));

    let state = AppState::new(
        store.clone(),
        ApiConfig {
            blob_storage_uri: args.blob_storage_uri.clone(),
        },
    )
    .with_metrics(Arc::new(move || metrics.render()))
    .with_upgrade_preview(Arc::new(move |d| {
        let p = previewer.clone();
        Box::pin(async move { p.preview(d).await })
    }));
    // One process owns a SQLite store, so its change feed sees every write and rendered answers can be
    // kept until the next one; replicas on PostgreSQL hear of each other's writes a moment later.
    let state = match backend {
        backend::Backend::Sqlite(_) => state.with_response_cache(),
        _ => state,
    };
    let state = match secrets.clone() {
        Some(cipher) => state.with_secrets(cipher),
        None => state,
    };
    let state = match &admin {
        Some(secret) => state.with_auth(Auth::new(secret)),
        None => state,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = %backend.describe(&args), "stateplane listening on http://{addr}");
    let app = stateplane_api::router(state.clone()).merge(stateplane_api::auth::ui(
        state,
        stateplane_web::router(),
        stateplane_web::login_page,
    ));
    let served = stateplane_api::serve_app(listener, app, shutdown_signal())
        .await
        .context("serving the API");
    cancel.cancel();
    if let Err(e) = controller.await {
        tracing::error!(error = %e, "the controller task ended abnormally");
    }
    served?;
    tracing::info!("stopped serving; closing the store");
    backend.close().await;
    Ok(())
}

/// Creates the `default` target of the `default` namespace, or points it at `url`. Replicas starting
/// together race here: a lost race (the target created or changed meanwhile) reads it again.
async fn ensure_default_target(store: &dyn Store, url: &str) -> anyhow::Result<()> {
    let wanted = DeploymentTarget::new(DEFAULT_NAMESPACE, DEFAULT_TARGET, url.trim());
    wanted
        .validate()
        .map_err(|e| anyhow::anyhow!("--flink-rest-url: {}", e.message()))?;
    for _ in 0..3 {
        match store.target_get(DEFAULT_NAMESPACE, DEFAULT_TARGET).await {
            Ok(existing) if existing.spec == wanted.spec => return Ok(()),
            Ok(mut existing) => {
                existing.spec = wanted.spec.clone();
                match store.target_update(&existing).await {
                    Ok(_) => {
                        tracing::info!(
                            rest_url = url,
                            "deployment target 'default' now points at the given Flink cluster"
                        );
                        return Ok(());
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e).context("updating the default deployment target"),
                }
            }
            Err(StoreError::NotFound { .. }) => match store.target_create(&wanted).await {
                Ok(()) => {
                    tracing::info!(rest_url = url, "created deployment target 'default'");
                    return Ok(());
                }
                Err(StoreError::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e).context("creating the default deployment target"),
            },
            Err(e) => return Err(e).context("reading the default deployment target"),
        }
    }
    anyhow::bail!("the default deployment target kept changing while it was set; start again")
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(%e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(%e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}
