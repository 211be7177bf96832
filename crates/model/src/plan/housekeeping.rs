//! Housekeeping: what a deployment's pass does when nothing is urgent — disposals under way, the
//! summaries of new snapshots, what retention expires — and when it waits instead (a job stopping or
//! starting, so the transition its user waits for is not delayed by it).

use super::{Action, Observed, Operation, Poll};
use crate::{retention, SavepointState};

/// A wait on a job stopping, finishing, starting, being cancelled or rescaled: the deployment is on
/// its way to the state its user waits for, so housekeeping (reading a new savepoint's `_metadata`,
/// disposals, retention) waits until it got there rather than delaying the next step of the
/// transition by its own time. A wait on a savepoint of a running job, or on Flink, leaves room.
pub(super) fn waits_for_a_transition(action: &Action) -> bool {
    matches!(
        action,
        Action::Wait { poll: Some(Poll { operation, .. }), .. } if matches!(
            operation,
            Operation::Stop
                | Operation::Finish
                | Operation::Start
                | Operation::Cancel
                | Operation::Rescale
        )
    )
}

/// Deletions under way first (oldest first), then summaries of new snapshots (oldest first), then
/// what retention expires.
pub(super) fn next(o: &Observed<'_>) -> Option<Action> {
    if let Some(s) = o
        .savepoints
        .iter()
        .filter(|s| {
            matches!(
                s.status.state,
                SavepointState::PendingDeletion | SavepointState::Deleting
            )
        })
        .min_by_key(|s| (s.metadata.modified_at, s.metadata.id))
    {
        return Some(Action::DisposeSavepoint {
            savepoint: s.metadata.id,
        });
    }
    if crate::storage::teardown::is_being_deleted(o.deployment) {
        // Nothing else is done to a deployment on its way out; a failed disposal waits for the next
        // DELETE (to retry, or to keep the data).
        let failed =
            (o.savepoints.iter()).any(|s| s.status.state == SavepointState::FailedDeletion);
        return (o.current_job.is_none() && !failed).then_some(Action::DeleteDeployment);
    }
    if let Some(s) = o
        .savepoints
        .iter()
        .filter(|s| crate::snapshot::needs_summary(s))
        .min_by_key(|s| (s.metadata.created_at, s.metadata.id))
    {
        return Some(Action::SummarizeSavepoint {
            savepoint: s.metadata.id,
        });
    }
    let expired = retention::expired(o.deployment, o.savepoints, o.current_job, o.now);
    (!expired.is_empty()).then_some(Action::ExpireSavepoints { expired })
}
