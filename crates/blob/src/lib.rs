//! Savepoint storage: where Flink snapshots live, and the few things stateplane does with them.
//!
//! One URI names a location on any storage a user would configure — `file:///…`, `s3://bucket/…`
//! (endpoint, region and credentials from the standard `AWS_*` variables), `gs://bucket/…`,
//! `az://container/…` — and [`BlobLocation`] reads and deletes there through `object_store` (local
//! paths through the file system, see [`location`]). What stateplane needs:
//!
//! - **Validation** of a snapshot a user registers: it exists and holds a `_metadata` file whose header
//!   is Flink's ([`BlobLocation::read_header`], [`header::parse_header`]), which also tells the
//!   checkpoint id.
//! - **Disposal** of a snapshot stateplane wrote, once nothing refers to it any more
//!   ([`BlobLocation::delete_snapshot`]), which refuses anything that is not a snapshot directory.
//! - **Retained checkpoints**: the newest `chk-N` directory holding `_metadata` in a job's checkpoint
//!   directory ([`newest_checkpoint`]), and when its `_metadata` was written
//!   ([`BlobLocation::modified`]).
//!
//! - **Orphans**: every snapshot directory below a prefix, with sizes ([`BlobLocation::find_snapshots`]),
//!   and disposal of one with its surroundings ([`dispose_with_surroundings`]).
//! - **Artifacts**: a deployment's jar (or a SQL script's dependency) read from storage
//!   ([`read_file`]).
//!
//! Errors ([`BlobError`]) tell apart "not there", "not a Flink snapshot" and "cannot reach or
//! authenticate", because the API answers them differently (a 422 for the first two, an accepted but
//! unverified registration for the last). No error ever carries a file's contents or a credential.
//!
//! Nothing here is durable state: the store holds what stateplane knows, storage holds the data.

pub mod error;
pub mod header;
pub mod location;
pub mod metadata;
mod tidy;

use std::time::{Duration, SystemTime};

pub use error::BlobError;
pub use header::{SnapshotHeader, MAGIC};
pub use location::{BlobLocation, Disposal, FoundSnapshot, Snapshots, METADATA_FILE};
pub use tidy::{dispose_with_surroundings, Disposed};

/// Reads the snapshot header at `uri`, giving up after `timeout` (reported as unreachable).
pub async fn inspect(uri: &str, timeout: Duration) -> Result<SnapshotHeader, BlobError> {
    let loc = BlobLocation::parse(uri)?;
    match tokio::time::timeout(timeout, loc.read_header()).await {
        Ok(r) => r,
        Err(_) => Err(BlobError::Unreachable {
            location: loc.uri().to_string(),
            reason: format!("no answer within {} s", timeout.as_secs()),
        }),
    }
}

/// The whole file at `uri` (a jar), at most `max` bytes (a larger file is an error, not cut), giving
/// up after `timeout` (reported as unreachable).
pub async fn read_file(uri: &str, max: usize, timeout: Duration) -> Result<Vec<u8>, BlobError> {
    let loc = BlobLocation::parse(uri)?;
    let unreachable = |reason: String| BlobError::Unreachable {
        location: loc.uri().to_string(),
        reason,
    };
    match tokio::time::timeout(timeout, loc.read_prefix(max.saturating_add(1))).await {
        Ok(Ok(bytes)) if bytes.len() > max => {
            Err(unreachable(format!("the file is larger than {max} bytes")))
        }
        Ok(r) => r,
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

/// The newest complete checkpoint in a job's checkpoint directory: the `chk-N` directory with the
/// largest N that holds `_metadata`, with that file's modification time. None when there is none (or
/// no directory); an error only when the storage cannot be read.
pub async fn newest_checkpoint(
    dir: &BlobLocation,
) -> Result<Option<(BlobLocation, SystemTime)>, BlobError> {
    let mut numbered: Vec<(u64, String)> = dir
        .subdirectories()
        .await?
        .into_iter()
        .filter_map(|name| Some((name.strip_prefix("chk-")?.parse().ok()?, name)))
        .collect();
    numbered.sort_unstable_by_key(|(n, _)| std::cmp::Reverse(*n));
    for (_, name) in numbered {
        let chk = dir.child(&name);
        match chk.child(METADATA_FILE).modified().await {
            Ok(at) => return Ok(Some((chk, at))),
            // Being written, or subsumed while we looked: an older one may be complete.
            Err(BlobError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}
