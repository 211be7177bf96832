//! The running job's conditions (`status.running.conditions`): from what this pass learned of the
//! job in Flink, whether its cluster answers (`ClusterUnreachable`) and whether the job is failing
//! and being restarted by Flink (`JobFailing`). Planned only when nothing more urgent is (it is a
//! status write, never a reason to delay a stop or a start), and only when a condition's status or
//! reason changes, so a steady job writes nothing.

use super::{Action, FlinkJobState, FlinkView, Observed};
use crate::condition::{self, ConditionFact, ConditionStatus, CLUSTER_UNREACHABLE, JOB_FAILING};
use crate::JobState;

/// [`Action::UpdateConditions`] when the facts of this pass change the stored conditions.
pub(super) fn update(o: &Observed<'_>) -> Option<Action> {
    let job = o.current_job?;
    let running = o.deployment.status.running.as_ref()?;
    if running.job_id != job.metadata.id || job.status.state != JobState::Started {
        return None;
    }
    let facts = facts(&o.answers.job)?;
    let next = condition::apply(&running.conditions, &facts, o.now);
    (next != running.conditions).then_some(Action::UpdateConditions {
        job: job.metadata.id,
        conditions: next,
    })
}

fn fact(
    t: &'static str,
    status: ConditionStatus,
    reason: &'static str,
    m: String,
) -> ConditionFact {
    ConditionFact {
        condition_type: t,
        status,
        reason,
        message: m,
    }
}

fn facts(view: &FlinkView) -> Option<Vec<ConditionFact>> {
    use ConditionStatus::{False, True, Unknown};
    Some(match view {
        FlinkView::NotAsked | FlinkView::Missing => return None,
        FlinkView::Unreachable { error } => vec![
            fact(
                CLUSTER_UNREACHABLE,
                True,
                "FlinkDoesNotAnswer",
                format!("the job's Flink cluster did not answer: {error}"),
            ),
            fact(
                JOB_FAILING,
                Unknown,
                "ClusterUnreachable",
                "the job's state is not known while its cluster does not answer".into(),
            ),
        ],
        FlinkView::Job { state, .. } => {
            let reachable = fact(
                CLUSTER_UNREACHABLE,
                False,
                "FlinkAnswers",
                "the job's Flink cluster answers".into(),
            );
            let failing = match state {
                FlinkJobState::Restarting | FlinkJobState::Failing => Some(fact(
                    JOB_FAILING,
                    True,
                    if *state == FlinkJobState::Restarting {
                        "JobRestarting"
                    } else {
                        "JobFailing"
                    },
                    format!("the job is {state} in Flink: it failed and Flink's restart strategy is at work (its exceptions are in Flink's UI)"),
                )),
                FlinkJobState::Running => Some(fact(
                    JOB_FAILING,
                    False,
                    "JobRunning",
                    "the job runs in Flink".into(),
                )),
                _ => None,
            };
            std::iter::once(reachable).chain(failing).collect()
        }
    })
}
