//! The controller: makes Flink match what deployments and savepoints ask for.
//!
//! It is the only writer of *what happened* (deployment status, jobs, events, savepoint completion);
//! the API only records *what should happen*. Each deployment has its own worker task, woken by the
//! store's change feed the moment the API writes (so an API change is acted on within milliseconds),
//! and by its own timer: a short adaptive period (5 ms doubling to 1 s) while Flink works on something
//! of ours (every 5 ms for the first 1.5 s, then backing off to 1 s), a few seconds while a job runs,
//! nothing while idle. One deployment's slow Flink call never
//! blocks another's.
//!
//! Every pass is level-triggered: observe (store + Flink) → `stateplane_model::plan::plan` (pure) →
//! execute one action. Every side effect is preceded by a committed row naming it (see `execute`), so a
//! controller killed at any line resumes the same work after a restart: it re-polls savepoints by their
//! trigger id, adopts jobs Flink already runs under the id it chose, and never starts a second job.

mod artifacts;
mod cas;
mod crash;
mod execute;
pub mod metrics;
mod observe;
mod retained;
mod targets;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stateplane_flink::{FlinkClient, FlinkError};
use stateplane_store::Store;
use tokio_util::sync::CancellationToken;

pub use worker::Controller;

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
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            blob_storage_uri: None,
            resync_interval: Duration::from_secs(3),
            flink_timeout: Duration::from_secs(10),
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
    /// Savepoints this process has triggered in Flink (so they are polled, not triggered again).
    pub triggered: Mutex<std::collections::HashSet<stateplane_model::SavepointId>>,
}

impl Shared {
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

    /// A Flink client for a REST URL (one per URL, reused).
    pub fn flink(&self, rest_url: &str) -> Result<FlinkClient, FlinkError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(rest_url) {
            return Ok(c.clone());
        }
        let c = FlinkClient::new(rest_url)?.with_timeout(self.config.flink_timeout);
        clients.insert(rest_url.to_string(), c.clone());
        Ok(c)
    }
}
