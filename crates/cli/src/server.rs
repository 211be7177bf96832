//! `stateplane server`: opens the store, makes sure the `default` deployment target matches
//! `--flink-rest-url`, runs the controller, serves the API, and stops gracefully on SIGTERM or Ctrl-C
//! (the API first, then the controller, then the store).
//!
//! Durable state is the SQLite database in `--data-dir` only; the process can be killed at any point
//! and restarted on the same directory (every acknowledged write is committed and fsynced).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stateplane_api::{ApiConfig, AppState};
use stateplane_controller::{Controller, ControllerConfig};
use stateplane_model::{DeploymentTarget, DEFAULT_NAMESPACE};
use stateplane_store::{SqliteStore, Store, StoreError};
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
    /// Universal Blob Storage base URI (e.g. file:///data/stateplane or s3://bucket/stateplane):
    /// savepoint and checkpoint directories are derived from it per namespace and deployment.
    #[arg(long, env = "STATEPLANE_BLOB_STORAGE_URI")]
    pub blob_storage_uri: Option<String>,
    /// REST URL of a Flink session cluster; becomes the deployment target `default` of namespace
    /// `default` (created, or updated when it points elsewhere).
    #[arg(long, env = "STATEPLANE_FLINK_REST_URL")]
    pub flink_rest_url: Option<String>,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    if let Some(uri) = &args.blob_storage_uri {
        anyhow::ensure!(
            uri.contains("://") || uri.starts_with('/'),
            "--blob-storage-uri must be a URI such as file:///data/stateplane or s3://bucket/stateplane, got '{uri}'"
        );
    }
    let sqlite = SqliteStore::open(&args.data_dir)
        .await
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    if let Some(url) = &args.flink_rest_url {
        ensure_default_target(store.as_ref(), url).await?;
    }

    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;

    // The controller shares the store with the API and is woken by its change feed.
    let cancel = CancellationToken::new();
    let config = ControllerConfig {
        blob_storage_uri: args.blob_storage_uri.clone(),
        ..Default::default()
    };
    let controller = tokio::spawn(Controller::new(store.clone(), config, cancel.clone()).run());

    let state = AppState::new(
        store.clone(),
        ApiConfig {
            blob_storage_uri: args.blob_storage_uri.clone(),
        },
    )
    .with_metrics(Arc::new(move || metrics.render()));
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.data_dir.display(), "stateplane listening on http://{addr}");
    let app = stateplane_api::router(state).merge(stateplane_web::router());
    let served = stateplane_api::serve_app(listener, app, shutdown_signal())
        .await
        .context("serving the API");
    cancel.cancel();
    if let Err(e) = controller.await {
        tracing::error!(error = %e, "the controller task ended abnormally");
    }
    served?;
    tracing::info!("stopped serving; closing the store");
    sqlite.close().await;
    Ok(())
}

/// Creates the `default` target of the `default` namespace, or points it at `url`.
async fn ensure_default_target(store: &dyn Store, url: &str) -> anyhow::Result<()> {
    let wanted = DeploymentTarget::new(DEFAULT_NAMESPACE, DEFAULT_TARGET, url.trim());
    wanted
        .validate()
        .map_err(|e| anyhow::anyhow!("--flink-rest-url: {}", e.message()))?;
    match store.target_get(DEFAULT_NAMESPACE, DEFAULT_TARGET).await {
        Ok(existing) if existing.spec == wanted.spec => Ok(()),
        Ok(mut existing) => {
            existing.spec = wanted.spec;
            store
                .target_update(&existing)
                .await
                .context("updating the default deployment target")?;
            tracing::info!(
                rest_url = url,
                "deployment target 'default' now points at the given Flink cluster"
            );
            Ok(())
        }
        Err(StoreError::NotFound { .. }) => {
            store
                .target_create(&wanted)
                .await
                .context("creating the default deployment target")?;
            tracing::info!(rest_url = url, "created deployment target 'default'");
            Ok(())
        }
        Err(e) => Err(e).context("reading the default deployment target"),
    }
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
