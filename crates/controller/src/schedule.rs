//! The one polling schedule: when the controller asks Flink again about an operation of its own that
//! Flink is working on (a savepoint, a stop, a job finishing, a start, a cancel).
//!
//! A shared JobManager serves many deployments, and a question it answers costs it CPU next to the
//! savepoint it is taking. So the schedule asks little before the operation can be done, closely
//! around when it should be done, and less and less when it takes longer than usual. The rules:
//!
//! 1. **Learn.** Per deployment and [`Operation`], the durations of its last [`HISTORY`] operations:
//!    seeded from the deployment's COMPLETED savepoint rows (a request's `createdAt` to its completion,
//!    `modifiedAt`, an upper bound; USER_REQUEST rows are savepoints, SUSPEND and SUSPEND_AND_UPGRADE
//!    rows stops), then every operation the worker sees end, timed to the midpoint between the last
//!    answer "under way" and the first "done" (so the schedule's own lateness is not learned as the
//!    operation's). The operation's age is measured from its row (the savepoint's `createdAt`, the
//!    job's), so a controller restarted mid-operation keeps the same schedule.
//! 2. **First question** at [`FIRST_AT`] × the fastest learned duration after the operation began;
//!    without history, after [`FIRST_WITHOUT_HISTORY`].
//! 3. **Around the expected end**, until twice the median learned duration: every median /
//!    [`TIGHT_DIVISOR`], between [`MIN_PERIOD`] and [`MAX_TIGHT_PERIOD`].
//! 4. **Longer than usual** (or without history, after the first question): every quarter of the time
//!    the operation has taken so far, at least [`MIN_PERIOD`], at most [`MAX_PERIOD`]; the answer
//!    comes at most 25 % later than it could have, with a few questions per doubling of the time.
//! 5. **Flink's own work** ([`Operation::Flink`]: a job restarting, Flink not answering): every
//!    [`MAX_PERIOD`].
//! 6. **Jitter**: each wait is stretched or shrunk by up to [`JITTER`], so deployments that started
//!    together do not ask in lockstep.
//! 7. **Budget**: each question asked on this schedule first takes a permit of the cluster's budget
//!    (`stateplane_flink::budget`: polls per second and questions in flight per REST URL, shared by
//!    every deployment on the cluster), which stretches the schedule when many deployments wait at once.
//!
//! A wait of [`HAND_BACK_AFTER`] or more is spent by the worker, between whole passes; a shorter one
//! inside the pass, which then asks only the one question (e.g. the savepoint's status, not the job's
//! too). Either way a change to the deployment (a nudge) ends the wait at once.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use stateplane_model::plan::Operation;
use stateplane_model::{Savepoint, SavepointOrigin, SavepointState};

/// Durations remembered per operation.
pub(crate) const HISTORY: usize = 8;
/// The first question, as a fraction of the fastest learned duration.
pub(crate) const FIRST_AT: f64 = 0.9;
/// The first question of an operation of a kind never timed for this deployment.
pub(crate) const FIRST_WITHOUT_HISTORY: Duration = Duration::from_millis(10);
/// Around the expected end, the median duration is divided by this for the period.
pub(crate) const TIGHT_DIVISOR: u32 = 32;
/// The shortest period between two questions.
pub(crate) const MIN_PERIOD: Duration = Duration::from_millis(2);
/// The longest period around the expected end.
pub(crate) const MAX_TIGHT_PERIOD: Duration = Duration::from_millis(100);
/// The longest period of all.
pub(crate) const MAX_PERIOD: Duration = Duration::from_secs(1);
/// How much each wait is stretched or shrunk at most (a fraction).
pub(crate) const JITTER: f64 = 0.15;
/// Waits this long or longer are spent between passes.
pub(crate) const HAND_BACK_AFTER: Duration = Duration::from_secs(1);

/// What is known about one kind of operation of one deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Expected {
    pub fastest: Duration,
    pub median: Duration,
}

/// Learned durations of one deployment's operations.
#[derive(Debug, Default)]
pub(crate) struct History {
    durations: HashMap<Operation, VecDeque<Duration>>,
    seeded: bool,
}

