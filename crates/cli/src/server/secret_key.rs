//! The key secret values are sealed with, found like the admin token: `STATEPLANE_SECRET_KEY` (64 hex
//! digits), or the file named by `--secret-key-file`; with neither, on SQLite, `<data-dir>/secret-key`,
//! generated (mode 0600) on first start. Replicas on PostgreSQL must share one key, so there one of the
//! two must be given, or the server runs without secret values (creating one is refused, naming the
//! setting). At start the key is checked against the store's key check ([`SecretCipher::check_key`]):
//! a server given another key than the one the store's secret values were sealed with refuses to start.
//! The key is never logged.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use stateplane_secrets::{SecretCipher, SecretKey};
use stateplane_store::Store;

use super::backend::Backend;
use super::ServerArgs;

/// The environment variable holding the key (hex).
pub const SECRET_KEY_ENV: &str = "STATEPLANE_SECRET_KEY";

/// Name of the generated key's file in the data directory.
pub const SECRET_KEY_FILE: &str = "secret-key";

fn read_key_file(file: &Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the secret key from {}", file.display()))?;
    SecretKey::from_hex(text.trim())
        .with_context(|| format!("the secret key in {}", file.display()))
}

/// The key in `file`, generating it (mode 0600) if the file does not exist yet.
fn generated(file: &Path) -> anyhow::Result<SecretKey> {
    if file.exists() {
        return read_key_file(file);
    }
    let key = SecretKey::generate().context("generating the secret key")?;
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
    f.write_all(key.to_hex().as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", file.display()))?;
    tracing::info!(file = %file.display(), "generated the secret-value key into this file (mode 0600); back it up with the database");
    Ok(key)
}

/// The cipher for secret values, checked against the store; `None` when no key is configured
/// (PostgreSQL without one).
pub async fn cipher(
    args: &ServerArgs,
    backend: &Backend,
    store: &dyn Store,
) -> anyhow::Result<Option<Arc<SecretCipher>>> {
    let from_env = std::env::var(SECRET_KEY_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let key = match (from_env, &args.secret_key_file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "both {SECRET_KEY_ENV} and --secret-key-file are set; give the secret key one way"
        ),
        (Some(v), None) => SecretKey::from_hex(v.trim()).context(SECRET_KEY_ENV)?,
        (None, Some(file)) => read_key_file(file)?,
        (None, None) => match backend {
            Backend::Sqlite(_) => generated(&args.data_dir.join(SECRET_KEY_FILE))?,
            Backend::Postgres { .. } => {
                tracing::warn!(
                    "no secret key ({SECRET_KEY_ENV} or --secret-key-file): secret values cannot be created \
                     on this server; every replica needs the same key (e.g. `openssl rand -hex 32`)"
                );
                return Ok(None);
            }
        },
    };
    let cipher = SecretCipher::new(&key);
    cipher
        .check_key(store)
        .await
        .context("checking the secret key")?;
    Ok(Some(Arc::new(cipher)))
}
