//! `status.running.conditions`: what is wrong (or right again) with a running deployment that its
//! state alone does not say, in Ververica Platform's shape (`type`, `status` True/False/Unknown,
//! `reason`, `message`, `lastTransitionTime`, `lastUpdateTime`).
//!
//! Four conditions, each derived from one observed fact (see [`Observation`]):
//! - [`CLUSTER_UNREACHABLE`]: the job's Flink cluster does not answer its REST API.
//! - [`JOB_FAILING`]: Flink reports the job restarting or failing (its restart strategy at work), with
//!   Flink's root cause.
//! - [`CHECKPOINTS_FAILING`]: the job checkpoints (`execution.checkpointing.interval` is set) but no
//!   checkpoint completed for [`checkpoint_deadline`] of the interval.
//! - [`UPGRADE_ROLLED_BACK`]: the upgrade to the deployment's spec version failed and was rolled back;
//!   the job runs the previous template (see `crate::plan::rollback`).
//!
//! Guarantees: a condition changes only when its status or reason does ([`merge`]), so a condition that
//! stays true writes nothing on later passes (its message is the one of its transition), and
//! `lastTransitionTime` is the time the status flipped. Conditions are not a decision about the job:
//! the controller keeps doing what the deployment's state asks; they explain what Flink is doing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The job's Flink cluster does not answer.
pub const CLUSTER_UNREACHABLE: &str = "ClusterUnreachable";
/// Flink reports the job restarting or failing.
pub const JOB_FAILING: &str = "JobFailing";
/// No checkpoint completed for a while, though the job checkpoints.
pub const CHECKPOINTS_FAILING: &str = "CheckpointsFailing";

/// The deployment runs the previous template: the upgrade to its spec version was rolled back
/// (`status.rollback` says why).
pub const UPGRADE_ROLLED_BACK: &str = "UpgradeRolledBack";

/// Every condition type stateplane sets, in the order they are shown.
pub const TYPES: [&str; 4] = [
    CLUSTER_UNREACHABLE,
    JOB_FAILING,
    CHECKPOINTS_FAILING,
    UPGRADE_ROLLED_BACK,
];

/// A condition's status, as in Kubernetes and Ververica Platform (`"True"`, `"False"`, `"Unknown"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        })
    }
}

/// One condition of a running deployment (Ververica's `DeploymentCondition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    /// `ClusterUnreachable`, `JobFailing`, `CheckpointsFailing` or `UpgradeRolledBack`.
    #[serde(rename = "type")]
    pub kind: String,
    pub status: ConditionStatus,
    /// A CamelCase word saying why (e.g. `JobRestarting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was observed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
    /// When the status or reason last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<DateTime<Utc>>,
}

/// What one pass observed about one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub kind: &'static str,
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

/// The conditions after this pass's observations, or `None` when none changed status or reason.
/// Conditions not observed in this pass are kept as they are; a False observation of a condition the
/// deployment never had adds nothing (so a healthy deployment's status is never written for them).
pub fn merge(
    current: &[DeploymentCondition],
    observed: &[Observation],
    now: DateTime<Utc>,
) -> Option<Vec<DeploymentCondition>> {
    let mut next = current.to_vec();
    let mut changed = false;
    for o in observed {
        let existing = next.iter_mut().find(|c| c.kind == o.kind);
        match existing {
            Some(c) if c.status == o.status && c.reason.as_deref() == Some(o.reason) => {}
            Some(c) => {
                if c.status != o.status {
                    c.last_transition_time = Some(now);
                }
                c.status = o.status;
                c.reason = Some(o.reason.to_string());
                c.message = Some(o.message.clone());
                c.last_update_time = Some(now);
                changed = true;
            }
            // A healthy deployment carries no conditions: one appears the first time it is not
            // False, and stays (False again) once it has been.
            None if o.status == ConditionStatus::False => {}
            None => {
                next.push(DeploymentCondition {
                    kind: o.kind.to_string(),
                    status: o.status,
                    reason: Some(o.reason.to_string()),
                    message: Some(o.message.clone()),
                    last_transition_time: Some(now),
                    last_update_time: Some(now),
                });
                changed = true;
            }
        }
    }
    next.sort_by_key(|c| {
        TYPES
            .iter()
            .position(|t| *t == c.kind)
            .unwrap_or(TYPES.len())
    });
    changed.then_some(next)
}

/// The checkpoint interval a job configuration sets (`execution.checkpointing.interval`, the key of
/// every Flink version stateplane runs), when checkpointing is on.
pub fn checkpoint_interval(config: &crate::StringMap) -> Option<Duration> {
    config
        .get("execution.checkpointing.interval")
        .and_then(|v| flink_duration(v))
        .filter(|d| !d.is_zero())
}

