//! The access rules and the routes come from one declaration: every entry of the policy table is a
//! route the real router serves (with the admin token, no request to it answers ROUTE_NOT_FOUND or
//! METHOD_NOT_ALLOWED), open entries answer without credentials, every other entry refuses a request
//! without them, and a method the table does not list is refused (fail closed).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use stateplane_api::auth::{policy, Auth, Need};
use stateplane_api::{ApiConfig, AppState};
use stateplane_store::{SqliteStore, Store};
use tower::ServiceExt;

const ADMIN: &str = "policy-test-admin-secret-0123456789";

/// A concrete path for a route pattern.
fn concrete(route: &str) -> String {
    route
        .split('/')
        .map(|seg| match seg {
            "{namespace}" => "default",
            s if s.starts_with('{') && s.ends_with("Id}") => "5b2e0c8a-6f0e-4d0b-9c57-1f2a3b4c5d6e",
            s if s.starts_with('{') => "some-name",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = if method == "GET" || method == "DELETE" {
        Body::empty()
    } else {
        Body::from("{}")
    };
    let r = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = r.status();
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn every_policy_entry_is_a_served_route_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let state = AppState::new(store, ApiConfig::default()).with_auth(Auth::new(ADMIN));
    let app = stateplane_api::router(state);
    let table = policy::table();
    assert!(table.len() > 20, "{table:?}");
    for ((route, method), need) in table {
        let path = concrete(route);
        let (status, body) = send(&app, method, &path, Some(ADMIN)).await;
        assert!(
            !matches!(
                body["code"].as_str(),
                Some("ROUTE_NOT_FOUND" | "METHOD_NOT_ALLOWED")
            ),
            "{method} {route} is in the policy table but not served: {status} {body}"
        );
        let (status, body) = send(&app, method, &path, None).await;
        if *need == Need::Open {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {route} is open");
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")),
                "{method} {route} needs credentials"
            );
        }
    }
    // a method no declaration lists needs admin
    assert_eq!(
        policy::need(
            &Method::PUT,
            Some("/api/v1/namespaces/{namespace}/deployments")
        ),
        Need::Admin
    );
    let (status, body) = send(&app, "PUT", "/api/v1/namespaces", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
}
