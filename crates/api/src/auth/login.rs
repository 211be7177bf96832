//! The web UI behind access control: a login page that turns a token into a session cookie, and a
//! gate in front of every UI page.
//!
//! - Every UI route (the pages of `stateplane-web`, merged by [`super::ui`]) requires valid
//!   credentials, as a session cookie or `Authorization: Bearer`. Without them it answers 401 with the
//!   login page itself (no redirect to follow, nothing of the UI shown); after logging in the browser
//!   goes back to the page it asked for.
//! - `POST /ui/login` (a plain HTML form: no script) checks the token and sets it as the cookie
//!   [`super::COOKIE`]: `HttpOnly` (page scripts cannot read it), `SameSite=Strict` (no other site's
//!   page can send it, so it cannot be used for cross-site requests), `Path=/` (the UI's `fetch` calls
//!   to `/api/v1` carry it with no change to the UI), `Secure` when the request came over HTTPS through
//!   a proxy (`X-Forwarded-Proto: https`). The API accepts the cookie like a bearer token, and checks
//!   it on every request, so deleting the token ends every session using it.
//! - `/ui/logout` clears the cookie.
//!
//! The page itself (HTML and its headers) is the web UI's: the server passes its renderer in as a
//! [`LoginPage`], so this crate depends on no UI code.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{authenticate, presented, Principal, COOKIE};
use crate::AppState;

/// Renders the login page: status, the UI page to go to after logging in (always one [`safe_next`]
/// accepted), and a message to show, if any.
pub type LoginPage = fn(StatusCode, &str, Option<&str>) -> Response;

/// What the UI's routes behind access control share: the API's state and the login page.
#[derive(Clone)]
pub(crate) struct Ui {
    pub(crate) state: AppState,
    pub(crate) page: LoginPage,
}

/// Where a successful login goes when the page asked for is unknown or not a UI page.
const HOME: &str = "/ui/";

/// The largest login form read.
const FORM_LIMIT: usize = 16 * 1024;

/// In front of every UI page: the page when the caller has valid credentials (and, for a page of a
/// namespace, the namespace is the token's), else the login page (401) or a refusal (403). Without
/// access control, every page.
pub(crate) async fn gate(State(ui): State<Ui>, req: Request, next: Next) -> Response {
    let state = &ui.state;
    if state.auth.is_none() {
        return next.run(req).await;
    }
    let wanted = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let principal = match check(state, req.headers()).await {
        Ok(Some(p)) => p,
        Ok(None) => return page(&ui, StatusCode::UNAUTHORIZED, &wanted, None),
        Err(()) => return unavailable(&ui),
    };
    let (mut parts, body) = req.into_parts();
    if let (Principal::Token { namespace: own, .. }, Some(ns)) =
        (&principal, super::path_namespace(&mut parts).await)
    {
        if ns != *own {
            return page(
                &ui,
                StatusCode::FORBIDDEN,
                &home_of(&principal),
                Some(&format!(
                    "This token belongs to namespace '{own}' and has no access to namespace '{ns}'. \
                     Log in with another token, or go to {}.",
                    home_of(&principal)
                )),
            );
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The UI page a principal starts on: its own namespace's deployments (the default namespace's for
/// the admin).
fn home_of(principal: &Principal) -> String {
    match principal {
        Principal::Admin => HOME.to_string(),
        Principal::Token { namespace, .. } => format!("/ui/namespaces/{namespace}/deployments"),
    }
}

/// The principal of the request's credentials; `Err` when the store cannot say.
async fn check(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ()> {
    let Ok(Some(secret)) = presented(headers) else {
        return Ok(None);
    };
    authenticate(state, &secret).await.map_err(|_| ())
}

/// `GET /ui/login`: the form (or the UI, when access control is off).
pub(crate) async fn login_page(State(ui): State<Ui>, req: Request) -> Response {
    if ui.state.auth.is_none() {
        return see_other(HOME, None);
    }
    let next = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "next").map(|(_, v)| v))
        .unwrap_or_default();
    page(&ui, StatusCode::OK, &next, None)
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// `POST /ui/login` with the form fields `token` and `next`.
pub(crate) async fn login(State(ui): State<Ui>, req: Request) -> Response {
    let state = &ui.state;
    if state.auth.is_none() {
        return see_other(HOME, None);
    }
    if !same_origin(req.headers()) {
        return page(
            &ui,
            StatusCode::FORBIDDEN,
            "",
            Some("This login form was sent from another site; open the login page of this server."),
        );
    }
    let secure = behind_https(req.headers());
    let body = match axum::body::to_bytes(req.into_body(), FORM_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return page(
                &ui,
                StatusCode::PAYLOAD_TOO_LARGE,
                "",
                Some("The form is too large."),
            )
        }
    };
    let form: LoginForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return page(
                &ui,
                StatusCode::BAD_REQUEST,
                "",
                Some("The form could not be read."),
            )
        }
    };
    let token = form.token.trim();
    let principal = match authenticate(state, token).await {
        Ok(p) => p,
        Err(_) => return unavailable(&ui),
    };
    let Some(principal) = principal else {
        tracing::info!(target: "stateplane::audit", "UI login refused: the token is not valid");
        return page(
            &ui,
            StatusCode::UNAUTHORIZED,
            &form.next,
            Some("That token is not valid. Check for a typo, or ask an owner of your namespace for a new one."),
        );
    };
    tracing::info!(target: "stateplane::audit", who = %principal.who(), "UI login");
    let mut cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        hex::encode(token.as_bytes())
    );
    if secure {
        cookie.push_str("; Secure");
    }
    let next = match safe_next(&form.next) {
        n if n == HOME => home_of(&principal),
        n => n,
    };
    see_other(&next, Some(cookie))
}

