//! What every benchmark needs: the real `stateplane` binary as a process, an HTTP client, statistics,
//! and the result line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

/// One figure of the run: printed as `<ID> <name> key=value ...` and written to results.md.
pub struct Measure {
    pub id: &'static str,
    pub name: &'static str,
    pub values: Vec<(String, String)>,
    /// What the figure is compared with.
    pub baseline: String,
    /// The goal, and whether it was met.
    pub goal: String,
    pub met: bool,
}

impl Measure {
    pub fn line(&self) -> String {
        let kv: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{} {} {}", self.id, self.name, kv.join(" "))
    }
}

/// A `stateplane server` process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub ready_after: Duration,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts the binary on a free port with `data_dir` (a fresh temp dir when None) and `extra` args,
    /// and waits for /healthz.
    pub fn start(bin: &Path, data_dir: Option<&Path>, extra: &[&str]) -> anyhow::Result<Server> {
        let tmp = match data_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let data: PathBuf = data_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| tmp.as_ref().unwrap().path().join("data"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let child = Command::new(bin)
            .args(["server", "--listen", &addr, "--data-dir"])
            .arg(&data)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("BENCH_SERVER_LOG_FILE") {
                Some(f) => Stdio::from(std::fs::File::create(f)?),
                None => Stdio::null(),
            })
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let base = format!("http://{addr}");
        // /healthz answers once the store is open.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = probe::http_ok(&format!("{base}/healthz")) {
                if r {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("{base}/healthz never answered");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let ready_after = started.elapsed();
        Ok(Server {
            child,
            base,
            ready_after,
            _dir: tmp,
        })
    }

    pub fn api(&self) -> String {
        format!("{}/api/v1/namespaces/default", self.base)
    }

    pub fn rss_mb(&self) -> f64 {
        rss_mb(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking GET that only says whether it answered 200 (std only, for readiness checks).
mod probe {
    pub fn http_ok(url: &str) -> std::io::Result<bool> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf)?;
        Ok(buf.ends_with(b"200"))
    }
}

/// Resident set size of a process in MiB (from /proc).
pub fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

pub fn median(xs: &[f64]) -> f64 {
    percentile(xs, 0.5)
}

pub fn percentile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn f2(x: f64) -> String {
    format!("{x:.2}")
}

/// JSON over HTTP with a status check.
#[derive(Clone)]
pub struct Http(pub reqwest::Client);

impl Http {
    pub fn new() -> Self {
        Http(
            reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_default(),
        )
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut r = self.0.request(method.clone(), url);
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {url}: {status} {v}");
        }
        Ok(v)
    }

    pub async fn get(&self, url: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, url, None).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    pub async fn patch(&self, url: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PATCH, url, Some(body)).await
    }

    /// Polls `url` every `period` until `f` holds (at most `timeout`).
    pub async fn poll(
        &self,
        url: &str,
        period: Duration,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.get(url).await?;
            if f(&v) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("{url}: condition not met within {timeout:?}: {v}");
            }
            tokio::time::sleep(period).await;
        }
    }
}

/// A deployment body of the example job.
/// A deployment of the example job; `main_args` after the rate (e.g. `--state-kib 16384`).
pub fn deployment(
    name: &str,
    jar: &Path,
    savepoint_dir: &Path,
    state: &str,
    main_args: &str,
) -> Value {
    serde_json::json!({"metadata": {"name": name}, "spec": {
        "state": state,
        "deploymentTargetName": "default",
        "restoreStrategy": {"kind": "LATEST_SAVEPOINT"},
        "template": {"spec": {
            "artifact": {"kind": "JAR", "jarUri": format!("file://{}", jar.display()),
                         "entryClass": "io.stateplane.examples.StatefulCounter", "mainArgs": format!("20 --tag {name} {main_args}").trim_end()},
            "parallelism": 1,
            "flinkConfiguration": {
                "execution.checkpointing.savepoint-dir": format!("file://{}", savepoint_dir.display()),
                // Snapshots go to files, not through the JobManager's memory (which caps them at 5 MiB).
                "execution.checkpointing.dir": format!("file://{}-checkpoints", savepoint_dir.display())
            }
        }}
    }})
}
