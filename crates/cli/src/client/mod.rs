//! The client verbs of `stateplane`: a small typed HTTP client of the public `/api/v1` API and the
//! commands built on it (`deployment …`, `savepoint …`, `restore-preview`, `events`, `job list`).
//!
//! Guarantees:
//! - Only the public API is used, exactly as any other client would (no store access, no Flink).
//! - Every failure becomes one [`CliError`], printed by `main` as one line on stderr with a non-zero
//!   exit: the server's own `message` (and `field`) for refusals, the server URL when it cannot be
//!   reached. Nothing here panics on anything a server or a user can send.
//! - Every wait has a time limit (`--timeout`), and uses the API's long-polls rather than tight loops.

use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use stateplane_model::{Deployment, Savepoint, SavepointId};

pub mod deployment;
pub mod job;
pub mod output;
pub mod savepoint;
pub mod scale;
pub mod snapshot;
pub mod storage;
pub mod token;
pub mod upgrade_preview;
pub mod wait;

pub use output::Output;

/// Flags every client verb understands (given before or after the verb).
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Base URL of the stateplane server.
    #[arg(
        long,
        global = true,
        env = "STATEPLANE_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// Namespace to work in.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
    /// API token, sent as `Authorization: Bearer <token>`.
    #[arg(long, global = true, env = "STATEPLANE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Every way a client verb can fail. `Display` is the one line shown after `error: `.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server refused the request: its message, and the field at fault if it named one.
    #[error("{message}{}", field.as_ref().map(|f| format!(" ({f})")).unwrap_or_default())]
    Api {
        status: StatusCode,
        code: String,
        message: String,
        field: Option<String>,
    },
    /// No HTTP conversation with the server was possible (refused, unresolvable, timed out).
    #[error("cannot reach the stateplane server at {server} ({reason}); is it running? (set --server or STATEPLANE_SERVER)")]
    Unreachable { server: String, reason: String },
    /// The server answered something that is not the API's shape.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
    /// The operation itself failed (a FAILED deployment or savepoint): the failure message.
    #[error("{0}")]
    Failed(String),
    /// A wait reached its `--timeout`.
    #[error("{0}")]
    Timeout(String),
    /// The user's input cannot be used (unreadable file, not a resource, a wrong id).
    #[error("{0}")]
    Input(String),
}

impl CliError {
    /// Whether the server said the route or method does not exist (an older server without an
    /// optional endpoint).
    pub fn is_missing_route(&self) -> bool {
        matches!(self, Self::Api { code, .. } if code == "ROUTE_NOT_FOUND" || code == "METHOD_NOT_ALLOWED")
    }

    /// Whether the server said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { code, .. } if code == "NOT_FOUND")
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// The longest a single request may take: a long-poll (at most 30 s per call here) plus slack.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one namespace of one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    base: Url,
    pub namespace: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &GlobalArgs) -> Result<Self> {
        let server = args.server.trim().trim_end_matches('/').to_string();
        let base = Url::parse(&server)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                CliError::Input(format!(
                    "--server '{server}' is not an http(s) URL such as http://127.0.0.1:8080"
                ))
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("stateplane-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Input(format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            http,
            server,
            base,
            namespace: args.namespace.clone(),
            token: args.token.clone().filter(|t| !t.trim().is_empty()),
        })
    }

    /// `<server>/api/v1/namespaces/<ns>/<segments…>`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", "namespaces", self.namespace.as_str()])
                .extend(segments);
        }
        url
    }

    /// Sends a request; any non-2xx answer becomes [`CliError::Api`] with the server's message.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            req = req.bearer_auth(token.trim());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        let value: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return value
                .map(|v| (status, v))
                .ok_or_else(|| CliError::Protocol {
                    url: url.to_string(),
                    detail: format!("{status} without a JSON body"),
                });
        }
        let err = value.as_ref().and_then(|v| {
            Some(CliError::Api {
                status,
                code: v.get("code")?.as_str()?.to_string(),
                message: v.get("message")?.as_str()?.to_string(),
                field: v.get("field").and_then(Value::as_str).map(str::to_string),
            })
        });
        Err(err.unwrap_or_else(|| CliError::Api {
            status,
            code: status.as_str().to_string(),
            message: format!(
                "{} {} answered {status}{}",
                url.path(),
                self.server,
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    "; check --token / STATEPLANE_TOKEN"
                } else {
                    ""
                }
            ),
            field: None,
        }))
    }

    fn unreachable(&self, e: &reqwest::Error) -> CliError {
        // The innermost cause is the useful part ("Connection refused (os error 111)").
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let reason = if e.is_timeout() {
            format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())
        } else {
            let text = cause.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            text.to_lowercase()
        };
        CliError::Unreachable {
            server: self.server.clone(),
            reason,
        }
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Value> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(self.send(Method::GET, url, None).await?.1)
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Value> {
        Ok(self
            .send(Method::POST, self.url(segments), Some(body))
            .await?
            .1)
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> Result<Value> {
        Ok(self
            .send(Method::PATCH, self.url(segments), Some(body))
            .await?
            .1)
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<(StatusCode, Value)> {
        self.send(Method::DELETE, self.url(segments), None).await
    }

    /// A deployment by name or id, raw and typed.
    pub async fn deployment(&self, name_or_id: &str) -> Result<(Value, Deployment)> {
        let v = self.get(&["deployments", name_or_id], &[]).await?;
        let d = typed(&v, "deployment")?;
        Ok((v, d))
    }

    /// A savepoint id from a full UUID or a unique prefix of one (tables show 8 characters).
    pub async fn savepoint_id(&self, given: &str) -> Result<SavepointId> {
        let given = given.trim();
        if let Ok(id) = given.parse::<SavepointId>() {
            return Ok(id);
        }
        let prefix = given.to_ascii_lowercase();
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(CliError::Input(format!(
                "'{given}' is not a savepoint id (a UUID, or at least its first 4 characters)"
            )));
        }
        let list = self.get(&["savepoints"], &[]).await?;
        let all: Vec<Savepoint> = typed(&list["items"], "savepoint list")?;
        let matches: Vec<_> = all
            .iter()
            .filter(|s| s.metadata.id.0.to_string().starts_with(&prefix))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.metadata.id),
            [] => Err(CliError::Input(format!(
                "no savepoint id starts with '{given}' in namespace '{}'",
                self.namespace
            ))),
            _ => Err(CliError::Input(format!(
                "'{given}' matches {} savepoints in namespace '{}'; give more of the id",
                matches.len(),
                self.namespace
            ))),
        }
    }
}

/// Deserialises an API answer into a model type.
pub fn typed<T: DeserializeOwned>(v: &Value, what: &str) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| CliError::Protocol {
        url: what.to_string(),
        detail: format!("not a {what}: {e}"),
    })
}

/// The items of a `ResourceListOf…` answer, typed.
pub fn items<T: DeserializeOwned>(v: &Value, what: &str) -> Result<Vec<T>> {
    typed(v.get("items").unwrap_or(&Value::Null), what)
}