/// How long a checkpointing job may go without a completed checkpoint before
/// [`CHECKPOINTS_FAILING`] is true: three intervals, at least 10 s (Flink's own first checkpoint comes
/// one interval after the start, and a slow one may take as long again), at most a day.
pub fn checkpoint_deadline(interval: Duration) -> Duration {
    interval
        .saturating_mul(3)
        .clamp(Duration::from_secs(10), Duration::from_secs(86_400))
}

/// A duration as Flink's configuration writes it: a whole number and an optional unit (`500 ms`,
/// `10s`, `2 min`, `1h`, `1d`; no unit means milliseconds). `None` when it is not one.
pub fn flink_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms_per = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms_per).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn obs(kind: &'static str, status: ConditionStatus, reason: &'static str) -> Observation {
        Observation {
            kind,
            status,
            reason,
            message: format!("{reason} seen"),
        }
    }

    #[test]
    fn a_condition_changes_only_with_its_status_or_reason() {
        use ConditionStatus::*;
        let first = merge(&[], &[obs(JOB_FAILING, True, "JobRestarting")], t(0)).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].last_transition_time, Some(t(0)));
        // Same status and reason, another message: nothing to write.
        let mut again = obs(JOB_FAILING, True, "JobRestarting");
        again.message = "another cause".into();
        assert_eq!(merge(&first, &[again], t(5)), None);
        // Another reason, same status: updated, the transition time kept.
        let failing = merge(&first, &[obs(JOB_FAILING, True, "JobFailing")], t(6)).unwrap();
        assert_eq!(failing[0].last_transition_time, Some(t(0)));
        assert_eq!(failing[0].last_update_time, Some(t(6)));
        // The status flips: a transition.
        let ok = merge(&failing, &[obs(JOB_FAILING, False, "JobRunning")], t(9)).unwrap();
        assert_eq!(ok[0].status, False);
        assert_eq!(ok[0].last_transition_time, Some(t(9)));
        assert_eq!(ok[0].message.as_deref(), Some("JobRunning seen"));
    }

    #[test]
    fn conditions_not_observed_are_kept_and_the_order_is_fixed() {
        use ConditionStatus::*;
        // Healthy from the start: nothing to record.
        let healthy = [
            obs(CHECKPOINTS_FAILING, False, "CheckpointsComplete"),
            obs(CLUSTER_UNREACHABLE, False, "ClusterAnswers"),
        ];
        assert_eq!(merge(&[], &healthy, t(0)), None);
        let a = merge(
            &[],
            &[
                obs(CHECKPOINTS_FAILING, True, "CheckpointsNotCompleting"),
                obs(CLUSTER_UNREACHABLE, True, "FlinkNotAnswering"),
            ],
            t(0),
        )
        .unwrap();
        let kinds: Vec<_> = a.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, [CLUSTER_UNREACHABLE, CHECKPOINTS_FAILING]);
        let b = merge(&a, &[obs(CLUSTER_UNREACHABLE, False, "FlinkAnswers")], t(1)).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].status, False);
        assert_eq!(b[1], a[1]);
    }

    #[test]
    fn flink_durations_parse_as_flink_writes_them() {
        let ms = Duration::from_millis;
        for (s, want) in [
            ("500", Some(ms(500))),
            ("500 ms", Some(ms(500))),
            ("10s", Some(ms(10_000))),
            ("10 s", Some(ms(10_000))),
            ("2 min", Some(ms(120_000))),
            ("1h", Some(ms(3_600_000))),
            ("1 d", Some(ms(86_400_000))),
            ("", None),
            ("fast", None),
            ("3 weeks", None),
            ("99999999999999999999s", None),
            ("18446744073709551615d", None),
        ] {
            assert_eq!(flink_duration(s), want, "{s}");
        }
    }

    #[test]
    fn the_checkpoint_deadline_is_bounded() {
        let s = Duration::from_secs;
        assert_eq!(checkpoint_deadline(s(1)), s(10));
        assert_eq!(checkpoint_deadline(s(60)), s(180));
        assert_eq!(checkpoint_deadline(s(100_000)), s(86_400));
        let mut c = crate::StringMap::new();
        assert_eq!(checkpoint_interval(&c), None);
        c.insert("execution.checkpointing.interval".into(), "0".into());
        assert_eq!(checkpoint_interval(&c), None);
        c.insert("execution.checkpointing.interval".into(), "5 s".into());
        assert_eq!(checkpoint_interval(&c), Some(s(5)));
    }
}
