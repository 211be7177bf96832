//! The operator states an upgrade would restore, read for the state check of its preflight and for
//! the upgrade preview (`stateplane_model::plan::upgrade_check` decides what to make of them).
//!
//! For a running job: the stop-with-savepoint of a stateful upgrade writes the running job's
//! operators, so its own newest snapshot is read — the newest of Flink's latest completed checkpoint
//! and latest savepoint of the job (current state sizes; ids and max parallelism never change during
//! a job's life), else the newest summary stateplane stored of a savepoint of this job. A checkpoint
//! Flink subsumes between the statistics and the read is simply not there: the next candidate is
//! read. Without a running job (preview only): the snapshot the next start would restore, by the
//! deployment's restore strategy, from its stored summary.
//!
//! Only `_metadata` is read (bounded, never the state files, see `stateplane_blob::metadata`);
//! nothing here fails the preflight: a snapshot that cannot be had is
//! [`RunningStateView::Unavailable`] with the reasons. A store outage is an error (the pass retries).

use std::time::Duration;

use stateplane_blob::{newest_checkpoint, BlobLocation};
use stateplane_flink::FlinkClient;
use stateplane_model::plan::upgrade_check::RunningStateView;
use stateplane_model::snapshot::SUMMARY_ANNOTATION;
use stateplane_model::{restore, Job, SavepointId, SavepointState};
use stateplane_store::StoreError;

use super::context::Ctx;
use super::snapshot::from_blob;
use crate::error::Error;
use crate::observe::flink_job_id;

/// The longest reading one `_metadata` may take here.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The operator states the upgrade of `x`'s deployment would restore (see the module docs).
pub(crate) async fn running_state(
    x: &Ctx<'_>,
    client: &FlinkClient,
    job: Option<&Job>,
) -> Result<RunningStateView, Error> {
    let mut why = Vec::new();
    let Some(job) = job else {
        return restored_by_next_start(x).await;
    };
    match client.checkpoints(&flink_job_id(job)).await {
        Ok(stats) => {
            let mut candidates: Vec<_> = [stats.latest_completed, stats.latest_savepoint]
                .into_iter()
                .flatten()
                .filter_map(|c| c.external_path.map(|p| (c.id, c.is_savepoint, p)))
                .collect();
            candidates.sort_by_key(|(id, _, _)| std::cmp::Reverse(*id));
            if candidates.is_empty() {
                why.push("Flink reports no completed checkpoint or savepoint of the job".into());
            }
            for (id, savepoint, path) in candidates {
                let kind = if savepoint { "savepoint" } else { "checkpoint" };
                match stateplane_blob::metadata::summarize(&path, READ_TIMEOUT).await {
                    Ok(s) => {
                        return Ok(RunningStateView::Read {
                            source: format!("{kind} {id} of the running job ({path})"),
                            operators: from_blob(s).operators,
                        })
                    }
                    Err(e) => why.push(format!("{kind} {id} at {path}: {e}")),
                }
                if !savepoint {
                    if let Some(found) = beside(&path, &mut why).await {
                        return Ok(found);
                    }
                }
            }
        }
        Err(e) => why.push(format!("Flink's checkpoint statistics: {e}")),
    }
    let newest = x
        .rows
        .savepoints
        .iter()
        .filter(|s| {
            s.metadata.job_id == Some(job.metadata.id)
                && s.status.state == SavepointState::Completed
                && s.metadata.annotations.contains_key(SUMMARY_ANNOTATION)
        })
        .max_by_key(|s| (s.metadata.created_at, s.metadata.id));
    match newest {
        Some(s) => {
            let id = s.metadata.id;
            stored(
                x,
                id,
                format!("savepoint {id} of the running job"),
                &mut why,
            )
            .await
        }
        None => {
            why.push("no summarised savepoint of the running job".into());
            Ok(unavailable(why))
        }
    }
}

/// The newest complete checkpoint beside `path` (Flink's statistics are cached for up to 3 s, so the
/// one they name may be subsumed already). A few tries: the newest one may be subsumed in turn
/// between listing and reading.
async fn beside(path: &str, why: &mut Vec<String>) -> Option<RunningStateView> {
    let dir = BlobLocation::parse(path).ok()?.parent()?;
    for _ in 0..3 {
        let chk = match newest_checkpoint(&dir).await {
            Ok(Some((chk, _))) => chk,
            Ok(None) => return None,
            Err(e) => {
                why.push(format!("listing {}: {e}", dir.uri()));
                return None;
            }
        };
        match stateplane_blob::metadata::summarize(chk.uri(), READ_TIMEOUT).await {
            Ok(s) => {
                return Some(RunningStateView::Read {
                    source: format!(
                        "checkpoint {} of the running job ({})",
                        s.checkpoint_id,
                        chk.uri()
                    ),
                    operators: from_blob(s).operators,
                })
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                why.push(format!("{}: {e}", chk.uri()));
                return None;
            }
        }
    }
    None
}

/// The snapshot the next start restores, from its stored summary.
async fn restored_by_next_start(x: &Ctx<'_>) -> Result<RunningStateView, Error> {
    let decision = restore::select(x.d(), &x.rows.savepoints);
    match decision.savepoint_id {
        Some(id) => {
            let mut why = Vec::new();
            let source = format!("savepoint {id}, which the next start restores");
            stored(x, id, source, &mut why).await
        }
        None => Ok(unavailable(vec![decision.reason])),
    }
}

async fn stored(
    x: &Ctx<'_>,
    id: SavepointId,
    source: String,
    why: &mut Vec<String>,
) -> Result<RunningStateView, Error> {
    let ns = &x.d().metadata.namespace;
    match x.shared.store.snapshot_get(ns, id).await {
        Ok(s) => Ok(RunningStateView::Read {
            source,
            operators: s.summary.operators,
        }),
        Err(StoreError::NotFound { .. }) => {
            why.push(format!("savepoint {id} has no summary (yet)"));
            Ok(unavailable(std::mem::take(why)))
        }
        Err(e) => Err(Error::Store(e)),
    }
}

fn unavailable(why: Vec<String>) -> RunningStateView {
    RunningStateView::Unavailable {
        why: why.join("; "),
    }
}
