//! The web UI of stateplane, served by `stateplane server` next to the API.
//!
//! Why it looks like this: the UI is a handful of static files (one HTML shell, one small vanilla
//! JavaScript file, one stylesheet) compiled into the binary with `include_str!`, so there is no build
//! step and nothing to install at run time. The browser renders every page from the public `/api/v1`
//! API with `fetch`, exactly as any other client would: the UI has no access the API does not give,
//! and when the API requires a token the UI asks for one and sends it as `Authorization: Bearer`.
//!
//! Pages (all served by the same shell; the script reads the path):
//! - `/` and `/ui/` redirect to `/ui/namespaces/default/deployments`;
//! - `/ui/namespaces/{ns}/deployments`: every deployment with desired and actual state, running job and
//!   last savepoint;
//! - `/ui/namespaces/{ns}/deployments/{id}` (id or name): overview, actions, and the tabs Snapshots
//!   (the row the next start restores from carries `data-next-restore="true"` and a badge with the
//!   reason; skipped rows say why), Jobs and Events;
//! - the YAML editor (`editor.js`): "New deployment" on the list (a POST), "Edit" on a deployment (a
//!   whole replacement, PUT: a key deleted from the text is removed), with the upgrade preview of that
//!   replacement shown before a template change of a running stateful deployment is applied; the
//!   controls are shown to the roles that may write, as `GET …/access` says.
//!
//! - the login page ([`login_page`]), shown by the API's access control when the server requires a token.
//!
//! Nothing here is durable; the router holds no state and works with any application state `S`.

mod login;

pub use login::login_page;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const NOT_FOUND_HTML: &str = include_str!("../assets/not-found.html");
const APP_JS: &str = include_str!("../assets/app.js");
const RESCALE_JS: &str = include_str!("../assets/rescale.js");
const SQL_JS: &str = include_str!("../assets/sql.js");
const CONDITIONS_JS: &str = include_str!("../assets/conditions.js");
const SNAPSHOTS_JS: &str = include_str!("../assets/snapshots.js");
const ORPHANS_JS: &str = include_str!("../assets/orphans.js");
const EDITOR_JS: &str = include_str!("../assets/editor.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");

/// Where `/` and `/ui/` lead.
pub const HOME: &str = "/ui/namespaces/default/deployments";

/// Only our own files and our own API: no inline script, no third-party anything.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The UI's routes, to be merged into the server's router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to(HOME) }))
        .route("/ui", get(|| async { Redirect::to(HOME) }))
        .route("/ui/", get(|| async { Redirect::to(HOME) }))
        .route("/ui/namespaces/{namespace}", get(namespace_home))
        .route("/ui/namespaces/{namespace}/deployments", get(page))
        .route(
            "/ui/namespaces/{namespace}/deployments/{deployment}",
            get(page),
        )
        .route(
            "/ui/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/assets/rescale.js",
            get(|| async { asset("text/javascript; charset=utf-8", RESCALE_JS) }),
        )
        .route(
            "/ui/assets/sql.js",
            get(|| async { asset("text/javascript; charset=utf-8", SQL_JS) }),
        )
        .route(
            "/ui/assets/conditions.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONDITIONS_JS) }),
        )
        .route(
            "/ui/assets/snapshots.js",
            get(|| async { asset("text/javascript; charset=utf-8", SNAPSHOTS_JS) }),
        )
        .route(
            "/ui/assets/orphans.js",
            get(|| async { asset("text/javascript; charset=utf-8", ORPHANS_JS) }),
        )
        .route(
            "/ui/assets/editor.js",
            get(|| async { asset("text/javascript; charset=utf-8", EDITOR_JS) }),
        )
        .route(
            "/ui/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/ui/assets/favicon.svg",
            get(|| async { asset("image/svg+xml", FAVICON_SVG) }),
        )
        .route("/ui/{*rest}", get(not_found))
}

