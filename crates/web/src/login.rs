//! The login page: a plain HTML form (no script) that posts a token to `/ui/login`. Only its HTML is
//! here; who sees it, with which status, and what a login does is decided by the API's access control
//! (`stateplane_api::auth`), which the server hands this renderer to.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::html_headers;

/// No script at all, inline style only, and the form may post only to this server.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The login page with `status`, going to `next` after login (the caller has checked it is a page
/// of the UI; it is escaped here), with an optional message.
pub fn login_page(status: StatusCode, next: &str, message: Option<&str>) -> Response {
    let next = escape(next);
    let message = message
        .map(|m| format!(r#"<p class="error" role="alert">{}</p>"#, escape(m)))
        .unwrap_or_default();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · stateplane</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1f2328; margin: 0; }}
main {{ max-width: 26rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 8px;
       box-shadow: 0 1px 3px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.3rem; margin: 0 0 1rem; }}
label {{ display: block; font-weight: 600; margin-bottom: .3rem; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .5rem; font: inherit;
       border: 1px solid #c9ced6; border-radius: 4px; }}
button {{ margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; border: 0; border-radius: 4px;
       background: #1f6feb; color: #fff; cursor: pointer; }}
.hint {{ color: #57606a; font-size: .9rem; }}
.error {{ color: #b42318; background: #fef3f2; padding: .5rem .75rem; border-radius: 4px; }}
</style>
</head>
<body>
<main>
<h1>stateplane</h1>
{message}
<form method="post" action="/ui/login" id="login-form">
<label for="token">API token</label>
<input type="password" name="token" id="token" required autocomplete="off" autofocus>
<input type="hidden" name="next" value="{next}">
<button type="submit" id="login-submit">Log in</button>
</form>
<p class="hint">This server requires an API token: a token of your namespace (ask one of its owners,
or run <code>stateplane token create</code>) or the admin token. It is kept in an HttpOnly cookie for
this browser session.</p>
</main>
</body>
</html>
"#
    );
    let mut r = (status, Body::from(html)).into_response();
    html_headers(r.headers_mut(), CSP, "no-store");
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[tokio::test]
    async fn the_form_escapes_what_it_shows() {
        let r = login_page(
            StatusCode::UNAUTHORIZED,
            "/ui/a\"b",
            Some("<b>no</b> & 'x'"),
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(r#"value="/ui/a&quot;b""#), "{body}");
        assert!(
            body.contains("&lt;b&gt;no&lt;/b&gt; &amp; &#39;x&#39;"),
            "{body}"
        );
        assert!(!body.contains("<script"), "no script on the login page");
    }
}
