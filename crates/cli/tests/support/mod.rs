//! The real binary as a process on a data dir and a real Flink, killed or crashed and restarted by the
//! reliability tests, and a small JSON client with polling.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;
use stateplane_testkit::wait::{until, until_async};

pub struct Server {
    pub child: Child,
    /// `http://addr/api/v1/namespaces/default`
    pub base: String,
}

impl Server {
    pub fn start(data: &Path, flink: &str) -> Server {
        Self::start_with(data, flink, &[])
    }

    pub fn start_with(data: &Path, flink: &str, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stateplane"));
        cmd.args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--flink-rest-url",
            flink,
            "--data-dir",
        ])
        .arg(data)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let stateplane_testkit::process::Spawned { child, addr, .. } =
            stateplane_testkit::process::spawn_server(&mut cmd, Duration::from_secs(30));
        Server {
            child,
            base: format!("http://{addr}/api/v1/namespaces/default"),
        }
    }

    /// SIGKILL: no destructor, no graceful shutdown, nothing flushed that was not already durable.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to end by itself (a crash point); panics if it does not within `timeout`.
    pub fn wait_crash(mut self, timeout: Duration, what: &str) {
        let status = until(&format!("{what}: the crash point"), timeout, || match self
            .child
            .try_wait()
        {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err("still running".into()),
            Err(e) => Err(e.to_string()),
        });
        assert!(
            !status.success(),
            "{what}: the server exited normally instead of crashing"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Api {
    pub http: reqwest::Client,
}

impl Api {
    pub fn new() -> Self {
        Api {
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(&self, m: reqwest::Method, url: String, body: Option<Value>) -> Value {
        let mut r = self.http.request(m, url);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{status} {v}");
        v
    }

    pub async fn get(&self, url: String) -> Value {
        self.call(reqwest::Method::GET, url, None).await
    }

    pub async fn post(&self, url: String, body: Value) -> Value {
        self.call(reqwest::Method::POST, url, Some(body)).await
    }

    pub async fn patch(&self, url: String, body: Value) -> Value {
        self.call(reqwest::Method::PATCH, url, Some(body)).await
    }

    /// One crash round: a server on `data` that dies at the crash point `point` once the deployment
    /// `name` is given `patch`, then a server started again on the same data (returned).
    pub async fn patch_until_crash(
        &self,
        (data, flink): (&Path, &str),
        point: &str,
        name: &str,
        patch: Value,
        timeout: Duration,
    ) -> Server {
        let s = Server::start_with(data, flink, &[("STATEPLANE_CRASH_AT", point)]);
        self.patch(format!("{}/deployments/{name}", s.base), patch)
            .await;
        s.wait_crash(timeout, point);
        Server::start(data, flink)
    }

    /// Waits until the JSON at `url` satisfies `f` (a server that does not answer yet, e.g. one just
    /// restarted, counts as "not yet").
    pub async fn wait(&self, url: String, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        until_async(what, Duration::from_secs(60), || async {
            let r = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v = r.json::<Value>().await.map_err(|e| e.to_string())?;
            if f(&v) {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        })
        .await
    }
}

pub fn origin_count(sps: &Value, origin: &str) -> usize {
    sps["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metadata"]["origin"] == origin)
        .count()
}

/// The Flink job ids (32 hex digits: a Job's id without dashes) of the jobs in `jobs`, a Job list
/// answer.
pub fn flink_job_ids(jobs: &Value) -> Vec<String> {
    jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["metadata"]["id"].as_str().unwrap().replace('-', ""))
        .collect()
}

/// The ids (32 hex digits) of the jobs in `jobs` (a Job list answer) that Flink does not report
/// terminal: after a crash, exactly the deployment's running job must be among them.
pub async fn live_in_flink(flink: &stateplane_flink::FlinkClient, jobs: &Value) -> Vec<String> {
    let ids = flink_job_ids(jobs);
    flink
        .jobs_overview()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| ids.contains(&j.id.as_str().to_string()) && !j.state.is_globally_terminal())
        .map(|j| j.id.as_str().to_string())
        .collect()
}
