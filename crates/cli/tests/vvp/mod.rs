//! What the Ververica tooling tests share: the real binary as a plain HTTP server on its own data dir
//! (none of the environment's tokens, keys or database URL), and the calls a third-party client makes
//! (a request answered as JSON or text, a poll until the answer says what it waits for).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use stateplane_testkit::process::{start_server, ServerProcess};
use stateplane_testkit::wait::until_async;

/// A job's first start on a fresh cluster can take a while on a small machine.
pub const T: Duration = Duration::from_secs(120);

/// `stateplane server` on `data_dir` with `extra` arguments, logging at debug level (the secret-value
/// tests scan the log).
pub fn spawn(data_dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stateplane"));
    cmd.args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env(
            "RUST_LOG",
            "debug,sqlx=warn,hyper=info,h2=info,tower=info,reqwest=info",
        )
        .env_remove("STATEPLANE_SECRET_KEY")
        .env_remove("STATEPLANE_ADMIN_TOKEN")
        .env_remove("STATEPLANE_AUTH")
        .env_remove("STATEPLANE_DATABASE_URL")
        .env("NO_COLOR", "1");
    start_server(&mut cmd, Duration::from_secs(30))
}

/// The status and the body (JSON, or the text as a JSON string).
pub async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `GET url` (with `token`, if any) until it answers 200 with a body for which `f` holds.
pub async fn poll(
    c: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    what: &str,
    f: impl Fn(&Value) -> bool,
) -> Value {
    until_async(what, T, || async {
        let mut r = c.get(url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let (s, b) = send(r).await;
        if s == 200 && f(&b) {
            Ok(b)
        } else {
            Err(format!("{s} {b}"))
        }
    })
    .await
}

/// Waits until `GET url` answers 404 (`what` names the wait).
pub async fn wait_gone(c: &reqwest::Client, url: &str, what: &str) {
    until_async(what, T, || async {
        let (s, b) = send(c.get(url)).await;
        if s == 404 {
            Ok(())
        } else {
            Err(format!("{s} {b}"))
        }
    })
    .await;
}
