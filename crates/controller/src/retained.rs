//! Retained checkpoints: after a job was cancelled or failed, find the checkpoint Flink kept.
//!
//! Flink's checkpoint statistics name the latest completed checkpoint, but they are cached for up to
//! 3 s and a newer checkpoint may have subsumed (deleted) the one they name. So the named directory is
//! confirmed on storage (it must hold `_metadata`); for local paths a missing one is replaced by the
//! newest `chk-N` beside it that does. For a job Flink forgot (vanished), the job's checkpoint
//! directory from its configuration is scanned the same way.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use stateplane_flink::FlinkClient;
use stateplane_model::{local_path, Job};

/// A retained checkpoint found for a job.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub location: String,
    pub completed_at: DateTime<Utc>,
}

/// Keys naming the checkpoint directory (Flink 2.x name first).
const CHECKPOINT_DIR_KEYS: [&str; 2] = ["execution.checkpointing.dir", "state.checkpoints.dir"];

/// Looks for the job's retained checkpoint: Flink's statistics first, then its directory.
pub(crate) async fn find(client: Option<&FlinkClient>, job: &Job) -> Option<Found> {
    let flink_id = crate::observe::flink_job_id(job);
    if let Some(client) = client {
        if let Ok(stats) = client.checkpoints(&flink_id).await {
            if let Some(c) = stats.latest_completed.filter(|c| !c.is_savepoint) {
                if let Some(path) = c.external_path {
                    let at = c
                        .latest_ack_timestamp_ms
                        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                        .unwrap_or_else(Utc::now);
                    match local_path(&path) {
                        None => {
                            return Some(Found {
                                location: path,
                                completed_at: at,
                            })
                        }
                        Some(p) if p.join("_metadata").is_file() => {
                            return Some(Found {
                                location: path,
                                completed_at: at,
                            })
                        }
                        Some(p) => {
                            if let Some(found) = p.parent().and_then(newest_chk) {
                                return Some(found);
                            }
                        }
                    }
                }
            }
        }
    }
    let dir = CHECKPOINT_DIR_KEYS
        .iter()
        .find_map(|k| job.spec.flink_configuration.get(*k))?;
    let base = local_path(dir)?;
    newest_chk(&base.join(flink_id.as_str()))
}

/// The newest `chk-N` directory holding `_metadata` in `dir`.
fn newest_chk(dir: &Path) -> Option<Found> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut best: Option<(u64, PathBuf)> = None;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix("chk-"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if e.path().join("_metadata").is_file() && best.as_ref().is_none_or(|(b, _)| n > *b) {
            best = Some((n, e.path()));
        }
    }
    let (_, path) = best?;
    let completed_at = std::fs::metadata(path.join("_metadata"))
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    Some(Found {
        location: format!("file://{}", path.display()),
        completed_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_chk_with_metadata_wins() {
        let dir = tempfile::tempdir().unwrap();
        for (n, meta) in [(3, true), (7, true), (9, false)] {
            let p = dir.path().join(format!("chk-{n}"));
            std::fs::create_dir_all(&p).unwrap();
            if meta {
                std::fs::write(p.join("_metadata"), b"x").unwrap();
            }
        }
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let f = newest_chk(dir.path()).unwrap();
        assert!(f.location.ends_with("/chk-7"), "{}", f.location);
        assert!(f.location.starts_with("file:///"));
        assert!(newest_chk(&dir.path().join("missing")).is_none());
    }
}
