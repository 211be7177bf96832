//! The request budget of one Flink cluster: how many questions may be in flight at once, and how
//! many polling questions per second may reach its JobManager, whoever asks.
//!
//! Why: every deployment on a session cluster talks to the same JobManager, whose REST server answers
//! with a handful of threads (`rest.server.numThreads`, 4 by default) on the same JVM that coordinates
//! checkpoints. Twenty deployments each waiting for a savepoint must not turn into thousands of
//! requests per second that slow down the very savepoints they wait for. A [`Budget`] belongs to a
//! [`crate::FlinkClient`] and is shared by its clones, so one client per REST URL (as the controller
//! keeps) means one budget per cluster:
//!
//! - **in flight**: at most [`BudgetConfig::max_in_flight`] GET requests at once; more would only queue
//!   in the JobManager. Actions (submit, trigger, stop, cancel, upload) are not held back by questions.
//! - **polls**: [`crate::FlinkClient::poll_permit`] hands out at most
//!   [`BudgetConfig::polls_per_second`] permits per second (after a burst of
//!   [`BudgetConfig::poll_burst`]), first come first served. A caller that asks again because it
//!   waits for an operation takes one first; the first question of a reconcile pass does not, so a
//!   steady controller's periodic look at each job is never throttled behind a crowd of pollers.
//!
//! The poll limiter is GCRA (a token bucket written as one "theoretical arrival time"): a dozen lines,
//! fair in arrival order, and exact under `tokio::time::pause`, which a rate-limiting crate built on
//! its own clock would not be. Every request is also counted ([`crate::FlinkClient::requests_sent`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The limits of one cluster's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    /// GET requests in flight at once (Flink's REST server has 4 threads by default).
    pub max_in_flight: usize,
    /// Polling questions per second, sustained.
    pub polls_per_second: u32,
    /// Polling questions that may go at once after a quiet while.
    pub poll_burst: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 4,
            polls_per_second: 50,
            poll_burst: 20,
        }
    }
}

/// One cluster's budget (see the module docs).
#[derive(Debug)]
pub struct Budget {
    config: BudgetConfig,
    in_flight: Semaphore,
    /// GCRA state: when the next permit would be due if permits were handed out evenly.
    tat: Mutex<Option<Instant>>,
    requests: AtomicU64,
}

impl Budget {
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            config,
            in_flight: Semaphore::new(config.max_in_flight.max(1)),
            tat: Mutex::new(None),
            requests: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> BudgetConfig {
        self.config
    }

    /// The interval between two permits at the sustained rate.
    fn interval(&self) -> Duration {
        Duration::from_secs(1) / self.config.polls_per_second.max(1)
    }

    /// When the caller's poll may go, reserving that slot: now while the burst lasts, then one
    /// interval after the previous caller's.
    pub(crate) fn reserve_poll(&self, now: Instant) -> Instant {
        let interval = self.interval();
        let tolerance = interval * self.config.poll_burst.saturating_sub(1);
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        let due = tat.map_or(now, |t| t.max(now));
        let at = due
            .checked_sub(tolerance)
            .map_or(now, |earliest| earliest.max(now));
        *tat = Some(due + interval);
        at
    }

    /// Waits for a poll permit.
    pub(crate) async fn poll(&self) {
        let at = self.reserve_poll(Instant::now());
        tokio::time::sleep_until(at).await;
    }

    /// Holds one of the in-flight slots for a question (None if the semaphore was closed, which
    /// never happens: the budget never closes it).
    pub(crate) async fn question(&self) -> Option<SemaphorePermit<'_>> {
        self.in_flight.acquire().await.ok()
    }

    pub(crate) fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u64 {
        d.as_millis() as u64
    }

    #[test]
    fn polls_go_at_once_during_the_burst_then_at_the_sustained_rate() {
        let b = Budget::new(BudgetConfig {
            max_in_flight: 4,
            polls_per_second: 100,
            poll_burst: 3,
        });
        let t0 = Instant::now();
        let slots: Vec<u64> = (0..6)
            .map(|_| ms(b.reserve_poll(t0).duration_since(t0)))
            .collect();
        // Three at once, then one every 10 ms.
        assert_eq!(slots, vec![0, 0, 0, 10, 20, 30]);
    }

    #[test]
    fn a_quiet_while_refills_the_burst() {
        let b = Budget::new(BudgetConfig {
            max_in_flight: 4,
            polls_per_second: 100,
            poll_burst: 2,
        });
        let t0 = Instant::now();
        for _ in 0..4 {
            b.reserve_poll(t0);
        }
        // The reservations ran 30 ms ahead; 100 ms later the bucket is full again.
        let later = t0 + Duration::from_millis(100);
        let slots: Vec<u64> = (0..3)
            .map(|_| ms(b.reserve_poll(later).duration_since(later)))
            .collect();
        assert_eq!(slots, vec![0, 0, 10]);
    }

    #[test]
    fn polls_spaced_wider_than_the_interval_are_never_delayed() {
        let b = Budget::new(BudgetConfig {
            max_in_flight: 4,
            polls_per_second: 100,
            poll_burst: 1,
        });
        let t0 = Instant::now();
        for i in 0..10 {
            let now = t0 + Duration::from_millis(10 * i);
            assert_eq!(b.reserve_poll(now), now, "poll {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn many_pollers_share_the_rate() {
        let b = std::sync::Arc::new(Budget::new(BudgetConfig {
            max_in_flight: 4,
            polls_per_second: 50,
            poll_burst: 5,
        }));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    b.poll().await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // 100 polls at 50/s after a burst of 5: 95 intervals of 20 ms.
        assert_eq!(ms(start.elapsed()), 95 * 20);
    }
}
