//! The dispatcher and the per-deployment workers.
//!
//! The dispatcher subscribes to the store's change feed *before* listing deployments, so no write can
//! fall between the two; it starts one worker per deployment and nudges it on every change that
//! concerns it. A lagging subscription or a change of deployment targets nudges every worker. Workers
//! end when their deployment is gone (the dispatcher reaps them), and all of them when the
//! controller is cancelled or its `run` future is dropped: never two workers of one deployment.
//!
//! A worker runs passes (`crate::pass`) one after another and sleeps between them as the pass says:
//! until the schedule's next question (`crate::schedule`), a planned back-off, the resync interval
//! while a job runs; it retires when there is nothing to watch. A conflict is planned again at once;
//! any other failed pass after a back-off of 200 ms per consecutive failure, at most 5 s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use stateplane_model::{Deployment, DeploymentId};
use stateplane_store::{ResourceKind, Store};
use tokio::sync::{broadcast::error::RecvError, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use crate::pass::{Memory, Outcome};
use crate::shared::{ControllerConfig, Shared};

/// How often the dispatcher re-lists deployments in case a change notification was missed.
const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// The controller. `run` until the token is cancelled.
pub struct Controller {
    shared: Arc<Shared>,
}

struct Worker {
    wake: Arc<Wake>,
    handle: JoinHandle<()>,
}

impl Worker {
    fn alive(&self) -> bool {
        !self.handle.is_finished() && *self.wake.alive.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How the dispatcher wakes a worker, and how an idle worker retires without losing a wake-up: both
/// sides decide under one lock, so a nudge either reaches a worker that will plan again or finds it
/// retired (and the dispatcher starts a new one). Never two workers for one deployment.
struct Wake {
    notify: Notify,
    alive: std::sync::Mutex<bool>,
}

impl Wake {
    /// Wakes the worker; false when it has retired.
    fn nudge(&self) -> bool {
        let alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        if *alive {
            self.notify.notify_one();
        }
        *alive
    }

    /// Retires the worker unless a nudge is waiting; true when it retired.
    fn try_retire(&self) -> bool {
        use futures::FutureExt;
        let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        if self.notify.notified().now_or_never().is_some() {
            return false;
        }
        *alive = false;
        true
    }
}

impl Controller {
    pub fn new(store: Arc<dyn Store>, config: ControllerConfig, cancel: CancellationToken) -> Self {
        Self {
            // The workers' own token: cancelled with the caller's, and when `run` is dropped.
            shared: Arc::new(Shared::new(store, config, cancel.child_token())),
        }
    }

    /// Runs until the cancellation token given to [`Controller::new`] is cancelled.
    pub async fn run(self) {
        let shared = self.shared;
        // Workers never outlive this future: dropped (an aborted task, as in a crash), it stops them.
        let _workers_end_with_it = shared.cancel.clone().drop_guard();
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
                        // A retired (or missing) worker gets a successor.
                        (Some(id), _) if !workers.get(&id).is_some_and(|w| w.wake.nudge()) => {
                            spawn_worker(&shared, &mut workers, c.namespace.clone(), id);
                        }
                        (None, ResourceKind::DeploymentTarget) => {
                            resync(&shared, &mut workers).await;
                            workers.values().for_each(|w| {
                                w.wake.nudge();
                            });
                        }
                        _ => {}
                    },
                    Err(RecvError::Lagged(n)) => {
                        debug!(missed = n, "change feed lagged; re-reading every deployment");
                        resync(&shared, &mut workers).await;
                        workers.values().for_each(|w| {
                            w.wake.nudge();
                        });
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

/// Whether a deployment needs no attention until something about it changes: it is where it was asked
/// to be with no job to watch, or the controller gave up on it. Such deployments get no worker (an idle
/// worker costs memory: thousands of them add up); any change to one starts its worker again.
fn settled(d: &Deployment) -> bool {
    use stateplane_model::{DeploymentState as S, DesiredState as D};
    match (d.spec.state, d.status.state) {
        (D::Cancelled, S::Cancelled) | (D::Suspended, S::Suspended) => d.status.failure.is_none(),
        (D::Running, S::Failed | S::Finished) => d.transition().gave_up,
        _ => false,
    }
}

async fn resync(shared: &Arc<Shared>, workers: &mut HashMap<DeploymentId, Worker>) {
    workers.retain(|_, w| w.alive());
    match shared.store.deployment_list(None).await {
        Ok(all) => {
            for d in all {
                if !settled(&d) && !workers.contains_key(&d.metadata.id) {
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
    let wake = Arc::new(Wake {
        notify: Notify::new(),
        alive: std::sync::Mutex::new(true),
    });
    let span = tracing::info_span!("deployment", namespace = %namespace, deployment = %id);
    let handle = tokio::spawn(work(shared.clone(), namespace, id, wake.clone()).instrument(span));
    workers.insert(id, Worker { wake, handle });
}

/// One deployment's loop: a pass, then sleep until nudged or until the outcome's wait is over.
async fn work(shared: Arc<Shared>, namespace: String, id: DeploymentId, wake: Arc<Wake>) {
    let mut memory = Memory {
        history: shared.take_history(id),
        ..Memory::default()
    };
    let mut errors = 0u32;
    loop {
        let started = std::time::Instant::now();
        let outcome = crate::pass::run(&shared, &namespace, id, &mut memory, &wake.notify).await;
        crate::metrics::pass(started.elapsed().as_secs_f64());
        if shared.cancel.is_cancelled() {
            return;
        }
        let wait = match outcome {
            Ok(Outcome::Gone) => return,
            Ok(Outcome::Again) => {
                errors = 0;
                continue;
            }
            Ok(Outcome::Sleep { until }) => {
                errors = 0;
                until.saturating_duration_since(std::time::Instant::now())
            }
            Ok(Outcome::Steady { job_running: false }) => {
                // Nothing to watch: retire (the dispatcher starts a worker again when the deployment,
                // one of its savepoints or jobs, or a deployment target changes) unless nudged meanwhile.
                if wake.try_retire() {
                    shared.keep_history(id, std::mem::take(&mut memory.history));
                    return;
                }
                continue;
            }
            Ok(Outcome::Steady { job_running: true }) => {
                errors = 0;
                shared.config.resync_interval
            }
            Err(e) if e.is_conflict() => {
                debug!(error = %e, "a row changed under the pass; planning again");
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => {
                errors += 1;
                let w = Duration::from_millis(200 * u64::from(errors.min(25)));
                warn!(error = %e, retry_in = ?w, "reconcile pass failed");
                w
            }
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = wake.notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
