//! A whole stateplane (store + API + controller) in the test process, against the shared real Flink
//! cluster of this test binary (or the one of a given Flink version, plus more targets on clusters
//! of other versions). Each test makes its own harness (own SQLite file, own port, own savepoint and
//! checkpoint directories) and its own deployments.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stateplane_api::{ApiConfig, AppState};
use stateplane_controller::{Controller, ControllerConfig};
use stateplane_flink::{FlinkClient, FlinkJobId};
use stateplane_store::{SqliteStore, Store};
use stateplane_testkit::flink::TestCluster;
use tokio_util::sync::CancellationToken;

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
        let dir = stateplane_testkit::temp_dir();
        let data_dir = dir.path().join("data");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&data_dir).await.expect("open store"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(
            store.clone(),
            ApiConfig {
                blob_storage_uri: blob.clone(),
            },
        );
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

    /// Kills the controller task where it stands (no graceful stop), as a crash would.
    pub fn kill_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
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
        let deadline = Instant::now() + timeout;
        loop {
            let d = self.deployment(name).await;
            if d["status"]["state"] == state {
                return d;
            }
            if Instant::now() > deadline {
                let events = self.events(name).await;
                panic!(
                    "deployment {name} did not reach {state}: {}\nevents:\n{}",
                    d["status"],
                    events.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `f` holds for the deployment.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let d = self.deployment(name).await;
            if f(&d) {
                return d;
            }
            if Instant::now() > deadline {
                let events = self.events(name).await;
                panic!(
                    "deployment {name}: {what} did not happen: {}\nevents:\n{}",
                    d["status"],
                    events.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
        let deadline = Instant::now() + timeout;
        loop {
            let (s, b) = self.get(&format!("savepoints/{id}")).await;
            assert!(s.is_success(), "{s} {b}");
            if states.iter().any(|st| b["status"]["state"] == *st) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "savepoint {id} never reached {states:?}: {b}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

    /// Waits until Flink reports a completed checkpoint for the job.
    pub async fn wait_checkpoint(&self, job_id: &str) {
        wait_checkpoint_on(&self.flink, job_id).await
    }
}

/// [`Harness::flink_restored_path`] on the cluster `flink` talks to.
pub async fn restored_path_on(flink: &FlinkClient, job_id: &str) -> Option<String> {
    let flink_id = FlinkJobId::parse(&job_id.replace('-', "")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stats = flink.checkpoints(&flink_id).await;
        if let Ok(stats) = &stats {
            if let Some(r) = &stats.latest_restored {
                return r.external_path.clone();
            }
            // No restore recorded: only conclusive once a checkpoint completed in this job.
            if stats.latest_completed.is_some() {
                return None;
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`Harness::wait_checkpoint`] on the cluster `flink` talks to.
pub async fn wait_checkpoint_on(flink: &FlinkClient, job_id: &str) {
    let flink_id = FlinkJobId::parse(&job_id.replace('-', "")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = flink.checkpoints(&flink_id).await {
            if s.latest_completed.is_some() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint completed for job {job_id}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
