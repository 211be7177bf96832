//! Retention and periodic savepoints: the two schedules a deployment can ask for. Pure rules; the
//! planner turns them into actions and the controller's executor performs them.
//!
//! **Retention** (`spec.savepointRetention: {maxCount, maxAge}`, off by default): of a deployment's
//! COMPLETED snapshots that stateplane took or recorded (every origin but COPIED), keep the newest
//! `maxCount` and none older than `maxAge`; the rest are deleted through the same path as a DELETE
//! (PENDING_DELETION, then disposal where the data is stateplane's and unshared). Never expired:
//! - the snapshot restore selection currently picks (what the next start would restore),
//! - the snapshot the current job restored from (with NO_CLAIM Flink may read it until the job's
//!   first checkpoint completes),
//! - anything not COMPLETED (in flight, failed, being deleted),
//! - registered or copied (COPIED) snapshots: users manage those.
//!
//! **Periodic savepoints** (`spec.periodicSavepointInterval`): while the job runs, a USER_REQUEST
//! savepoint (annotated [`crate::storage::PERIODIC_ANNOTATION`]) is due once the newest savepoint of
//! that job — of any origin and state, so a failed one also waits a whole interval before the next try
//! instead of retrying in a loop — is older than the interval, or, before the first, once the job has
//! run that long; never while another savepoint of the job is in flight.

use chrono::{DateTime, Utc};

use crate::duration::{self, Bounds};
use crate::restore;
use crate::{Deployment, Job, Savepoint, SavepointId, SavepointOrigin, SavepointState};

/// A snapshot retention wants deleted, and why (for the event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub savepoint_id: SavepointId,
    pub reason: String,
}

/// The setting's duration, or `None` (the schedule is off) when it is unset or outside `bounds`. The
/// API refuses such values; one can only come from a row written before the bounds existed, and
/// ignoring it is the safe reading (no savepoints taken back to back, none expired by surprise).
fn setting(s: Option<&str>, bounds: Bounds) -> Option<std::time::Duration> {
    bounds.parse(s?).ok()
}

