//! stateplane's HTTP API (Ververica Platform Application Manager API v1 compatible).
//!
//! Layout:
//! - [`routes`]: one short handler per operation (parse → one call into [`app`] → reply), named resource
//!   first (`savepoint_create`, `deployment_list`), each documented for the OpenAPI document.
//! - [`app`]: the rules (what may be created, changed, deleted, and when), written against the
//!   [`Store`] trait only. The API never calls Flink: it records intent (a desired state, a savepoint
//!   request) and the controller, woken by the store's change feed, makes it true.
//! - [`error::ApiError`]: every way a request can fail, mapped to an HTTP status and a stable machine
//!   `code` in one place. Store errors never reach a client as text.
//! - [`auth`]: access control (off unless the server enables it): who is calling (the admin token or
//!   a namespace's API token) and whether the one table in [`auth::policy`] lets them; audit of
//!   writes; the UI's login. Outermost after tracing, so nothing (not even the response cache) answers
//!   before it decided.
//! - `format`: content negotiation. Bodies in as JSON or YAML (1 MiB at most), out as JSON or YAML per
//!   `Accept`. Every response body, errors included, is rendered in one middleware, which also turns any
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
pub mod cache;
pub mod error;
mod format;
pub mod openapi;
mod params;
pub mod routes;

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
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        Self {
            store,
            config,
            metrics: None,
            cache: None,
            auth: None,
        }
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

    /// Serves these recorded metrics on `GET /metrics` as well.
    pub fn with_metrics(mut self, render: MetricsRender) -> Self {
        self.metrics = Some(render);
        self
    }
}

/// The base of every namespaced route.
const NS: &str = "/api/v1/namespaces/{namespace}";

/// The whole API as one router.
pub fn router(state: AppState) -> Router {
    use routes::*;
    let ns = |p: &str| format!("{NS}{p}");
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route(
            "/api/v1/namespaces",
            get(namespaces::namespace_list).post(namespaces::namespace_create),
        )
        .route(
            NS,
            get(namespaces::namespace_get).delete(namespaces::namespace_delete),
        )
        .route(
            &ns("/deployment-defaults"),
            get(deployment_defaults::deployment_defaults_get)
                .patch(deployment_defaults::deployment_defaults_patch),
        )
        .route(
            &ns("/deployments"),
            get(deployments::deployment_list).post(deployments::deployment_create),
        )
        .route(
            &ns("/deployments/{deploymentId}"),
            get(deployments::deployment_get)
                .patch(deployments::deployment_patch)
                .delete(deployments::deployment_delete),
        )
        .route(
            &ns("/deployments/{deploymentId}/restore-preview"),
            get(deployments::deployment_restore_preview),
        )
        .route(
            &ns("/deployment-targets"),
            get(deployment_targets::deployment_target_list)
                .post(deployment_targets::deployment_target_create),
        )
        .route(
            &ns("/deployment-targets/{name}"),
            get(deployment_targets::deployment_target_get)
                .delete(deployment_targets::deployment_target_delete),
        )
        .route(
            &ns("/savepoints"),
            get(savepoints::savepoint_list).post(savepoints::savepoint_create),
        )
        .route(
            &ns("/savepoints/{savepointId}"),
            get(savepoints::savepoint_get).delete(savepoints::savepoint_delete),
        )
        .route(
            &ns("/savepoints/{savepointId}/copy"),
            axum::routing::post(savepoints::savepoint_copy),
        )
        .route(&ns("/jobs"), get(jobs::job_list))
        .route(&ns("/jobs/{jobId}"), get(jobs::job_get))
        .route(&ns("/events"), get(events::event_list))
        .route(
            "/apitokens/v1/namespaces/{namespace}/apitokens",
            get(api_tokens::api_token_list).post(api_tokens::api_token_create),
        )
        .route(
            "/apitokens/v1/namespaces/{namespace}/apitokens/{apiTokenName}",
            get(api_tokens::api_token_get).delete(api_tokens::api_token_delete),
        )
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
