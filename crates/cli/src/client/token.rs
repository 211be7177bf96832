//! `stateplane token create|list|delete`: API tokens of a namespace, through the platform API's
//! routes (`/apitokens/v1/namespaces/{ns}/apitokens`). Needs an owner token of the namespace or the
//! admin token (`--token` / `STATEPLANE_TOKEN`). `stateplane whoami`: who the token is and its role
//! in the namespace, as the server's `GET …/access` says (any role may ask).
//!
//! `create` prints the new token's secret alone on stdout (what it says around it goes to stderr), so
//! `export STATEPLANE_TOKEN=$(stateplane token create ci --role editor)` works; it is shown this once.

use clap::Subcommand;
use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::output::{age, table_or, Col, Output};
use super::{CliError, Client, Result};

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create an API token in the namespace; prints its secret (shown only this once).
    Create {
        /// The token's name (lower-case letters, digits and '-').
        name: String,
        /// What the token may do in its namespace: viewer (read), editor (also write deployments and
        /// savepoints) or owner (also deployment targets and tokens).
        #[arg(long)]
        role: String,
    },
    /// List the namespace's API tokens (never their secrets).
    List,
    /// Delete an API token: requests with its secret are refused from now on.
    Delete {
        /// The token's name.
        name: String,
    },
}

pub async fn run(c: &Client, out: Output, cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Create { name, role } => {
            let body = json!({"name": name, "role": role});
            let (_, raw) = c.send(Method::POST, url(c, None), Some(&body)).await?;
            if out.print_raw(&raw)? {
                return Ok(());
            }
            let t = &raw["apiToken"];
            let secret = t["secret"].as_str().ok_or_else(|| CliError::Protocol {
                url: url(c, None).to_string(),
                detail: "the created token has no secret".into(),
            })?;
            eprintln!(
                "Created API token '{name}' ({}) in namespace '{}'. Its secret, shown only this once \
                 (pass it with --token or STATEPLANE_TOKEN):",
                t["role"].as_str().unwrap_or(&role),
                c.namespace
            );
            println!("{secret}");
            Ok(())
        }
        TokenCmd::List => {
            let (_, raw) = c.send(Method::GET, url(c, None), None).await?;
            if out.print_raw(&raw)? {
                return Ok(());
            }
            let rows: Vec<Vec<String>> = raw["apiTokens"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(row)
                .collect();
            let cols = [
                Col::new("NAME", 48),
                Col::new("ROLE", 6),
                Col::new("AGE", 4),
            ];
            let empty = format!("No API tokens in namespace '{}'.", c.namespace);
            print!("{}", table_or(&cols, &rows, &empty));
            Ok(())
        }
        TokenCmd::Delete { name } => {
            let (_, raw) = c.send(Method::DELETE, url(c, Some(&name)), None).await?;
            if !out.print_raw(&raw)? {
                println!(
                    "API token '{name}' deleted from namespace '{}'",
                    c.namespace
                );
            }
            Ok(())
        }
    }
}

/// `stateplane whoami`: one line (or the API's answer with `-o json|yaml`).
pub async fn whoami(c: &Client, out: Output) -> Result<()> {
    let raw = c.get(&["access"], &[]).await?;
    if out.print_raw(&raw)? {
        return Ok(());
    }
    let s = |k: &str| raw[k].as_str().unwrap_or("?").to_string();
    let ns = s("namespace");
    match raw["principal"].as_str() {
        Some("token") => println!(
            "API token '{}' with role {} in namespace '{ns}'",
            s("tokenName"),
            s("role")
        ),
        Some("admin") => println!("the admin token (may do everything, in namespace '{ns}' too)"),
        _ => println!(
            "no access control on this server: every caller may do everything (role {})",
            s("role")
        ),
    }
    Ok(())
}

/// `<server>/apitokens/v1/namespaces/<ns>/apitokens[/<name>]`, under the server URL's own path.
fn url(c: &Client, name: Option<&str>) -> Url {
    // `c.url` is `<server>/api/v1/namespaces/<ns>`: keep what comes before those four segments.
    let mut url = c.url(&[]);
    if let Ok(mut path) = url.path_segments_mut() {
        for _ in 0..4 {
            path.pop();
        }
        path.extend([
            "apitokens",
            "v1",
            "namespaces",
            c.namespace.as_str(),
            "apitokens",
        ]);
        if let Some(n) = name {
            path.push(n);
        }
    }
    url
}

fn row(t: &Value) -> Vec<String> {
    let name = t["name"].as_str().unwrap_or_default();
    // `namespaces/<ns>/apitokens/<name>`: the namespace is the one asked for
    let short = name.rsplit('/').next().unwrap_or(name).to_string();
    let created = t["createTime"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| age(d.to_utc()))
        .unwrap_or_default();
    vec![
        short,
        t["role"].as_str().unwrap_or_default().to_string(),
        created,
    ]
}
