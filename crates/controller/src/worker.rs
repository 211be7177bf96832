//! The dispatcher and the per-deployment workers.
//!
//! The dispatcher subscribes to the store's change feed *before* listing deployments, so no write can
//! fall between the two; it starts one worker per deployment and nudges it on every change that
//! concerns it. A lagging subscription or a change of deployment targets nudges every worker. Workers
//! end when their deployment is gone; the dispatcher reaps them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stateplane_model::DeploymentId;
use stateplane_store::{ResourceKind, Store, StoreError};
use tokio::sync::{broadcast::error::RecvError, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use crate::execute::Outcome;
use crate::{ControllerConfig, Shared};

/// While Flink works on something of ours, poll every 5 ms for the first 1.5 s (Flink takes a savepoint
/// in ~100 ms; a doubling period would add half of that again), then back off by half each time up to
/// 1 s for long operations.
const FAST_POLL_MIN: Duration = Duration::from_millis(5);
const FAST_POLL_FOR: Duration = Duration::from_millis(1500);
const FAST_POLL_MAX: Duration = Duration::from_secs(1);
/// How often the dispatcher re-lists deployments in case a change notification was missed.
const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// The controller. `run` until the token is cancelled.
pub struct Controller {
    shared: Arc<Shared>,
}

struct Worker {
    nudge: Arc<Notify>,
    handle: JoinHandle<()>,
}

impl Controller {
    pub fn new(store: Arc<dyn Store>, config: ControllerConfig, cancel: CancellationToken) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            shared: Arc::new(Shared {
                store,
                config,
                clients: Mutex::new(HashMap::new()),
                http,
                cancel,
            }),
        }
    }

    /// Runs until the cancellation token given to [`Controller::new`] is cancelled.
    pub async fn run(self) {
        let shared = self.shared;
        let mut changes = shared.store.changes();
        let mut workers: HashMap<DeploymentId, Worker> = HashMap::new();
        let target_observer = tokio::spawn(crate::targets::run(shared.clone()));
        resync(&shared, &mut workers).await;
        info!(deployments = workers.len(), "controller started");
        let mut tick = tokio::time::interval(RESYNC_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shared.cancel.cancelled() => break,
                change = changes.recv() => match change {
                    Ok(c) => match (c.deployment_id, c.kind) {
                        (Some(id), _) => {
                            if !workers.contains_key(&id) && c.kind == ResourceKind::Deployment {
                                spawn_worker(&shared, &mut workers, c.namespace.clone(), id);
                            }
                            if let Some(w) = workers.get(&id) {
                                w.nudge.notify_one();
                            }
                        }
                        (None, ResourceKind::DeploymentTarget) => workers.values().for_each(|w| w.nudge.notify_one()),
                        _ => {}
                    },
                    Err(RecvError::Lagged(n)) => {
                        debug!(missed = n, "change feed lagged; re-reading every deployment");
                        resync(&shared, &mut workers).await;
                        workers.values().for_each(|w| w.nudge.notify_one());
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => resync(&shared, &mut workers).await,
            }
        }
        for (_, w) in workers {
            let _ = w.handle.await;
        }
        target_observer.abort();
        let _ = target_observer.await;
        info!("controller stopped");
    }
}

async fn resync(shared: &Arc<Shared>, workers: &mut HashMap<DeploymentId, Worker>) {
    workers.retain(|_, w| !w.handle.is_finished());
    match shared.store.deployment_list(None).await {
        Ok(all) => {
            for d in all {
                if !workers.contains_key(&d.metadata.id) {
                    spawn_worker(shared, workers, d.metadata.namespace.clone(), d.metadata.id);
                }
            }
        }
        Err(e) => warn!(error = %e, "cannot list deployments"),
    }
}

fn spawn_worker(
    shared: &Arc<Shared>,
    workers: &mut HashMap<DeploymentId, Worker>,
    namespace: String,
    id: DeploymentId,
) {
    let nudge = Arc::new(Notify::new());
    let span = tracing::info_span!("deployment", namespace = %namespace, deployment = %id);
    let handle = tokio::spawn(work(shared.clone(), namespace, id, nudge.clone()).instrument(span));
    workers.insert(id, Worker { nudge, handle });
}

/// One deployment's loop: reconcile, then sleep until nudged or until the outcome's wait is over.
async fn work(shared: Arc<Shared>, namespace: String, id: DeploymentId, nudge: Arc<Notify>) {
    let mut fast = FAST_POLL_MIN;
    let mut waiting_since: Option<std::time::Instant> = None;
    let mut errors = 0u32;
    loop {
        let started = std::time::Instant::now();
        let outcome = crate::execute::reconcile_once(&shared, &namespace, id).await;
        crate::metrics::pass(started.elapsed().as_secs_f64());
        let wait = match outcome {
            Ok(Outcome::Gone) => return,
            Ok(Outcome::Progressed) => {
                fast = FAST_POLL_MIN;
                waiting_since = None;
                errors = 0;
                if shared.cancel.is_cancelled() {
                    return;
                }
                continue;
            }
            Ok(Outcome::Waiting) => {
                let since = *waiting_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > FAST_POLL_FOR {
                    fast = (fast * 3 / 2).min(FAST_POLL_MAX);
                }
                fast
            }
            Ok(Outcome::Until(at)) => (at - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(60)),
            Ok(Outcome::Steady { job_running }) => {
                fast = FAST_POLL_MIN;
                waiting_since = None;
                errors = 0;
                if job_running {
                    shared.config.resync_interval
                } else {
                    Duration::from_secs(300)
                }
            }
            Err(e) => {
                errors += 1;
                let w = Duration::from_millis(200 * u64::from(errors.min(25)));
                match e {
                    crate::execute::ReconcileError::Store(StoreError::Conflict { .. }) => {
                        debug!(error = %e, "concurrent change; reconciling again")
                    }
                    _ => warn!(error = %e, retry_in = ?w, "reconcile pass failed"),
                }
                w
            }
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = nudge.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