impl History {
    /// Learns from the deployment's completed savepoints, once per worker.
    pub fn seed(&mut self, savepoints: &[Savepoint]) {
        if std::mem::replace(&mut self.seeded, true) {
            return;
        }
        let mut done: Vec<&Savepoint> = savepoints
            .iter()
            .filter(|s| s.status.state == SavepointState::Completed)
            .collect();
        done.sort_by_key(|s| s.metadata.created_at);
        for s in done {
            let operation = match s.metadata.origin {
                SavepointOrigin::UserRequest => Operation::Savepoint,
                SavepointOrigin::Suspend | SavepointOrigin::SuspendAndUpgrade => Operation::Stop,
                _ => continue,
            };
            if let Ok(d) = (s.metadata.modified_at - s.metadata.created_at).to_std() {
                // A row changed long after its completion tells nothing about the savepoint.
                if d < Duration::from_secs(600) {
                    self.record(operation, d);
                }
            }
        }
    }

    /// Remembers that an operation took `took`.
    pub fn record(&mut self, operation: Operation, took: Duration) {
        if operation == Operation::Flink {
            return;
        }
        let q = self.durations.entry(operation).or_default();
        if q.len() == HISTORY {
            q.pop_front();
        }
        q.push_back(took);
    }

    /// The fastest and median of the remembered durations, if any.
    pub fn expected(&self, operation: Operation) -> Option<Expected> {
        let q = self.durations.get(&operation).filter(|q| !q.is_empty())?;
        let mut sorted: Vec<Duration> = q.iter().copied().collect();
        sorted.sort();
        Some(Expected {
            fastest: sorted[0],
            median: sorted[sorted.len() / 2],
        })
    }
}

/// How long to wait from now before the next question about an operation that has run for
/// `elapsed`; `jitter` is uniform in [0, 1) (0.5: no jitter).
pub(crate) fn next_question(
    operation: Operation,
    expected: Option<Expected>,
    elapsed: Duration,
    jitter: f64,
) -> Duration {
    let base = if operation == Operation::Flink {
        MAX_PERIOD
    } else {
        match expected {
            Some(e) => {
                let first = e.fastest.mul_f64(FIRST_AT);
                let tight = (e.median / TIGHT_DIVISOR).clamp(MIN_PERIOD, MAX_TIGHT_PERIOD);
                if elapsed < first {
                    first - elapsed
                } else if elapsed < e.median * 2 {
                    tight
                } else {
                    (elapsed / 4).clamp(tight, MAX_PERIOD)
                }
            }
            None if elapsed < FIRST_WITHOUT_HISTORY => FIRST_WITHOUT_HISTORY - elapsed,
            None => (elapsed / 4).clamp(MIN_PERIOD, MAX_PERIOD),
        }
    };
    let factor = 1.0 + JITTER * (2.0 * jitter.clamp(0.0, 1.0) - 1.0);
    base.mul_f64(factor)
}

