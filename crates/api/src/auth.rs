//! Access control: who is calling, and whether they may.
//!
//! Off unless the server is given an [`Auth`] (`stateplane server --auth`); then every request except
//! the few [`Need::Open`] ones (`/healthz`, `/metrics`, `/api/v1/openapi.json`) must carry credentials:
//! `Authorization: Bearer <secret>`, or the session cookie the UI's login page sets ([`COOKIE`]).
//!
//! - **Who** ([`authenticate`]): the admin token (the server's own, compared with the SHA-256 kept in
//!   memory), or an API token of a namespace (found by the id in its secret, checked against the
//!   stored salted hash; see [`secret`]). Anything else is 401 `UNAUTHENTICATED`.
//! - **May they** ([`middleware`]): the request's matched route and method give what it needs, from
//!   the one table in [`policy`]. A token acts only in its own namespace (403 `FORBIDDEN` in any other,
//!   decided from the path alone, so the answer says nothing about what exists there) and only as far
//!   as its role goes (403). The admin token may do everything. Handlers know nothing of this.
//!   The namespace list is the one answer that depends on who asks: a token sees its own namespace
//!   only.
//! - **Audit**: every write (any method but GET/HEAD/OPTIONS) is logged on the `stateplane::audit`
//!   target with who, method, path and status, refused ones included; a write that succeeded in a
//!   namespace is also recorded there as an `AUDIT` event (`GET …/events`) whose message names who.
//!
//! This layer sits outside the response cache and the rendering of bodies, so nothing is served to a
//! caller before it is decided; it renders its own refusals in the format the caller asked for.
//! Secrets never reach a log: only token names and roles do.

mod login;
pub mod policy;
pub mod secret;

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use stateplane_model::{DeploymentId, Event, EventName, ResourceList, Role};
use stateplane_store::StoreError;

use crate::error::{ApiError, ApiResult};
use crate::format::{finish, Format, Reply};
use crate::AppState;
pub use login::LoginPage;
pub use policy::Need;

/// The session cookie the UI's login page sets (the token, hex-encoded).
pub const COOKIE: &str = "stateplane_session";

/// Access control is on: the admin token's digest (never the token).
#[derive(Clone)]
pub struct Auth {
    admin: Arc<[u8; 32]>,
}

impl Auth {
    /// Access control with this admin secret.
    pub fn new(admin_secret: &str) -> Self {
        Self {
            admin: Arc::new(secret::digest(admin_secret)),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Auth { admin: <redacted> }")
    }
}

/// Who a request comes from; put in the request's extensions for whatever runs after access control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The admin token.
    Admin,
    /// An API token of a namespace.
    Token {
        namespace: String,
        name: String,
        role: Role,
    },
}

impl Principal {
    /// For logs and audit events: `admin`, or the token's name, role and namespace.
    pub fn who(&self) -> String {
        match self {
            Principal::Admin => "admin".to_string(),
            Principal::Token {
                namespace,
                name,
                role,
            } => format!("token '{name}' ({role}) of namespace '{namespace}'"),
        }
    }
}

/// The secret the request presents: the bearer token, else the session cookie. `Err` for an
/// `Authorization` header that is not a bearer token.
pub(crate) fn presented(headers: &HeaderMap) -> Result<Option<String>, ()> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ())?.trim();
        let (scheme, token) = v.split_once(' ').ok_or(())?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(());
        }
        return Ok(Some(token.trim().to_string()));
    }
    for v in headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for pair in v.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                if name == COOKIE && !value.is_empty() {
                    let decoded = hex::decode(value).map_err(|_| ())?;
                    return String::from_utf8(decoded).map(Some).map_err(|_| ());
                }
            }
        }
    }
    Ok(None)
}

/// Who `secret` belongs to: the admin, a token, or nobody (`None`). Store failures are errors, never
/// a refusal: a 503, not a 401 that would make a client throw a good token away.
pub(crate) async fn authenticate(state: &AppState, secret: &str) -> ApiResult<Option<Principal>> {
    let Some(auth) = &state.auth else {
        return Ok(None);
    };
    if secret::matches_digest(&auth.admin, secret) {
        return Ok(Some(Principal::Admin));
    }
    let Some(token_id) = secret::token_id_of(secret) else {
        return Ok(None);
    };
    let found = state.store.api_token_find(token_id).await?;
    Ok(found
        .filter(|t| secret::verify(t, secret))
        .map(|t| Principal::Token {
            namespace: t.namespace,
            name: t.name,
            role: t.role,
        }))
}

