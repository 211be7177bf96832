//! Snapshot summaries: reads a COMPLETED savepoint's `_metadata` (only that file, never the state
//! files, through [`stateplane_blob::metadata`], which bounds what it reads and never panics on a
//! hostile file) and stores what it says next to the savepoint.
//!
//! Order of writes: the summary row first, then the savepoint's [`SUMMARY_ANNOTATION`]; the planner
//! asks for a summary until the annotation is there, so a crash between the two only reads the file
//! again (the put replaces). A `_metadata` that cannot be read or parsed leaves the savepoint
//! registered and usable, with the reason in [`SUMMARY_ERROR_ANNOTATION`]; it is not read again until
//! a user removes that annotation.

use std::time::Duration;

use stateplane_blob::metadata::{self, OperatorSummary, StateSizes as BlobSizes};
use stateplane_model::snapshot::{
    recorded_duration_ms, OperatorState, SavepointSnapshot, SnapshotSummary, StateSizes,
    SUMMARY_ANNOTATION, SUMMARY_ERROR_ANNOTATION,
};
use stateplane_model::{now, SavepointId};
use stateplane_store::StoreError;
use tracing::warn;

use super::context::{ts, Ctx, Effect};
use crate::error::Error;

/// The longest reading one `_metadata` may take (the file is at most 64 MiB, usually a few KiB).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads and stores the summary of a savepoint the planner named.
pub(super) async fn summarize(x: &Ctx<'_>, id: SavepointId) -> Result<Effect, Error> {
    let sp = x.savepoint(id)?;
    let Some(location) = sp.spec.savepoint_location.as_deref() else {
        return Ok(Effect::default());
    };
    match metadata::summarize(location, READ_TIMEOUT).await {
        Ok(summary) => {
            let row = SavepointSnapshot {
                savepoint_id: id,
                deployment_id: sp.metadata.deployment_id,
                savepoint_created_at: sp.metadata.created_at,
                duration_ms: recorded_duration_ms(sp),
                summary: from_blob(summary),
            };
            match x
                .shared
                .store
                .snapshot_put(&sp.metadata.namespace, &row)
                .await
            {
                Ok(()) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(Error::Conflict(format!("savepoint {id} is gone")))
                }
                Err(e) => return Err(e.into()),
            }
            x.write_savepoint(sp, |s| {
                s.metadata
                    .annotations
                    .insert(SUMMARY_ANNOTATION.into(), ts(now()));
            })
            .await?;
        }
        Err(e) => {
            let reason = e.to_string();
            warn!(savepoint = %id, %reason, "cannot summarise the savepoint's _metadata");
            x.write_savepoint(sp, |s| {
                s.metadata
                    .annotations
                    .insert(SUMMARY_ERROR_ANNOTATION.into(), reason);
            })
            .await?;
        }
    }
    Ok(Effect::wrote())
}

fn sizes(s: &BlobSizes) -> StateSizes {
    StateSizes {
        keyed: s.keyed,
        operator: s.operator,
        raw: s.raw,
        channel: s.channel,
        coordinator: s.coordinator,
        total: s.total,
        inline: s.inline,
        in_files: s.in_files,
    }
}

fn operator(o: OperatorSummary) -> OperatorState {
    OperatorState {
        operator_id: o.operator_id,
        uid: o.uid,
        name: o.name,
        parallelism: o.parallelism,
        max_parallelism: o.max_parallelism,
        fully_finished: o.fully_finished,
        state: sizes(&o.state),
    }
}

/// The blob crate's summary in the model's shape (the model is pure and depends on no crate of ours).
pub(crate) fn from_blob(s: metadata::SnapshotSummary) -> SnapshotSummary {
    SnapshotSummary {
        format_version: s.format_version,
        checkpoint_id: s.checkpoint_id,
        total: sizes(&s.total),
        operators: s.operators.into_iter().map(operator).collect(),
    }
}
