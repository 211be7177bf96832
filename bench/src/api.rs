//! P3 (API throughput against a bare axum handler serving the same bytes), P4 (latency and memory at
//! scale) and P6 (footprint), all against the real `stateplane` binary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use stateplane_model::DeploymentSpec;

use crate::common::*;
use crate::Ctx;

fn spec() -> DeploymentSpec {
    serde_json::from_value(serde_json::json!({
        "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}
    }))
    .expect("a valid spec")
}

/// Creates a store in `dir` and seeds it (the store must be closed while seeding).
async fn seeded(dir: &Path, deployments: usize, savepoints: usize) -> anyhow::Result<Vec<String>> {
    let store = stateplane_store::SqliteStore::open(dir).await?;
    store.close().await;
    let all = stateplane_store::sqlite::seed::seed(
        &dir.join("stateplane.db"),
        "default",
        &spec(),
        deployments,
        savepoints,
        false,
    )
    .await?;
    Ok(all.into_iter().map(|d| d.metadata.id.to_string()).collect())
}

/// The bench binary itself, serving fixed bytes on every GET: the baseline server.
pub struct Baseline {
    child: std::process::Child,
    pub base: String,
    pub ready_after: Duration,
}

impl Baseline {
    pub fn start(file: &Path) -> anyhow::Result<Baseline> {
        use std::io::{BufRead, BufReader};
        let t = Instant::now();
        let mut child = Command::new(std::env::current_exe()?)
            .args(["baseline-server", "--file"])
            .arg(file)
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let base = line.trim().to_string();
        let ready_after = t.elapsed();
        Ok(Baseline {
            child,
            base,
            ready_after,
        })
    }