/// The namespace path parameter (percent-decoded, as handlers see it), when the route has one.
pub(crate) async fn path_namespace(parts: &mut axum::http::request::Parts) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, &()).await.ok()?;
    params
        .iter()
        .find(|(k, _)| *k == policy::NAMESPACE_PARAM)
        .map(|(_, v)| v.to_string())
}

/// Whether `principal` may make a request that needs `need` in `namespace` (the path's).
fn decide(
    principal: &Principal,
    need: Need,
    namespace: Option<&str>,
    method: &Method,
    route: &str,
) -> ApiResult<()> {
    let Principal::Token {
        namespace: own,
        role,
        ..
    } = principal
    else {
        return Ok(());
    };
    match need {
        Need::Open | Need::Authenticated => Ok(()),
        Need::Admin => Err(ApiError::Forbidden(format!(
            "{method} {route} needs the admin token; API tokens act only inside their namespace"
        ))),
        Need::Read | Need::Write | Need::Manage => {
            let Some(ns) = namespace else {
                return Err(ApiError::Forbidden(format!(
                    "this token of namespace '{own}' has no access to this path"
                )));
            };
            if ns != own {
                return Err(ApiError::Forbidden(format!(
                    "this token belongs to namespace '{own}' and has no access to namespace '{ns}'"
                )));
            }
            if !policy::role_allows(*role, need) {
                let needed = match need {
                    Need::Write => Role::Editor,
                    _ => Role::Owner,
                };
                return Err(ApiError::Forbidden(format!(
                    "{method} {route} needs role {needed} or more in namespace '{ns}'; this token is \
                     {role}"
                )));
            }
            Ok(())
        }
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The access-control layer of the API router (see the module docs).
pub(crate) async fn middleware(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if state.auth.is_none() {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let need = policy::need(&method, route.as_deref());
    if need == Need::Open {
        return next.run(req).await;
    }
    let format = Format::preferred(req.headers());
    let refuse = |e: ApiError, who: &str| {
        if is_write(&method) {
            tracing::info!(target: "stateplane::audit", who, %method, path, status = e.status_and_code().0.as_u16(), "write refused");
        }
        finish(format, format!("{method} {path}"), e.into_response())
    };
    let (mut parts, body) = req.into_parts();
    let principal = match presented(&parts.headers) {
        Err(()) => None,
        Ok(None) => {
            return refuse(
                ApiError::Unauthenticated(
                    "this server requires an API token: send 'Authorization: Bearer <token>' (the CLI: \
                     --token or STATEPLANE_TOKEN)"
                        .into(),
                ),
                "anonymous",
            )
        }
        Ok(Some(secret)) => match authenticate(&state, &secret).await {
            Ok(p) => p,
            Err(e) => return refuse(e, "unknown"),
        },
    };
    let Some(principal) = principal else {
        return refuse(
            ApiError::Unauthenticated(
                "the API token is not valid: mistyped, deleted, or of another server".into(),
            ),
            "anonymous",
        );
    };
    let namespace = path_namespace(&mut parts).await;
    let route_name = route.as_deref().unwrap_or(&path);
    if let Err(e) = decide(&principal, need, namespace.as_deref(), &method, route_name) {
        return refuse(e, &principal.who());
    }
    if let (Principal::Token { namespace: own, .. }, Some("/api/v1/namespaces"), false) =
        (&principal, route.as_deref(), is_write(&method))
    {
        let reply = own_namespace_list(&state, own).await;
        return finish(format, format!("{method} {path}"), reply.into_response());
    }
    parts.extensions.insert(principal.clone());
    let resp = next.run(Request::from_parts(parts, body)).await;
    if is_write(&method) {
        audit(
            &state,
            &principal,
            &method,
            &path,
            route.as_deref(),
            namespace,
            resp.status(),
        )
        .await;
    }
    resp
}

/// `GET /api/v1/namespaces` for a token: its own namespace only.
async fn own_namespace_list(state: &AppState, own: &str) -> ApiResult<Reply> {
    let items = match state.store.namespace_get(own).await {
        Ok(ns) => vec![ns],
        Err(StoreError::NotFound { .. }) => vec![],
        Err(e) => return Err(e.into()),
    };
    Reply::ok(&ResourceList::new("Namespace", items))
}

/// Records a write: a log line always; an `AUDIT` event in the namespace when it succeeded there (and
/// the namespace still exists).
async fn audit(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    path: &str,
    route: Option<&str>,
    namespace: Option<String>,
    status: StatusCode,
) {
    let who = principal.who();
    tracing::info!(target: "stateplane::audit", who, %method, path, status = status.as_u16(), "write");
    let Some(ns) = namespace else { return };
    if !status.is_success() || route == Some("/api/v1/namespaces/{namespace}") {
        return;
    }
    let mut event = Event::new(
        &ns,
        DeploymentId::new(),
        EventName::Audit,
        format!("{who}: {method} {path} answered {status}"),
    );
    event.metadata.deployment_id = None;
    if let Err(e) = state.store.event_append(&event).await {
        tracing::warn!(error = %e, who, %method, path, "could not record the audit event (the log line above stands)");
    }
}

/// The UI's routes behind access control: `pages` (the web UI's router) gated (see [`login`]), plus
/// `/ui/login` and `/ui/logout`, which show `login_page`. Merge the result into the API's
/// [`crate::router`].
pub fn ui(state: AppState, pages: Router, login_page: LoginPage) -> Router {
    let ui = login::Ui {
        state,
        page: login_page,
    };
    let gated = pages.layer(axum::middleware::from_fn_with_state(
        ui.clone(),
        login::gate,
    ));
    let login_routes = Router::new()
        .route("/ui/login", get(login::login_page).post(login::login))
        .route("/ui/logout", get(login::logout).post(login::logout))
        .with_state(ui);
    gated.merge(login_routes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn credentials_from_bearer_or_cookie() {
        assert_eq!(presented(&headers(&[])), Ok(None));
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer abc")])),
            Ok(Some("abc".into()))
        );
        assert_eq!(
            presented(&headers(&[("authorization", "bearer  abc ")])),
            Ok(Some("abc".into()))
        );
        assert_eq!(
            presented(&headers(&[("authorization", "Basic abc")])),
            Err(())
        );
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer ")])),
            Err(())
        );
        let cookie = format!("other=1; {COOKIE}={}", hex::encode("sp_x"));
        assert_eq!(
            presented(&headers(&[("cookie", &cookie)])),
            Ok(Some("sp_x".into()))
        );
        assert_eq!(
            presented(&headers(&[("cookie", &format!("{COOKIE}=zz"))])),
            Err(())
        );
        // the header wins over the cookie
        assert_eq!(
            presented(&headers(&[
                ("cookie", &cookie),
                ("authorization", "Bearer abc")
            ])),
            Ok(Some("abc".into()))
        );
    }

    #[test]
    fn tokens_stay_in_their_namespace_and_role() {
        let t = |role| Principal::Token {
            namespace: "a".into(),
            name: "t".into(),
            role,
        };
        let ns = |n: &'static str| Some(n);
        let d =
            |p: &Principal, need, n: Option<&str>| decide(p, need, n, &Method::GET, "/x").is_ok();
        assert!(d(&t(Role::Viewer), Need::Read, ns("a")));
        assert!(!d(&t(Role::Viewer), Need::Read, ns("b")));
        assert!(!d(&t(Role::Owner), Need::Manage, ns("b")));
        assert!(!d(&t(Role::Viewer), Need::Write, ns("a")));
        assert!(d(&t(Role::Editor), Need::Write, ns("a")));
        assert!(!d(&t(Role::Editor), Need::Manage, ns("a")));
        assert!(d(&t(Role::Owner), Need::Manage, ns("a")));
        assert!(!d(&t(Role::Owner), Need::Admin, ns("a")));
        assert!(!d(&t(Role::Owner), Need::Read, None));
        assert!(d(&t(Role::Viewer), Need::Authenticated, None));
        assert!(d(&Principal::Admin, Need::Admin, None));
        assert!(d(&Principal::Admin, Need::Manage, ns("b")));
    }
}
