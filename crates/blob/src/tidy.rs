//! Disposal of a snapshot together with what stateplane laid out around it: the per-savepoint target
//! directory it lies in (removed only when empty), and a job's checkpoint directory (its `shared/` and
//! `taskowned/` state, removed only when no other `chk-*` directory is left in it).
//!
//! The snapshot itself goes through [`BlobLocation::delete_snapshot`] (refused unless it holds
//! `_metadata`, which goes last); tidying up around it is best effort, because once the snapshot is
//! gone nothing reads the rest, and it is said in words what was removed.

use crate::{BlobError, BlobLocation, Disposal};

/// What [`dispose_with_surroundings`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposed {
    /// What happened to the snapshot.
    pub snapshot: Disposal,
    /// Locations removed around it (the empty target directory, the job's checkpoint directory).
    pub also_removed: Vec<String>,
    /// What could not be tidied up, in words (the snapshot is gone regardless).
    pub warnings: Vec<String>,
}

/// Deletes the snapshot at `snapshot`, then `target_dir` if it is left empty, then `job_dir` if it
/// holds no other `chk-*` directory.
pub async fn dispose_with_surroundings(
    snapshot: &BlobLocation,
    target_dir: Option<&BlobLocation>,
    job_dir: Option<&BlobLocation>,
) -> Result<Disposed, BlobError> {
    let mut out = Disposed {
        snapshot: snapshot.delete_snapshot().await?,
        also_removed: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(dir) = target_dir {
        match dir.remove_if_empty().await {
            Ok(true) => out.also_removed.push(dir.uri().to_string()),
            Ok(false) => {}
            Err(e) => out
                .warnings
                .push(format!("cannot remove {}: {e}", dir.uri())),
        }
    }
    if let Some(dir) = job_dir {
        match dir.subdirectories().await {
            Ok(subdirs) if !subdirs.iter().any(|s| s.starts_with("chk-")) => {
                match dir.delete_tree().await {
                    Ok(()) => out.also_removed.push(dir.uri().to_string()),
                    Err(e) => out
                        .warnings
                        .push(format!("cannot remove {}: {e}", dir.uri())),
                }
            }
            Ok(_) => {}
            Err(e) => out.warnings.push(format!("cannot list {}: {e}", dir.uri())),
        }
    }
    Ok(out)
}
