//! What the workers of one controller share: the store, the settings, one Flink client per REST URL
//! (so one request budget per cluster), an HTTP client for artifacts, the cancellation token, the
//! savepoints this process has triggered, and the learned durations of retired workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stateplane_model::plan::conditions::CHECKPOINT_STATS_MAX_AGE;
use stateplane_model::plan::CheckpointsView;

use stateplane_flink::{BudgetConfig, FlinkClient, FlinkError};
use stateplane_store::Store;
use tokio_util::sync::CancellationToken;

/// Settings of the controller.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Universal Blob Storage base URI: savepoint and checkpoint directories are derived from it for
    /// deployments that do not set their own.
    pub blob_storage_uri: Option<String>,
    /// How often a running job is checked in Flink when nothing else wakes its worker.
    pub resync_interval: Duration,
    /// Per-call timeout of Flink REST requests.
    pub flink_timeout: Duration,
    /// The request budget of each Flink cluster (REST URL), shared by all deployments on it.
    pub flink_budget: BudgetConfig,
    /// Opens secret values for `${NAME}` references at job submission (the server's key); `None`:
    /// a job that refers to one is refused at submission, saying so.
    pub secrets: Option<Arc<stateplane_secrets::SecretCipher>>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            blob_storage_uri: None,
            resync_interval: Duration::from_secs(3),
            flink_timeout: Duration::from_secs(10),
            flink_budget: BudgetConfig::default(),
            secrets: None,
        }
    }
}

/// What workers share.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub config: ControllerConfig,
    pub clients: Mutex<HashMap<String, FlinkClient>>,
    pub http: reqwest::Client,
    pub cancel: CancellationToken,
    /// Savepoints whose trigger (or stop) this process has sent and Flink accepted: they are asked
    /// about, not triggered again. Lost on a restart, which only costs a repeated trigger (the same
    /// operation in Flink).
    pub triggered: Mutex<std::collections::HashSet<stateplane_model::SavepointId>>,
    /// The latest checkpoint statistics asked of Flink per job, and when: the conditions' question
    /// is answered from here while younger than `CHECKPOINT_STATS_MAX_AGE`, so a steady job costs its
    /// cluster one such request per that period, whatever the pass rate.
    pub checkpoint_stats: Mutex<HashMap<stateplane_model::JobId, (Instant, CheckpointsView)>>,
    /// What retired workers learned about their deployment's operations: a suspended deployment's
    /// worker retires, and the one that resumes it would otherwise start without knowing how long its
    /// jobs take to start (and poll by the schedule's slowest rule). Bounded by [`HISTORIES_KEPT`].
    histories: Mutex<HashMap<stateplane_model::DeploymentId, crate::schedule::History>>,
}

/// Learned durations kept for this many retired workers at most (a few hundred bytes each).
const HISTORIES_KEPT: usize = 10_000;

impl Shared {
    pub fn new(store: Arc<dyn Store>, config: ControllerConfig, cancel: CancellationToken) -> Self {
        // Artifact downloads (jars from http(s)) get a minute; Flink requests have their own timeout.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            store,
            config,
            clients: Mutex::new(HashMap::new()),
            http,
            cancel,
            triggered: Mutex::default(),
            checkpoint_stats: Mutex::default(),
            histories: Mutex::default(),
        }
    }

    /// Keeps what a retiring worker learned, for the deployment's next worker.
    pub fn keep_history(
        &self,
        id: stateplane_model::DeploymentId,
        history: crate::schedule::History,
    ) {
        let mut all = self.histories.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= HISTORIES_KEPT {
            // Bounded: a forgotten history is learned again (seeded from the savepoint rows).
            all.clear();
        }
        all.insert(id, history);
    }

    /// What the deployment's previous worker learned, if it was kept.
    pub fn take_history(&self, id: stateplane_model::DeploymentId) -> crate::schedule::History {
        let mut all = self.histories.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(&id).unwrap_or_default()
    }

    pub fn triggered(&self, id: stateplane_model::SavepointId) -> bool {
        self.triggered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }

    pub fn mark_triggered(&self, id: stateplane_model::SavepointId) {
        let mut set = self.triggered.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: old entries only save a status request after they are dropped.
        if set.len() > 10_000 {
            set.clear();
        }
        set.insert(id);
    }

    /// Checkpoint statistics of `job` asked at most `CHECKPOINT_STATS_MAX_AGE` ago.
    pub fn cached_checkpoints(&self, job: stateplane_model::JobId) -> Option<CheckpointsView> {
        let cache = self
            .checkpoint_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .get(&job)
            .filter(|(at, _)| at.elapsed() < CHECKPOINT_STATS_MAX_AGE)
            .map(|(_, v)| v.clone())
    }

    pub fn cache_checkpoints(&self, job: stateplane_model::JobId, view: CheckpointsView) {
        let mut cache = self
            .checkpoint_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Bounded: entries of jobs that ended are dropped once they are stale.
        if cache.len() > 1_000 {
            cache.retain(|_, (at, _)| at.elapsed() < CHECKPOINT_STATS_MAX_AGE);
        }
        cache.insert(job, (Instant::now(), view));
    }

    /// A Flink client for a REST URL (one per URL, reused).
    pub fn flink(&self, rest_url: &str) -> Result<FlinkClient, FlinkError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(rest_url) {
            return Ok(c.clone());
        }
        let c = FlinkClient::new(rest_url)?
            .with_timeout(self.config.flink_timeout)
            .with_budget(self.config.flink_budget);
        clients.insert(rest_url.to_string(), c.clone());
        Ok(c)
    }
}
