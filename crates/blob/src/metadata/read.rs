//! Reading a location's `_metadata` whole, with a fixed bound on how much is read.
//!
//! A snapshot location names a file a user controls; reading it must not let the file decide how
//! much memory the server spends. At most [`MAX_METADATA_BYTES`] plus one byte are ever read (so a
//! file that is larger is recognised without reading the rest), and a larger file is refused.

use std::time::Duration;

use super::{parse, SnapshotSummary};
use crate::location::METADATA_FILE;
use crate::{BlobError, BlobLocation};

/// Largest `_metadata` read: 64 MiB. Flink keeps state above a few KiB per handle in separate files
/// (`state.storage.fs.memory-threshold`, 20 KiB by default), so even jobs with thousands of subtasks
/// write a few MiB; a larger file is more likely a mistake than a snapshot.
pub const MAX_METADATA_BYTES: u64 = 64 * 1024 * 1024;

impl BlobLocation {
    /// Reads and parses the location's `_metadata` (the location may also be the `_metadata` file
    /// itself, as Flink accepts).
    ///
    /// Errors: [`BlobError::NotFound`] when nothing is there, [`BlobError::NoMetadata`] for a
    /// directory without `_metadata`, [`BlobError::NotASnapshot`] when `_metadata` is larger than
    /// [`MAX_METADATA_BYTES`] or cannot be read as Flink's (the reason says why and where),
    /// [`BlobError::Unreachable`] when the storage cannot be read.
    pub async fn read_summary(&self) -> Result<SnapshotSummary, BlobError> {
        let file = if self.name().as_deref() == Some(METADATA_FILE) {
            self.clone()
        } else {
            self.child(METADATA_FILE)
        };
        let limit = usize::try_from(MAX_METADATA_BYTES + 1).unwrap_or(usize::MAX);
        let bytes = match file.read_prefix(limit).await {
            Ok(b) => b,
            Err(BlobError::NotFound { .. }) => {
                return Err(if self.exists().await? {
                    BlobError::NoMetadata {
                        location: self.uri().to_string(),
                    }
                } else {
                    BlobError::NotFound {
                        location: self.uri().to_string(),
                    }
                });
            }
            Err(e) => return Err(e),
        };
        if bytes.len() as u64 > MAX_METADATA_BYTES {
            return Err(BlobError::NotASnapshot {
                location: self.uri().to_string(),
                reason: format!(
                    "its _metadata file is larger than {} MiB, the most that is read",
                    MAX_METADATA_BYTES / (1024 * 1024)
                ),
            });
        }
        parse(&bytes).map_err(|e| BlobError::NotASnapshot {
            location: self.uri().to_string(),
            reason: e.to_string(),
        })
    }
}

/// Reads the snapshot summary at `uri`, giving up after `timeout` (reported as unreachable).
pub async fn summarize(uri: &str, timeout: Duration) -> Result<SnapshotSummary, BlobError> {
    let loc = BlobLocation::parse(uri)?;
    match tokio::time::timeout(timeout, loc.read_summary()).await {
        Ok(r) => r,
        Err(_) => Err(BlobError::Unreachable {
            location: loc.uri().to_string(),
            reason: format!("no answer within {} s", timeout.as_secs()),
        }),
    }
}
