//! stateplane's HTTP API (Ververica Platform Application Manager API v1 compatible).
//!
//! Layout:
//! - [`routes`]: one short handler per operation (parse → one call into [`app`] → reply), named resource
//!   first (`savepoint_create`, `deployment_list`). Each is declared once, by its `#[utoipa::path]`:
//!   route, method, OpenAPI entry and permission; [`routes::declared`] makes router and document from
//!   those declarations. Request bodies are the typed [`bodies`].
//! - [`app`]: the rules (what may be created, changed, deleted, and when), written against the
//!   [`Store`] trait only. The API never calls Flink: it records intent (a desired state, a savepoint
//!   request) and the controller, woken by the store's change feed, makes it true.
//! - [`error::ApiError`]: every way a request can fail, mapped to an HTTP status and a stable machine
//!   `code` in one place. Store errors never reach a client as text.
//! - [`auth`]: access control (off unless the server enables it): who is calling (the admin token or
//!   a namespace's API token) and whether the one table in [`auth::policy`] lets them; audit of
//!   writes; the UI's login. Outermost after tracing, so nothing (not even the response cache) answers
//!   before it decided.
//! - `format`: content negotiation. Bodies in as JSON or YAML (1 MiB at most; YAML read under the
//!   limits of [`yaml`]), out as JSON or YAML per `Accept`. Every response body, errors included, is rendered in one middleware, which also turns any
//!   response axum builds on its own (unknown route, wrong method, a panic) into the JSON error shape.
//!
//! Guarantees: no input produces a 500 or a panic; a request that fails writes nothing (all checks run
//! before the single store write, and every update is a compare-and-swap on `resourceVersion`).

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use stateplane_store::Store;

pub mod app;
pub mod auth;
pub mod bodies;
pub mod cache;
pub mod compat_bodies;
pub mod error;
mod format;
mod masking;
pub mod openapi;
mod params;
pub mod routes;
pub mod yaml;

pub use error::{ApiError, ErrorBody};
pub use format::BODY_LIMIT;

/// Server-wide settings the API needs.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Universal Blob Storage base URI. When set, every deployment gets savepoint and checkpoint
    /// directories derived from it (see `stateplane_model::paths`).
    pub blob_storage_uri: Option<String>,
}

/// Renders the process's metrics in Prometheus text format (installed by the server binary).
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// What every handler gets: the store (shared with the controller) and the configuration.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: ApiConfig,
    /// Renders recorded metrics for `GET /metrics`; without it only the store-derived gauges are served.
    pub metrics: Option<MetricsRender>,
    /// Rendered GET answers, valid until the next write (single-process stores only; see `cache`).
    pub cache: Option<cache::ResponseCache>,
    /// Access control; `None`: every request is allowed (see [`auth`]).
    pub auth: Option<auth::Auth>,
    /// Seals secret values with the server's key; `None`: secret values cannot be created.
    pub secrets: Option<Arc<stateplane_secrets::SecretCipher>>,
    /// Answers upgrade previews (installed by the server; see [`app::upgrade_preview`]).
    pub upgrade_preview: Option<app::upgrade_preview::PreviewFn>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        Self {
            store,
            config,
            metrics: None,
            cache: None,
            auth: None,
            secrets: None,
            upgrade_preview: None,
        }
    }

    /// Answers upgrade previews with `preview` (the controller's previewer).
    pub fn with_upgrade_preview(mut self, preview: app::upgrade_preview::PreviewFn) -> Self {
        self.upgrade_preview = Some(preview);
        self
    }

    /// Requires credentials on every request but the open ones (see [`auth`]).
    pub fn with_auth(mut self, auth: auth::Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Caches rendered GET answers until the store announces the next write. Only for a store whose
    /// change feed sees every write as it commits (one process: SQLite).
    pub fn with_response_cache(mut self) -> Self {
        self.cache = Some(cache::ResponseCache::new(&self.store));
        self
    }

    /// Keeps secret values, sealed with this cipher's key.
    pub fn with_secrets(mut self, cipher: Arc<stateplane_secrets::SecretCipher>) -> Self {
        self.secrets = Some(cipher);
        self
    }

    /// Serves these recorded metrics on `GET /metrics` as well.
    pub fn with_metrics(mut self, render: MetricsRender) -> Self {
        self.metrics = Some(render);
        self
    }
}

/// Served outside the OpenAPI document (Prometheus text, not part of the JSON API); open to anyone
/// (see [`auth::policy`]).
pub const METRICS_PATH: &str = "/metrics";

/// The whole API as one router: every operation [`routes::declared`] declares, and `/metrics`.
pub fn router(state: AppState) -> Router {
    use routes::*;
    let (declared, _) = routes::declared().split_for_parts();
    let router = declared
        .route(METRICS_PATH, get(metrics::metrics))
        .fallback(fallback::route_not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            fallback::panic_response,
        ))
        .layer(axum::middleware::from_fn(format::render));
    // The cache sits outside rendering (it keeps rendered bytes); anything that decides who may see
    // what must sit outside the cache.
    let router = match state.cache.clone() {
        Some(cache) => router.layer(axum::middleware::from_fn_with_state(
            cache,
            cache::middleware,
        )),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().on_response(
                tower_http::trace::DefaultOnResponse::new()
                    .latency_unit(tower_http::LatencyUnit::Micros),
            ),
        )
        .with_state(state)
}

/// Tells long-polls that the server is shutting down, so they answer at once instead of holding the
/// graceful shutdown up for their whole timeout. Present only when served through [`serve`].
#[derive(Clone)]
pub struct Draining(tokio::sync::watch::Receiver<bool>);

impl Draining {
    /// Resolves once shutdown has begun (or the server is gone).
    pub async fn started(mut self) {
        let _ = self.0.wait_for(|draining| *draining).await;
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes the requests in flight
/// (long-polls answer at once with the resource as it is).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, router(state), shutdown).await
}

/// Like [`serve`], for the API's [`router`] merged with other routes (the server adds the web UI).
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let app = app.layer(axum::Extension(Draining(rx)));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = tx.send(true);
        })
        .await
}