    pub fn rss_mb(&self) -> f64 {
        rss_mb(self.child.id())
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `bytes` as JSON on every path until killed; prints its base URL on stdout first.
pub async fn baseline_server(file: &Path) -> anyhow::Result<()> {
    let bytes = bytes_of(file)?;
    let app = axum::Router::new().fallback(move || {
        let b = bytes.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], b) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn bytes_of(file: &Path) -> anyhow::Result<axum::body::Bytes> {
    Ok(axum::body::Bytes::from(std::fs::read(file)?))
}

/// Requests per second of `concurrency` clients GETting `url` for `duration`.
async fn load(url: &str, concurrency: usize, duration: Duration) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (c, u, d, f) = (
            client.clone(),
            url.to_string(),
            done.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                match c.get(&u).send().await {
                    Ok(r) if r.status().is_success() => {
                        if r.bytes().await.is_ok() {
                            d.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await?;
    }
    if failed.load(Ordering::Relaxed) > 0 {
        anyhow::bail!(
            "{} requests to {url} failed",
            failed.load(Ordering::Relaxed)
        );
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// P3: GET a list of 100 savepoints vs a bare axum handler returning the same bytes.
pub async fn api_throughput(ctx: &Ctx) -> anyhow::Result<Measure> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let ids = seeded(&data, 1, 100).await?;
    let server = Server::start(&ctx.stateplane, Some(&data), &[])?;
    let url = format!("{}/savepoints?deploymentId={}", server.api(), ids[0]);
    let body = reqwest::get(&url).await?.bytes().await?;
    let n = serde_json::from_slice::<serde_json::Value>(&body)?["items"]
        .as_array()
        .map_or(0, |a| a.len());
    anyhow::ensure!(n == 100, "expected 100 savepoints, got {n}");
    let file = dir.path().join("body.json");
    std::fs::write(&file, &body)?;
    let baseline = Baseline::start(&file)?;
    let (concurrency, secs) = (16, if ctx.quick { 3 } else { 10 });
    let d = Duration::from_secs(secs);
    // warm both, then measure each once
    load(&url, concurrency, Duration::from_millis(500)).await?;
    load(&baseline.base, concurrency, Duration::from_millis(500)).await?;
    let ours = load(&url, concurrency, d).await?;
    let base = load(&baseline.base, concurrency, d).await?;
    let ratio = ours / base;
    Ok(Measure {
        id: "P3",
        name: "api_throughput",
        values: vec![
            ("items".into(), n.to_string()),
            ("bytes".into(), body.len().to_string()),
            ("concurrency".into(), concurrency.to_string()),
            ("rps".into(), format!("{ours:.0}")),
            ("baseline_rps".into(), format!("{base:.0}")),
            ("ratio".into(), f2(ratio)),
        ],
        baseline: "a bare axum handler returning the same bytes, same load generator".into(),
        goal: "ratio ≥ 0.5".into(),
        met: ratio >= 0.5,
    })
}

async fn latencies(http: &Http, urls: &[String]) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(urls.len());
    for u in urls {
        let t = Instant::now();
        http.get(u).await?;
        out.push(ms(t.elapsed()));
    }
    Ok(out)
}

/// P4: restore-preview and list-by-deployment latency with many deployments and savepoints.
pub async fn scale(ctx: &Ctx) -> anyhow::Result<Measure> {
    let deployments = 10_000;
    let savepoints = if ctx.quick { 100_000 } else { 1_000_000 };
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let t = Instant::now();
    let ids = seeded(&data, deployments, savepoints).await?;
    let seed_s = t.elapsed().as_secs_f64();
    let server = Server::start(&ctx.stateplane, Some(&data), &[])?;
    // Let the controller's first pass over every deployment settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let http = Http::new();
    let api = server.api();
    let samples = if ctx.quick { 500 } else { 2_000 };
    let pick = |i: usize| &ids[(i * 7919) % ids.len()];
    let previews: Vec<String> = (0..samples)
        .map(|i| format!("{api}/deployments/{}/restore-preview", pick(i)))
        .collect();
    let lists: Vec<String> = (0..samples)
        .map(|i| format!("{api}/savepoints?deploymentId={}", pick(i)))
        .collect();
    latencies(&http, &previews[..50]).await?;
    let p = latencies(&http, &previews).await?;
    let l = latencies(&http, &lists).await?;
    let rss = server.rss_mb();
    let (pp99, lp99) = (percentile(&p, 0.99), percentile(&l, 0.99));
    Ok(Measure {
        id: "P4",
        name: "scale",
        values: vec![
            ("deployments".into(), deployments.to_string()),
            ("savepoints".into(), savepoints.to_string()),
            ("seed_s".into(), format!("{seed_s:.1}")),
            ("restore_preview_p50_ms".into(), f2(percentile(&p, 0.5))),
            ("restore_preview_p99_ms".into(), f2(pp99)),
            ("list_p50_ms".into(), f2(percentile(&l, 0.5))),
            ("list_p99_ms".into(), f2(lp99)),
            ("rss_mb".into(), format!("{rss:.1}")),
        ],
        baseline: format!(
            "absolute goals; {} savepoints per deployment on average",
            savepoints / deployments
        ),
        goal: "p99 < 5 ms, RSS < 100 MB".into(),
        met: pp99 < 5.0 && lp99 < 5.0 && rss < 100.0,
    })
}

/// P6: time from process start to /healthz and idle RSS, next to a bare axum process.
pub async fn footprint(ctx: &Ctx) -> anyhow::Result<Measure> {
    let server = Server::start(&ctx.stateplane, None, &[])?;
    let ready = ms(server.ready_after);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("b.json");
    std::fs::write(&file, b"{}")?;
    let baseline = Baseline::start(&file)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = server.rss_mb();
    let base_rss = baseline.rss_mb();
    Ok(Measure {
        id: "P6",
        name: "footprint",
        values: vec![
            ("start_to_healthz_ms".into(), f2(ready)),
            ("idle_rss_mb".into(), format!("{rss:.1}")),
            ("baseline_start_ms".into(), f2(ms(baseline.ready_after))),
            ("baseline_rss_mb".into(), format!("{base_rss:.1}")),
        ],
        baseline: "a bare axum process (start to listening, idle RSS)".into(),
        goal: "start < 1 s, idle RSS < 100 MB".into(),
        met: ready < 1000.0 && rss < 100.0,
    })
}