async fn namespace_home(axum::extract::Path(ns): axum::extract::Path<String>) -> Redirect {
    // `ns` came through percent-decoding; encode the few characters that would break the path.
    let ns: String = ns
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Redirect::to(&format!("/ui/namespaces/{ns}/deployments"))
}

async fn page() -> Response {
    html(StatusCode::OK, INDEX_HTML)
}

async fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, NOT_FOUND_HTML)
}

fn html(status: StatusCode, body: &'static str) -> Response {
    let mut r = (status, body).into_response();
    html_headers(r.headers_mut(), CSP, "no-cache");
    r
}

/// The headers every HTML page of the server carries (the UI's pages and the login page):
/// its type, caching, its Content-Security-Policy, no type sniffing and no referrer to other sites.
pub fn html_headers(h: &mut HeaderMap, csp: &'static str, cache_control: &'static str) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Embedded in the binary: a new binary may bring new files, so revalidate every time.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let app: Router = router();
        let r = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn root_and_ui_redirect_to_the_default_namespace() {
        for path in ["/", "/ui", "/ui/", "/ui/namespaces/default"] {
            let (status, headers, _) = get(path).await;
            assert!(status.is_redirection(), "{path}: {status}");
            assert_eq!(headers[header::LOCATION], HOME, "{path}");
        }
    }

    #[tokio::test]
    async fn pages_are_the_shell_with_a_strict_policy() {
        for path in [
            "/ui/namespaces/default/deployments",
            "/ui/namespaces/team-a/deployments/5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e",
            "/ui/namespaces/default/deployments/orders",
        ] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"));
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"));
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
            assert!(body.contains(r#"src="/ui/assets/app.js""#), "{body}");
            assert!(body.contains(r#"src="/ui/assets/sql.js""#), "{body}");
            assert!(body.contains(r#"src="/ui/assets/conditions.js""#), "{body}");
            assert!(body.contains(r#"src="/ui/assets/rescale.js""#), "{body}");
            assert!(body.contains(r#"src="/ui/assets/editor.js""#), "{body}");
            assert!(body.contains(r#"href="/ui/assets/app.css""#));
            assert!(
                !body.contains("<script>"),
                "no inline script: the policy forbids it"
            );
        }
    }

    #[tokio::test]
    async fn assets_have_their_types_and_unknown_ui_paths_are_404() {
        let (s, h, body) = get("/ui/assets/app.js").await;
        assert_eq!(s, StatusCode::OK);
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(body.contains("/api/v1"), "the UI talks to the public API");
        for (path, marker) in [
            ("/ui/assets/rescale.js", "rescaleParallelism"),
            ("/ui/assets/sql.js", "function sqlArtifact"),
            ("/ui/assets/conditions.js", "function deploymentConditions"),
            ("/ui/assets/snapshots.js", "function sparkline"),
            ("/ui/assets/orphans.js", "function renderOrphans"),
            ("/ui/assets/editor.js", "function openEditor"),
        ] {
            let (s, h, body) = get(path).await;
            assert_eq!(s, StatusCode::OK);
            assert!(h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"));
            assert!(body.contains(marker), "{path}: {body}");
        }
        let (s, h, _) = get("/ui/assets/app.css").await;
        assert_eq!(s, StatusCode::OK);
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css"));
        let (s, h, _) = get("/ui/assets/favicon.svg").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "image/svg+xml");
        let (s, h, body) = get("/ui/nothing/here").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(body.contains(HOME));
    }

    #[test]
    fn the_script_uses_only_the_public_api() {
        // Every fetch goes through one helper that prefixes /api/v1.
        assert_eq!(APP_JS.matches("fetch(").count(), 1);
        assert!(APP_JS.contains("fetch(API + path"));
        // The editor sends its YAML text as written, through its own helper, also under /api/v1.
        assert_eq!(EDITOR_JS.matches("fetch(").count(), 1);
        assert!(EDITOR_JS.contains("fetch(API + path"));
        assert!(
            !EDITOR_JS.contains("innerHTML"),
            "text only: nothing a resource holds is markup"
        );
    }
}
