//! A whole stateplane (store + API + controller) in the test process, against the shared real Flink
//! cluster of this test binary (or the one of a given Flink version, plus more targets on clusters
//! of other versions). Each test makes its own harness (own SQLite file, own port, own savepoint and
//! checkpoint directories) and its own deployments.
//!
//! Waits poll for a positive signal (`stateplane_testkit::wait`); "the controller looked at it and did
//! nothing" is [`Harness::wait_looked_at`], which sees a reconcile pass in the controller's own
//! tracing events (`stateplane_testkit::logs`) rather than sleeping and hoping one ran.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stateplane_api::{ApiConfig, AppState};
use stateplane_controller::{Controller, ControllerConfig};
use stateplane_flink::{FlinkClient, FlinkJobId};
use stateplane_store::{SqliteStore, Store};
use stateplane_testkit::flink::TestCluster;
use stateplane_testkit::logs;
use stateplane_testkit::wait::until_async;
use tokio_util::sync::CancellationToken;

pub mod upgrade;

pub struct Harness {
    pub base: String,
    pub http: reqwest::Client,
    pub flink: FlinkClient,
    pub dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub cancel: CancellationToken,
    controller: Option<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<()>,
    pub jar: PathBuf,
}

pub const NS: &str = "default";

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(None).await
    }

    /// A server (API + controller) with an optional blob storage base URI.
    pub async fn start_with(blob: Option<String>) -> Harness {
        Self::start_inner(stateplane_testkit::flink::shared_cluster(), blob, true).await
    }

    /// A server whose target "default" is this binary's cluster of Flink `version`; the controller
    /// runs only when `controller` (else start it with [`Harness::start_controller`]).
    pub async fn start_on(version: &str, controller: bool) -> Harness {
        let cluster = stateplane_testkit::flink::shared_cluster_of(version);
        Self::start_inner(cluster, None, controller).await
    }

    async fn start_inner(
        cluster: &'static TestCluster,
        blob: Option<String>,
        controller: bool,
    ) -> Harness {
        logs::capture();
        let dir = stateplane_testkit::temp_dir();
        let data_dir = dir.path().join("data");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&data_dir).await.expect("open store"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let previewer = stateplane_controller::UpgradePreviewer::new(
            store.clone(),
            ControllerConfig {
                blob_storage_uri: blob.clone(),
                ..Default::default()
            },
        );
        let state = AppState::new(
            store.clone(),
            ApiConfig {
                blob_storage_uri: blob.clone(),
            },
        )
        .with_upgrade_preview(Arc::new(move |d| {
            let p = previewer.clone();
            Box::pin(async move { p.preview(d).await })
        }));
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let server = tokio::spawn(async move {
            let _ =
                stateplane_api::serve(listener, state, async move { c2.cancelled().await }).await;
        });
        let mut h = Harness {
            base,
            http: reqwest::Client::new(),
            flink: FlinkClient::new(cluster.rest_url()).unwrap(),
            dir,
            data_dir,
            store,
            cancel,
            controller: None,
            server,
            jar: cluster.example_jar(),
        };
        if controller {
            h.start_controller(blob);
        }
        let (s, b) = h
            .post(
                "deployment-targets",
                json!({"metadata": {"name": "default"}, "spec": {"flinkSessionCluster": {"restUrl": cluster.rest_url()}}}),
            )
            .await;
        assert!(s.is_success(), "{s} {b}");
        h
    }

    /// Creates deployment target `name` on this binary's cluster of Flink `version` (started on first
    /// use) and returns that cluster.
    pub async fn add_target(&self, name: &str, version: &str) -> &'static TestCluster {
        let cluster = stateplane_testkit::flink::shared_cluster_of(version);
        let (s, b) = self
            .post(
                "deployment-targets",
                json!({"metadata": {"name": name}, "spec": {"flinkSessionCluster": {"restUrl": cluster.rest_url()}}}),
            )
            .await;
        assert!(s.is_success(), "{s} {b}");
        cluster
    }

    pub fn start_controller(&mut self, blob: Option<String>) {
        let cfg = ControllerConfig {
            blob_storage_uri: blob,
            ..Default::default()
        };
        let controller = Controller::new(self.store.clone(), cfg, self.cancel.child_token());
        self.controller = Some(tokio::spawn(controller.run()));
    }

    /// Kills the controller task where it stands (no graceful stop), as a crash would, and returns
    /// once it is gone (an aborted task stops at its next await point, not at once).
    pub async fn kill_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
            let _ = c.await;
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/namespaces/{NS}/{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (reqwest::StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        let r = self
            .http
            .patch(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// A deployment of the example job with its own savepoint and checkpoint directories.
    pub async fn create_deployment(&self, name: &str, extra_spec: Value) -> Value {
        let sp = self.path(&format!("{name}-savepoints"));
        let ck = self.path(&format!("{name}-checkpoints"));
        let mut spec = json!({
            "state": "RUNNING",
            "upgradeStrategy": {"kind": "STATEFUL"},
            "restoreStrategy": {"kind": "LATEST_STATE"},
            "deploymentTargetName": "default",
            "template": {"spec": {
                "artifact": {"kind": "JAR", "jarUri": format!("file://{}", self.jar.display()),
                             "entryClass": "io.stateplane.examples.StatefulCounter", "mainArgs": format!("20 --tag {name}")},
                "parallelism": 1,
                "flinkConfiguration": {
                    "execution.checkpointing.savepoint-dir": format!("file://{}", sp.display()),
                    "execution.checkpointing.dir": format!("file://{}", ck.display()),
                    "execution.checkpointing.interval": "1s",
                    "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"
                }
            }}
        });
        stateplane_model::merge::merge_patch(&mut spec, &extra_spec);
        let (s, b) = self
            .post(
                "deployments",
                json!({"metadata": {"name": name}, "spec": spec}),
            )
            .await;
        assert!(s.is_success(), "create deployment: {s} {b}");
        b
    }

    pub async fn deployment(&self, name: &str) -> Value {
        let (s, b) = self.get(&format!("deployments/{name}")).await;
        assert!(s.is_success(), "{s} {b}");
        b
    }

    /// Waits until the deployment's status.state is `state`; panics with its events otherwise.
    pub async fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Value {
        self.wait_for(name, &format!("status.state {state}"), timeout, |d| {
            d["status"]["state"] == state
        })
        .await
    }

    /// Waits until `f` holds for the deployment; panics with its status and events otherwise.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        until_async(&format!("deployment {name}: {what}"), timeout, || async {
            let d = self.deployment(name).await;
            if f(&d) {
                Ok(d)
            } else {
                Err(format!(
                    "{}\nevents:\n{}",
                    d["status"],
                    self.events(name).await.join("\n")
                ))
            }
        })
        .await
    }

    /// Waits until the deployment is RUNNING a job other than `previous` (`what` names the wait);
    /// returns that job's id.
    pub async fn wait_new_job(
        &self,
        name: &str,
        what: &str,
        previous: &str,
        timeout: Duration,
    ) -> String {
        let d = self
            .wait_for(name, what, timeout, |d| {
                d["status"]["state"] == "RUNNING" && d["status"]["running"]["jobId"] != previous
            })
            .await;
        d["status"]["running"]["jobId"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The deployment's id.
    pub async fn id_of(&self, name: &str) -> String {
        let d = self.deployment(name).await;
        d["metadata"]["id"].as_str().unwrap_or_default().to_string()
    }

    /// Wakes the controller for the deployment with a write that changes nothing it acts on (a label).
    pub async fn nudge(&self, name: &str) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed).to_string();
        let (s, b) = self
            .patch(
                &format!("deployments/{name}"),
                json!({"metadata": {"labels": {"stateplane-test-nudge": n}}}),
            )
            .await;
        assert!(s.is_success(), "nudge {name}: {s} {b}");
    }

    /// Waits until a reconcile pass of the deployment that began after this call has planned, and
    /// returns the action it planned (Debug form: `Steady`, `Wait { reason: .. }`, `StartJob { .. }`).
    ///
    /// This is the positive signal behind every "nothing happened" check: the controller read the
    /// world as it is now and decided. Passes are seen in the controller's tracing events, and a
    /// nudge makes sure one comes. The first pass planned after the first nudge may have been under
    /// way (reading the world) before the call; the pass that answers the second nudge planned after
    /// that one, so it began after it and read the world after the call.
    pub async fn wait_looked_at(&self, name: &str) -> String {
        let id = self.id_of(name).await;
        let first = logs::mark();
        self.nudge(name).await;
        self.wait_pass(name, &id, first).await;
        let second = logs::mark();
        self.nudge(name).await;
        // The pass's decision: what it planned once it had looked (Observe) and done the
        // housekeeping of snapshots taken before (SummarizeSavepoint).
        let r = logs::wait_for(
            &format!("a decision of a reconcile pass of deployment {name}"),
            T,
            second,
            |r| {
                let action = r.field("action").unwrap_or_default();
                logs::is_pass_of(r, &id)
                    && !action.starts_with("Observe")
                    && !action.starts_with("SummarizeSavepoint")
            },
        )
        .await;
        r.field("action").unwrap_or_default().to_string()
    }

    /// Waits for a pass of deployment `id` planned after `mark`.
    async fn wait_pass(&self, name: &str, id: &str, mark: u64) -> String {
        let r = logs::wait_for(
            &format!("a reconcile pass of deployment {name}"),
            T,
            mark,
            |r| logs::is_pass_of(r, id),
        )
        .await;
        r.field("action").unwrap_or_default().to_string()
    }

    /// Waits until `n` reconcile passes of the deployment planned after `mark` (a [`logs::mark`]
    /// taken after the change under test) an action for which `f` holds; returns their actions.
    pub async fn wait_planned(
        &self,
        name: &str,
        what: &str,
        mark: u64,
        n: usize,
        f: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let id = self.id_of(name).await;
        until_async(
            &format!("deployment {name}: {n} passes that {what}"),
            T,
            || {
                let all = logs::planned(&id, mark);
                let matching: Vec<String> = all.iter().filter(|a| f(a.as_str())).cloned().collect();
                async move {
                    if matching.len() >= n {
                        Ok(matching)
                    } else {
                        Err(format!("planned since: {all:?}"))
                    }
                }
            },
        )
        .await
    }

    /// Waits until the deployment has an event with this code (events may follow the state change
    /// they explain by a moment); returns all its events, one line each, code first.
    pub async fn wait_event(&self, name: &str, code: &str) -> String {
        until_async(&format!("deployment {name}: a {code} event"), T, || async {
            let events = self.events(name).await.join("\n");
            if events.lines().any(|e| e.starts_with(code)) {
                Ok(events)
            } else {
                Err(events)
            }
        })
        .await
    }

    pub async fn events(&self, name: &str) -> Vec<String> {
        let d = self.get(&format!("deployments/{name}")).await.1;
        let id = d["metadata"]["id"].as_str().unwrap_or_default().to_string();
        let (_, b) = self.get(&format!("events?deploymentId={id}")).await;
        b["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["metadata"]["name"].as_str().unwrap_or(""),
                            e["spec"]["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn savepoints(&self, deployment_id: &str) -> Vec<Value> {
        let (s, b) = self
            .get(&format!("savepoints?deploymentId={deployment_id}"))
            .await;
        assert!(s.is_success(), "{s} {b}");
        b["items"].as_array().cloned().unwrap_or_default()
    }

    pub async fn wait_savepoint(&self, id: &str, states: &[&str], timeout: Duration) -> Value {
        until_async(
            &format!("savepoint {id} in {states:?}"),
            timeout,
            || async {
                let (s, b) = self.get(&format!("savepoints/{id}")).await;
                assert!(s.is_success(), "{s} {b}");
                if states.iter().any(|st| b["status"]["state"] == *st) {
                    Ok(b)
                } else {
                    Err(b.to_string())
                }
            },
        )
        .await
    }

    pub async fn job(&self, id: &str) -> Value {
        let (s, b) = self.get(&format!("jobs/{id}")).await;
        assert!(s.is_success(), "{s} {b}");
        b
    }

    /// Flink's own view: the path the running job of this deployment restored from (None = no state).
    /// Polls past Flink's 3 s statistics cache.
    pub async fn flink_restored_path(&self, job_id: &str) -> Option<String> {
        restored_path_on(&self.flink, job_id).await
    }

    /// Asserts Flink's own view: the job restored from `location` (`what` says which snapshot that
    /// is, for the failure message).
    pub async fn assert_restored_from(&self, job_id: &str, location: &str, what: &str) {
        let restored = self
            .flink_restored_path(job_id)
            .await
            .unwrap_or_else(|| panic!("job {job_id} restored nothing; expected {what}"));
        assert!(
            same_location(&restored, location),
            "job {job_id} restored {restored}, expected {what}: {location}"
        );
    }

    /// Waits until Flink reports a completed checkpoint for the job.
    pub async fn wait_checkpoint(&self, job_id: &str) {
        wait_checkpoint_on(&self.flink, job_id).await
    }
}

/// [`Harness::flink_restored_path`] on the cluster `flink` talks to.
///
/// # Panics
/// When Flink's statistics stay inconclusive (no restore recorded and no checkpoint completed yet):
/// "restored nothing" is only an answer once the job has checkpointed.
pub async fn restored_path_on(flink: &FlinkClient, job_id: &str) -> Option<String> {
    let flink_id = FlinkJobId::parse(&job_id.replace('-', "")).unwrap();
    until_async(
        &format!("Flink to say what job {job_id} restored from"),
        Duration::from_secs(30),
        || async {
            match flink.checkpoints(&flink_id).await {
                Ok(stats) => match (&stats.latest_restored, &stats.latest_completed) {
                    (Some(r), _) => Ok(r.external_path.clone()),
                    // No restore recorded: only conclusive once a checkpoint completed in this job.
                    (None, Some(_)) => Ok(None),
                    (None, None) => Err(format!("no restore and no checkpoint yet: {stats:?}")),
                },
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
}

/// [`Harness::wait_checkpoint`] on the cluster `flink` talks to.
pub async fn wait_checkpoint_on(flink: &FlinkClient, job_id: &str) {
    wait_checkpoint_after(flink, job_id, 0).await;
}

/// Waits until Flink reports a completed checkpoint of the job acknowledged after `after_ms` (ms since
/// the epoch); returns its acknowledgement time.
pub async fn wait_checkpoint_after(flink: &FlinkClient, job_id: &str, after_ms: i64) -> i64 {
    let flink_id = FlinkJobId::parse(&job_id.replace('-', "")).unwrap();
    until_async(
        &format!("a checkpoint of job {job_id} completed after {after_ms}"),
        Duration::from_secs(30),
        || async {
            let stats = flink
                .checkpoints(&flink_id)
                .await
                .map_err(|e| e.to_string())?;
            match stats
                .latest_completed
                .as_ref()
                .and_then(|c| c.latest_ack_timestamp_ms)
            {
                Some(at) if at > after_ms => Ok(at),
                _ => Err(format!("{:?}", stats.latest_completed)),
            }
        },
    )
    .await
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.server.abort();
        if let Some(c) = self.controller.take() {
            c.abort();
        }
    }
}

/// Compares two snapshot locations in one spelling.
pub fn same_location(a: &str, b: &str) -> bool {
    stateplane_model::normalize_location(a) == stateplane_model::normalize_location(b)
}

pub fn has_metadata(location: &str) -> bool {
    stateplane_model::local_path(location)
        .is_some_and(|p: PathBuf| Path::new(&p).join("_metadata").is_file())
}

pub const T: Duration = Duration::from_secs(60);

/// Whether a planned action (Debug form, from [`logs::planned`]) leaves the job and the deployment's
/// course alone: looking, steady, conditions, or reading a completed savepoint's `_metadata` (the
/// summary of a snapshot taken before, written whenever its pass comes).
pub fn leaves_the_job_alone(action: &str) -> bool {
    action == "Steady"
        || action.starts_with("Observe")
        || action.starts_with("SetConditions")
        || action.starts_with("SummarizeSavepoint")
}