/// A uniform draw in [0, 1) for [`next_question`].
pub(crate) fn jitter() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_JITTER: f64 = 0.5;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn expected(fastest: u64, median: u64) -> Option<Expected> {
        Some(Expected {
            fastest: ms(fastest),
            median: ms(median),
        })
    }

    #[test]
    fn the_rules_as_a_table() {
        // (operation, expected, elapsed ms, wait ms)
        let rows: &[(Operation, Option<Expected>, u64, f64)] = &[
            // 2: the first question at 0.9 × the fastest learned duration.
            (Operation::Savepoint, expected(80, 96), 0, 72.0),
            (Operation::Savepoint, expected(80, 96), 50, 22.0),
            // 3: around the expected end, median / 32 (3 ms), until twice the median.
            (Operation::Savepoint, expected(80, 96), 72, 3.0),
            (Operation::Savepoint, expected(80, 96), 191, 3.0),
            // 4: then a quarter of the time taken so far.
            (Operation::Savepoint, expected(80, 96), 400, 100.0),
            (Operation::Savepoint, expected(80, 96), 60_000, 1000.0),
            // The tight period is at least 2 ms and at most 100 ms.
            (Operation::Start, expected(10, 20), 12, 2.0),
            (Operation::Stop, expected(9_000, 10_000), 9_500, 100.0),
            // Rule 4 never asks more often than around the expected end.
            (Operation::Stop, expected(9_000, 10_000), 20_001, 1000.0),
            // Without history: first after 10 ms, then a quarter of the age.
            (Operation::Start, None, 0, 10.0),
            (Operation::Start, None, 4, 6.0),
            (Operation::Start, None, 10, 2.5),
            (Operation::Start, None, 200, 50.0),
            (Operation::Cancel, None, 8_000, 1000.0),
            // 5: Flink's own work, every second, whatever is known.
            (Operation::Flink, expected(80, 96), 0, 1000.0),
        ];
        for (op, e, elapsed, want) in rows {
            let got = next_question(*op, *e, ms(*elapsed), NO_JITTER);
            assert!(
                (got.as_secs_f64() * 1000.0 - want).abs() < 0.01,
                "{op} {e:?} after {elapsed} ms: waited {got:?}, rule says {want} ms"
            );
        }
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let e = expected(80, 96);
        let low = next_question(Operation::Savepoint, e, ms(100), 0.0);
        let high = next_question(Operation::Savepoint, e, ms(100), 0.999_999);
        assert!(
            (low.as_secs_f64() - 0.003 * (1.0 - JITTER)).abs() < 1e-6,
            "{low:?}"
        );
        assert!(
            (high.as_secs_f64() - 0.003 * (1.0 + JITTER)).abs() < 1e-6,
            "{high:?}"
        );
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }

    #[test]
    fn a_savepoint_of_the_usual_length_is_asked_about_a_few_times_only() {
        // A deployment whose savepoints take 85-95 ms; this one takes 92 ms.
        let mut h = History::default();
        for d in [85, 90, 95, 88] {
            h.record(Operation::Savepoint, ms(d));
        }
        let e = h.expected(Operation::Savepoint);
        let (mut t, mut questions) = (Duration::ZERO, 0);
        while t < ms(92) {
            t += next_question(Operation::Savepoint, e, t, NO_JITTER);
            questions += 1;
        }
        // 10 ms polling from the start would ask 10 times.
        assert!(questions <= 7, "{questions} questions");
        assert!(t - ms(92) <= ms(3), "answer {:?} late", t - ms(92));
    }

    #[test]
    fn history_keeps_the_last_durations_and_ignores_flinks_own_work() {
        let mut h = History::default();
        assert_eq!(h.expected(Operation::Stop), None);
        for d in 1..=20 {
            h.record(Operation::Stop, ms(d * 10));
        }
        h.record(Operation::Flink, ms(1));
        assert_eq!(h.expected(Operation::Flink), None);
        // The last eight: 130..=200 ms.
        assert_eq!(h.expected(Operation::Stop), expected(130, 170));
    }

    #[test]
    fn history_is_seeded_from_completed_savepoint_rows_by_origin() {
        use stateplane_model::DeploymentId;
        let dep = DeploymentId::new();
        let row = |origin, state, took_ms: i64| {
            let mut s = Savepoint::new("default", dep, origin, state, None);
            s.metadata.modified_at =
                s.metadata.created_at + chrono::Duration::milliseconds(took_ms);
            s
        };
        let rows = vec![
            row(SavepointOrigin::UserRequest, SavepointState::Completed, 90),
            row(SavepointOrigin::UserRequest, SavepointState::Completed, 110),
            row(SavepointOrigin::UserRequest, SavepointState::Failed, 5),
            row(SavepointOrigin::Suspend, SavepointState::Completed, 200),
            row(
                SavepointOrigin::RetainedCheckpoint,
                SavepointState::Completed,
                7,
            ),
            // Changed an hour after it was requested: not a duration.
            row(
                SavepointOrigin::UserRequest,
                SavepointState::Completed,
                3_600_000,
            ),
        ];
        let mut h = History::default();
        h.seed(&rows);
        assert_eq!(h.expected(Operation::Savepoint), expected(90, 110));
        assert_eq!(h.expected(Operation::Stop), expected(200, 200));
        // Seeding happens once per worker.
        h.seed(&rows);
        assert_eq!(h.expected(Operation::Stop), expected(200, 200));
    }
}
