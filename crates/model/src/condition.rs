//! `status.running.conditions` of a deployment, in Ververica Platform's shape (`type`, `status`
//! `True`/`False`/`Unknown`, `reason`, `message`, `lastTransitionTime`, `lastUpdateTime`), so tooling
//! that reads Ververica's conditions reads these.
//!
//! The types are Ververica's (the names its documentation and the clients written against it use):
//! `ClusterUnreachable` and `JobFailing`. Which condition holds is the planner's decision
//! ([`crate::plan`]), from facts observed in a pass; a condition whose facts were not observed keeps
//! its last value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The cluster running the deployment's job does not answer (Ververica's type).
pub const CLUSTER_UNREACHABLE: &str = "ClusterUnreachable";
/// The job fails and Flink's restart strategy restarts it (Ververica's type).
pub const JOB_FAILING: &str = "JobFailing";

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// One condition of a deployment's running job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    #[serde(rename = "type")]
    pub condition_type: String,
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
    /// When the condition was last written (its reason or message changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<DateTime<Utc>>,
}

/// What a pass observed about one condition type.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionFact {
    pub condition_type: &'static str,
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

/// `current` with `facts` applied at `now`: a fact with the status and reason of the current condition
/// leaves it as it is (nothing to write: a message that differs only in detail is not news); another
/// replaces it, keeping its transition time unless the status changed. Types not observed are kept;
/// new types are appended, except as `False`: a job that never had a problem has no conditions (and
/// a healthy job's passes write nothing).
pub fn apply(
    current: &[DeploymentCondition],
    facts: &[ConditionFact],
    now: DateTime<Utc>,
) -> Vec<DeploymentCondition> {
    let mut next = current.to_vec();
    for f in facts {
        let fresh = |transition: Option<DateTime<Utc>>| DeploymentCondition {
            condition_type: f.condition_type.to_string(),
            status: f.status,
            reason: Some(f.reason.to_string()),
            message: Some(f.message.clone()),
            last_transition_time: transition,
            last_update_time: Some(now),
        };
        match next
            .iter_mut()
            .find(|c| c.condition_type == f.condition_type)
        {
            Some(c) if c.status == f.status && c.reason.as_deref() == Some(f.reason) => {}
            Some(c) => {
                let transition = if c.status == f.status {
                    c.last_transition_time
                } else {
                    Some(now)
                };
                *c = fresh(transition);
            }
            None if f.status == ConditionStatus::False => {}
            None => next.push(fresh(Some(now))),
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(status: ConditionStatus, reason: &'static str, message: &str) -> ConditionFact {
        ConditionFact {
            condition_type: CLUSTER_UNREACHABLE,
            status,
            reason,
            message: message.into(),
        }
    }

    #[test]
    fn a_transition_is_timed_and_a_repeat_writes_nothing() {
        let t0 = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
        let t1 = chrono::DateTime::from_timestamp(2_000, 0).unwrap();
        let t2 = chrono::DateTime::from_timestamp(3_000, 0).unwrap();
        assert!(apply(&[], &[fact(ConditionStatus::False, "C", "up")], t0).is_empty());
        let down = apply(&[], &[fact(ConditionStatus::True, "A", "down")], t0);
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].last_transition_time, Some(t0));
        // the same status and reason, another message: unchanged
        let again = apply(
            &down,
            &[fact(ConditionStatus::True, "A", "down, differently")],
            t1,
        );
        assert_eq!(again, down);
        // another reason, same status: rewritten, transition time kept
        let other = apply(&down, &[fact(ConditionStatus::True, "B", "still down")], t1);
        assert_eq!(other[0].last_transition_time, Some(t0));
        assert_eq!(other[0].last_update_time, Some(t1));
        // back up: a transition
        let up = apply(&other, &[fact(ConditionStatus::False, "C", "up")], t2);
        assert_eq!(up[0].status, ConditionStatus::False);
        assert_eq!(up[0].last_transition_time, Some(t2));
    }

    #[test]
    fn the_wire_shape_is_ververicas() {
        let t0 = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
        let c = apply(&[], &[fact(ConditionStatus::Unknown, "R", "m")], t0);
        let v = serde_json::to_value(&c[0]).unwrap();
        assert_eq!(v["type"], "ClusterUnreachable");
        assert_eq!(v["status"], "Unknown");
        assert_eq!(v["reason"], "R");
        assert_eq!(v["message"], "m");
        assert!(v["lastTransitionTime"].is_string() && v["lastUpdateTime"].is_string());
    }
}