/// `/ui/logout`: clears the cookie and shows the login page.
pub(crate) async fn logout() -> Response {
    see_other(
        "/ui/login",
        Some(format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        )),
    )
}

/// Whether a form post comes from a page of this server: its `Origin` (sent by browsers with every
/// POST), when present, names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// `next` when it is a page of the UI (a local path under `/ui/`), else the UI's home: a login never
/// sends anyone to another site.
fn safe_next(next: &str) -> String {
    let ok = next.starts_with("/ui/")
        && !next.contains("//")
        && !next.contains('\\')
        && next
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\''));
    if ok {
        next.to_string()
    } else {
        HOME.to_string()
    }
}

fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn unavailable(ui: &Ui) -> Response {
    page(
        ui,
        StatusCode::SERVICE_UNAVAILABLE,
        "",
        Some("The server cannot check tokens right now (its store is unavailable); try again shortly."),
    )
}

/// The login page with `status`, going to `next` (when it is a UI page) after login, with an
/// optional message.
fn page(ui: &Ui, status: StatusCode, next: &str, message: Option<&str>) -> Response {
    let mut r = (ui.page)(status, &safe_next(next), message);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"stateplane\""),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_only_leads_to_ui_pages() {
        assert_eq!(
            safe_next("/ui/namespaces/a/deployments"),
            "/ui/namespaces/a/deployments"
        );
        assert_eq!(
            safe_next("/ui/namespaces/a/deployments?x=1"),
            "/ui/namespaces/a/deployments?x=1"
        );
        for bad in [
            "",
            "/",
            "//evil.example/ui/",
            "https://evil.example/",
            "/ui//evil",
            "/ui/\"><script>",
            "/api/v1/namespaces",
            "/ui/\\evil",
        ] {
            assert_eq!(safe_next(bad), HOME, "{bad}");
        }
    }

    #[test]
    fn origin_must_be_this_host() {
        let h = |origin: Option<&str>| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
            if let Some(o) = origin {
                m.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
            }
            same_origin(&m)
        };
        assert!(h(None));
        assert!(h(Some("http://127.0.0.1:8080")));
        assert!(!h(Some("http://evil.example")));
        assert!(!h(Some("null")));
    }
}