/// The snapshots of `d` that its retention settings expire now, oldest last.
pub fn expired(
    d: &Deployment,
    savepoints: &[Savepoint],
    current_job: Option<&Job>,
    now: DateTime<Utc>,
) -> Vec<Expired> {
    let Some(r) = &d.spec.savepoint_retention else {
        return Vec::new();
    };
    let max_age = setting(r.max_age.as_deref(), duration::RETENTION_MAX_AGE);
    if r.max_count.is_none() && max_age.is_none() {
        return Vec::new();
    }
    let protected = [
        restore::select(d, savepoints).savepoint_id,
        current_job.and_then(|j| j.spec.savepoint_id),
    ];
    let mut candidates: Vec<&Savepoint> = savepoints
        .iter()
        .filter(|s| {
            s.metadata.deployment_id == d.metadata.id
                && s.status.state == SavepointState::Completed
                && s.metadata.origin != SavepointOrigin::Copied
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.metadata
            .created_at
            .cmp(&a.metadata.created_at)
            .then_with(|| b.metadata.id.cmp(&a.metadata.id))
    });
    let mut out = Vec::new();
    for (i, s) in candidates.iter().enumerate() {
        if protected.contains(&Some(s.metadata.id)) {
            continue;
        }
        let reason = match (r.max_count, max_age) {
            (Some(n), _) if i >= n as usize => format!(
                "beyond spec.savepointRetention.maxCount {n} (number {} by age)",
                i + 1
            ),
            // Past the end of time (never, in practice) means never expired.
            (_, Some(age))
                if duration::after(s.metadata.created_at, age).is_some_and(|t| now > t) =>
            {
                format!(
                    "older than spec.savepointRetention.maxAge {} (created {})",
                    r.max_age.as_deref().unwrap_or_default().trim(),
                    s.metadata
                        .created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            }
            _ => continue,
        };
        out.push(Expired {
            savepoint_id: s.metadata.id,
            reason,
        });
    }
    out
}

/// When the running `job` of `d` is due for its next periodic savepoint (None: no schedule, a
/// savepoint of the job is in flight, or the next one would be past the end of time).
pub fn periodic_due_at(
    d: &Deployment,
    job: &Job,
    savepoints: &[Savepoint],
) -> Option<DateTime<Utc>> {
    let interval = setting(
        d.spec.periodic_savepoint_interval.as_deref(),
        duration::PERIODIC_SAVEPOINT_INTERVAL,
    )?;
    let of_job = || {
        savepoints
            .iter()
            .filter(|s| s.metadata.job_id == Some(job.metadata.id))
    };
    if of_job().any(|s| s.status.state == SavepointState::Started) {
        return None;
    }
    let since = of_job()
        .map(|s| s.metadata.created_at)
        .max()
        .or_else(|| job.status.started.as_ref().map(|s| s.started_at))
        .unwrap_or(job.metadata.created_at);
    duration::after(since, interval)
}

/// Whether a periodic savepoint of `job` is due at `now`.
pub fn periodic_due(
    d: &Deployment,
    job: &Job,
    savepoints: &[Savepoint],
    now: DateTime<Utc>,
) -> bool {
    periodic_due_at(d, job, savepoints).is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        DeploymentSpec, JobSpec, JobState, JobStatusStarted, RestoreStrategyKind,
        SavepointRetention, SPEC_VERSION_ANNOTATION,
    };
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn deployment(
        count: Option<u32>,
        age: Option<&str>,
        strategy: RestoreStrategyKind,
    ) -> Deployment {
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "restoreStrategy": {"kind": strategy.as_str()},
            "periodicSavepointInterval": "30m",
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}
        }))
        .unwrap();
        let mut d = Deployment::new("default", "d", spec);
        d.spec.savepoint_retention = Some(SavepointRetention {
            max_count: count,
            max_age: age.map(str::to_string),
        });
        d
    }

    fn job(d: &Deployment, started_min: i64) -> Job {
        let spec = JobSpec {
            artifact: d.spec.template.spec.artifact.clone(),
            flink_configuration: Default::default(),
            parallelism: None,
            savepoint_location: None,
            savepoint_id: None,
            allow_non_restored_state: false,
            deployment_target_name: None,
        };
        let mut j = Job::new("default", d.metadata.id, "d", spec);
        j.status.state = JobState::Started;
        j.metadata.created_at = t0() + Duration::minutes(started_min);
        j.status.started = Some(JobStatusStarted {
            flink_job_id: "x".into(),
            started_at: t0() + Duration::minutes(started_min),
            observed_flink_job_status: None,
            last_update_time: None,
        });
        j
    }

    /// A savepoint `n` (its id is `n`), created at minute `min`.
    fn sp(
        d: &Deployment,
        n: u128,
        min: i64,
        origin: SavepointOrigin,
        state: SavepointState,
    ) -> Savepoint {
        let mut s = Savepoint::new(
            "default",
            d.metadata.id,
            origin,
            state,
            Some(format!("file:///sp/{n}")),
        );
        s.metadata.id = SavepointId(Uuid::from_u128(n));
        s.metadata.created_at = t0() + Duration::minutes(min);
        s.metadata
            .annotations
            .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
        s
    }

    fn ids(e: &[Expired]) -> Vec<u128> {
        e.iter().map(|x| x.savepoint_id.0.as_u128()).collect()
    }

    use RestoreStrategyKind::{LatestSavepoint, LatestState};
    use SavepointOrigin::*;
    use SavepointState::*;

    #[test]
    fn retention_table() {
        let now = t0() + Duration::minutes(1000);
        // (name, maxCount, maxAge, strategy, savepoints (id, minute, origin, state), expired ids)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Option<u32>,
            Option<&str>,
            RestoreStrategyKind,
            Vec<(u128, i64, SavepointOrigin, SavepointState)>,
            Vec<u128>,
        )> = vec![
            (
                "off without limits",
                None,
                None,
                LatestState,
                vec![
                    (1, 1, UserRequest, Completed),
                    (2, 2, UserRequest, Completed),
                ],
                vec![],
            ),
            (
                "count keeps the newest",
                Some(2),
                None,
                LatestState,
                vec![
                    (1, 1, UserRequest, Completed),
                    (2, 2, Suspend, Completed),
                    (3, 3, UserRequest, Completed),
                    (4, 4, RetainedCheckpoint, Completed),
                ],
                vec![2, 1],
            ),
            (
                "count never takes the restore candidate",
                Some(1),
                None,
                LatestSavepoint,
                // LATEST_SAVEPOINT picks 2 (3 and 4 are retained checkpoints); 4 is the newest kept by count
                vec![
                    (2, 2, UserRequest, Completed),
                    (3, 3, RetainedCheckpoint, Completed),
                    (4, 4, RetainedCheckpoint, Completed),
                ],
                vec![3],
            ),
            (
                "in-flight, failed and deleting ones are not touched",
                Some(1),
                None,
                LatestState,
                vec![
                    (1, 1, UserRequest, Failed),
                    (2, 2, UserRequest, PendingDeletion),
                    (3, 3, UserRequest, Completed),
                    (5, 5, UserRequest, Started),
                    (6, 6, UserRequest, FailedDeletion),
                ],
                vec![],
            ),
            (
                "copied ones are never expired nor counted",
                Some(1),
                None,
                LatestState,
                vec![
                    (1, 1, Copied, Completed),
                    (2, 2, UserRequest, Completed),
                    (3, 3, Copied, Completed),
                ],
                vec![],
            ),
            (
                "copied ones are never expired by age, others are",
                None,
                Some("1m"),
                LatestSavepoint,
                vec![
                    (1, 1, Copied, Completed),
                    (2, 2, UserRequest, Completed),
                    (3, 3, Copied, Completed),
                ],
                vec![2],
            ),
            (
                "age",
                None,
                Some("10h"),
                LatestState,
                vec![
                    (1, 100, UserRequest, Completed),
                    (2, 500, UserRequest, Completed),
                    (3, 900, UserRequest, Completed),
                ],
                vec![1],
            ),
            (
                "age never takes the restore candidate even when all are old",
                None,
                Some("1m"),
                LatestState,
                vec![(1, 1, UserRequest, Completed), (2, 2, Suspend, Completed)],
                vec![1],
            ),
            (
                "count and age together",
                Some(3),
                Some("10h"),
                LatestState,
                vec![
                    (1, 1, UserRequest, Completed),
                    (2, 600, UserRequest, Completed),
                    (3, 700, UserRequest, Completed),
                    (4, 800, UserRequest, Completed),
                    (5, 900, UserRequest, Completed),
                ],
                vec![2, 1],
            ),
            (
                "strategy NONE protects nothing but the rules still apply",
                Some(1),
                None,
                RestoreStrategyKind::None,
                vec![
                    (1, 1, UserRequest, Completed),
                    (2, 2, UserRequest, Completed),
                ],
                vec![1],
            ),
            (
                "unparseable age is ignored",
                None,
                Some("soon"),
                LatestState,
                vec![(1, 1, UserRequest, Completed)],
                vec![],
            ),
        ];
        for (name, count, age, strategy, sps, want) in cases {
            let d = deployment(count, age, strategy);
            let all: Vec<Savepoint> = sps
                .iter()
                .map(|(n, m, o, s)| sp(&d, *n, *m, *o, *s))
                .collect();
            let got = expired(&d, &all, None, now);
            assert_eq!(ids(&got), want, "{name}: {got:?}");
            let chosen = restore::select(&d, &all).savepoint_id;
            assert!(
                got.iter().all(|e| Some(e.savepoint_id) != chosen),
                "{name}: never the restore candidate"
            );
        }
    }

    #[test]
    fn retention_reasons_and_the_current_jobs_source() {
        let d = deployment(Some(1), None, LatestState);
        let all = vec![
            sp(&d, 1, 1, UserRequest, Completed),
            sp(&d, 2, 2, UserRequest, Completed),
            sp(&d, 3, 3, UserRequest, Completed),
        ];
        let mut j = job(&d, 0);
        j.spec.savepoint_id = Some(SavepointId(Uuid::from_u128(1)));
        let got = expired(&d, &all, Some(&j), t0());
        assert_eq!(ids(&got), vec![2], "the running job's source is kept");
        assert!(got[0].reason.contains("maxCount 1"), "{}", got[0].reason);
        let mut d = d;
        d.spec.savepoint_retention = Some(SavepointRetention {
            max_count: None,
            max_age: Some("1h".into()),
        });
        let got = expired(&d, &all, None, t0() + Duration::hours(5));
        assert!(
            got[0].reason.contains("maxAge 1h") && got[0].reason.contains("2026-01-01T00:0"),
            "{}",
            got[0].reason
        );
        // An out-of-bounds maxAge (only in rows older than the bounds) expires nothing; neither does
        // a savepoint whose expiry would be past the end of time.
        for age in ["0s", "9999999999d"] {
            d.spec.savepoint_retention = Some(SavepointRetention {
                max_count: None,
                max_age: Some(age.into()),
            });
            assert!(
                expired(&d, &all, None, t0() + Duration::hours(5)).is_empty(),
                "{age}"
            );
        }
        let mut late = all.clone();
        for s in &mut late {
            s.metadata.created_at = DateTime::<Utc>::MAX_UTC;
        }
        d.spec.savepoint_retention = Some(SavepointRetention {
            max_count: None,
            max_age: Some("1d".into()),
        });
        assert!(expired(&d, &late, None, DateTime::<Utc>::MAX_UTC).is_empty());
    }

    #[test]
    fn periodic_table() {
        // interval 30m; the job started at minute 0
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Option<&str>,
            Vec<(u128, i64, SavepointState, bool)>,
            i64,
            bool,
        )> = vec![
            ("before the first interval", Some("30m"), vec![], 29, false),
            (
                "first interval since the start",
                Some("30m"),
                vec![],
                30,
                true,
            ),
            (
                "newest of the job is recent",
                Some("30m"),
                vec![(1, 10, Completed, true), (2, 40, Completed, true)],
                60,
                false,
            ),
            (
                "newest of the job is old",
                Some("30m"),
                vec![(1, 10, Completed, true), (2, 40, Completed, true)],
                70,
                true,
            ),
            (
                "another job's newer savepoint does not count",
                Some("30m"),
                vec![(1, 10, Completed, true), (2, 65, Completed, false)],
                70,
                true,
            ),
            (
                "a failed one waits a whole interval",
                Some("30m"),
                vec![(1, 50, Failed, true)],
                70,
                false,
            ),
            (
                "in flight: skipped",
                Some("30m"),
                vec![(1, 10, Started, true)],
                200,
                false,
            ),
            ("no schedule", None, vec![], 1000, false),
            // Rows written before the bounds existed: an interval out of bounds is no schedule (never
            // back to back, never an overflow).
            (
                "0ms is off",
                Some("0ms"),
                vec![(1, 10, Completed, true)],
                1000,
                false,
            ),
            (
                "a huge interval is off",
                Some("9999999999d"),
                vec![],
                1000,
                false,
            ),
        ];
        for (name, interval, sps, at, want) in cases {
            let mut d = deployment(None, None, LatestState);
            d.spec.periodic_savepoint_interval = interval.map(str::to_string);
            let j = job(&d, 0);
            let all: Vec<Savepoint> = sps
                .iter()
                .map(|(n, m, s, of_job)| {
                    let mut x = sp(&d, *n, *m, UserRequest, *s);
                    x.metadata.job_id = of_job
                        .then_some(j.metadata.id)
                        .or(Some(crate::JobId::new()));
                    x
                })
                .collect();
            assert_eq!(
                periodic_due(&d, &j, &all, t0() + Duration::minutes(at)),
                want,
                "{name}"
            );
        }
    }
}
