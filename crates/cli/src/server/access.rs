//! Who may reach the server: `--auth` (access control with API tokens, see `stateplane_api::auth`), or
//! loopback only.
//!
//! - Without `--auth` anyone who can connect can do anything, so the server refuses to listen on
//!   anything but a loopback address unless `--insecure-listen-anywhere` says that is intended.
//! - With `--auth` the admin token comes from `STATEPLANE_ADMIN_TOKEN`, or the file named by
//!   `--admin-token-file`; with neither, on SQLite, from `<data-dir>/admin-token`, generated (256
//!   random bits, mode 0600) the first time and read again on every start after. Replicas on
//!   PostgreSQL must share one admin token, so there one of the two must be given. The token is never
//!   logged, only where it came from.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use stateplane_api::auth::secret;

use super::backend::Backend;
use super::ServerArgs;

/// The environment variable holding the admin token.
pub const ADMIN_TOKEN_ENV: &str = "STATEPLANE_ADMIN_TOKEN";

/// Name of the generated admin token's file in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The shortest admin token accepted: anything shorter can be guessed.
const MIN_ADMIN_TOKEN: usize = 16;

/// Refuses a listen address other than loopback without `--auth`, unless
/// `--insecure-listen-anywhere`.
pub async fn check_listen(args: &ServerArgs) -> anyhow::Result<()> {
    if args.auth || args.insecure_listen_anywhere {
        return Ok(());
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(args.listen.as_str())
        .await
        .with_context(|| format!("--listen '{}' is not an address to listen on", args.listen))?
        .collect();
    if let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        anyhow::bail!(
            "refusing to listen on {open} without access control: anyone who can reach it could stop \
             jobs and delete their state. Start with --auth (API tokens; see the README), or listen \
             on a loopback address such as 127.0.0.1:8080, or, if something in front of stateplane \
             already restricts access, add --insecure-listen-anywhere"
        );
    }
    Ok(())
}

/// The admin secret when `--auth` is on (`None` when it is off).
pub fn admin_secret(args: &ServerArgs, backend: &Backend) -> anyhow::Result<Option<String>> {
    let from_env = std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    if !args.auth {
        if from_env.is_some() || args.admin_token_file.is_some() {
            tracing::warn!(
                "an admin token is set but --auth is not: the server runs without access control"
            );
        }
        return Ok(None);
    }
    let (secret, from) = match (from_env, &args.admin_token_file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "both {ADMIN_TOKEN_ENV} and --admin-token-file are set; give the admin token one way"
        ),
        (Some(v), None) => (v.trim().to_string(), ADMIN_TOKEN_ENV.to_string()),
        (None, Some(file)) => (read_token_file(file)?, file.display().to_string()),
        (None, None) => match backend {
            Backend::Sqlite(_) => {
                let file = args.data_dir.join(ADMIN_TOKEN_FILE);
                let secret = generated(&file)?;
                (secret, file.display().to_string())
            }
            Backend::Postgres { .. } => anyhow::bail!(
                "--auth on PostgreSQL needs the admin token from {ADMIN_TOKEN_ENV} or \
                 --admin-token-file (every replica must use the same one); generate one with \
                 `openssl rand -hex 32`"
            ),
        },
    };
    anyhow::ensure!(
        secret.len() >= MIN_ADMIN_TOKEN,
        "the admin token from {from} is too short ({} characters, at least {MIN_ADMIN_TOKEN}); \
         generate one with `openssl rand -hex 32`",
        secret.len()
    );
    tracing::info!(admin_token_from = %from, "access control on: every request needs an API token");
    Ok(Some(secret))
}

fn read_token_file(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the admin token from {}", file.display()))?;
    let token = text.trim().to_string();
    anyhow::ensure!(!token.is_empty(), "{} is empty", file.display());
    warn_if_readable_by_others(file);
    Ok(token)
}

#[cfg(unix)]
fn warn_if_readable_by_others(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                "the admin token file can be read by other users; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_file: &Path) {}

/// The admin token in `file`, generating it (mode 0600) if the file does not exist yet.
fn generated(file: &PathBuf) -> anyhow::Result<String> {
    if file.exists() {
        return read_token_file(file);
    }
    let secret = secret::generate_admin().map_err(anyhow::Error::msg)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    f.write_all(secret.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", file.display()))?;
    tracing::info!(
        file = %file.display(),
        "generated the admin token and wrote it to this file (mode 0600); it is not shown anywhere else"
    );
    Ok(secret)
}
