//! A real server for tests: SQLite in a temp dir, the API on an ephemeral port, a reqwest client.
#![allow(dead_code)]

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stateplane_api::{ApiConfig, AppState};
use stateplane_model::{
    Deployment, DeploymentId, DeploymentState, DeploymentStatusRunning, Job, JobSpec,
    SPEC_VERSION_ANNOTATION,
};
use stateplane_store::{SqliteStore, Store};

pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// The same store, for closing it under the server's feet.
    pub sqlite: SqliteStore,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A response: status, content type and body (JSON-decoded when it is JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// Asserts an error body `{code, message, field?}` with this status and code; returns it.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.json["code"], code, "{}", self.text);
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
        &self.json
    }

    #[track_caller]
    pub fn field(&self) -> &str {
        self.json["field"]
            .as_str()
            .unwrap_or_else(|| panic!("no field in {}", self.text))
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        &self.json
    }
}

pub async fn start() -> Server {
    start_with(ApiConfig::default()).await
}

pub async fn start_with(config: ApiConfig) -> Server {
    stateplane_testkit::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // As `stateplane server` runs on SQLite: with the response cache, so every test also checks that
    // reads see the writes before them.
    let state = AppState::new(store.clone(), config).with_response_cache();
    tokio::spawn(async move {
        stateplane_api::serve(listener, state, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        sqlite,
        _dir: dir,
        _stop: tx,
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional raw body and headers.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            content_type,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw(Method::GET, path, &[], None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.raw(Method::DELETE, path, &[], None).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Resp {
        self.raw(
            method,
            path,
            &[("content-type", "application/json")],
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send_json(Method::PATCH, path, body).await
    }

    pub async fn post_yaml(&self, path: &str, yaml: &str) -> Resp {
        self.raw(
            Method::POST,
            path,
            &[("content-type", "application/yaml")],
            Some(yaml.as_bytes().to_vec()),
        )
        .await
    }

    /// Creates a deployment `name` in `ns` with a minimal spec plus `extra_spec` merged in.
    pub async fn create_deployment(&self, ns: &str, name: &str, extra_spec: Value) -> Value {
        let mut spec = minimal_spec();
        stateplane_model::merge::merge_patch(&mut spec, &extra_spec);
        let r = self
            .post(
                &format!("/api/v1/namespaces/{ns}/deployments"),
                &json!({"metadata": {"name": name}, "spec": spec}),
            )
            .await;
        r.ok(201).clone()
    }

    /// Makes the deployment look RUNNING with a job (as the controller would), returning the job.
    pub async fn make_running(
        &self,
        ns: &str,
        id: DeploymentId,
        job_spec_version: Option<&str>,
    ) -> Job {
        let d: Deployment = self.store.deployment_get(ns, id).await.unwrap();
        let spec: JobSpec = serde_json::from_value(json!({
            "artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}
        }))
        .unwrap();
        let mut job = Job::new(ns, id, &d.metadata.name, spec);
        if let Some(v) = job_spec_version {
            job.metadata
                .annotations
                .insert(SPEC_VERSION_ANNOTATION.into(), v.into());
        }
        self.store.job_create(&job).await.unwrap();
        let mut d = d;
        d.status.state = DeploymentState::Running;
        d.status.running = Some(DeploymentStatusRunning {
            job_id: job.metadata.id,
            transition_time: stateplane_model::now(),
            conditions: vec![],
        });
        self.store.deployment_update(&d).await.unwrap();
        job
    }
}

pub fn minimal_spec() -> Value {
    json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}})
}

pub fn id_of(v: &Value) -> String {
    v["metadata"]["id"].as_str().unwrap().to_string()
}

/// Sends a GET of `path` in the background and returns once the server has started serving it (its
/// HTTP layer logged the request; a long-poll subscribes to changes right after, before its first
/// read). The handle yields the status and the JSON body.
pub async fn get_in_flight(s: &Server, path: &str) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let mark = stateplane_testkit::logs::mark();
    let req = s.client.get(s.url(path));
    let poll = tokio::spawn(async move {
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    });
    stateplane_testkit::logs::wait_for(
        &format!("the server to start serving GET {path}"),
        std::time::Duration::from_secs(10),
        mark,
        |r| {
            r.message == "started processing request"
                && r.span_field("request", "uri").is_some_and(|u| u == path)
        },
    )
    .await;
    poll
}
