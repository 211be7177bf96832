//! P9: the upgrade preview's cost does not grow with the state. The preview of a template change of a
//! running stateful job compares Flink's plan of the new template with the operator states of the
//! job's newest snapshot, read from its `_metadata` only (never the state files). Two deployments of
//! the example job run side by side on one Flink cluster (RocksDB state backend), one keeping 24 MiB
//! of keyed state and one ten times more; each takes one savepoint (the snapshot the preview reads: no periodic checkpoints
//! are configured), and the preview of the same change (a stateless operator added) is timed for
//! both, alternating. The figures: both medians, their ratio (goal ≤ 1.5: about the same), and the
//! sizes measured on disk of each snapshot and of its `_metadata`, so the run shows what was read.
//!
//! Each answer is checked: a comparison was made (a verdict) against the savepoint taken, else the
//! sample would not have read any `_metadata` and the measure is an error.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::common::*;
use crate::Ctx;

/// Keyed state of the small job (KiB), as in P1 and P2; the large one keeps [`LARGE_FACTOR`] times more.
const SMALL_KIB: u64 = 24576;
const LARGE_FACTOR: u64 = 10;
/// The goal: the large snapshot's preview takes at most this many times the small one's.
const GOAL_RATIO: f64 = 1.5;

/// Bytes of all files under `dir` (a savepoint directory is self-contained).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// One running deployment and the savepoint its previews read.
struct Subject {
    name: String,
    id: String,
    change: Value,
    /// `file://` location of the savepoint.
    location: String,
    state_bytes: u64,
    metadata_bytes: u64,
}

/// Starts `name` keeping `kib` KiB of state and takes savepoints until one holds it all (the job
/// writes its state with each key's first record, so the first one may come too early).
/// Its id goes to `ids` as soon as it exists, so that it is cancelled whatever happens next.
async fn subject(
    ctx: &Ctx,
    server: &Server,
    http: &Http,
    dir: &Path,
    (name, kib): (&str, u64),
    ids: &mut Vec<String>,
) -> anyhow::Result<Subject> {
    let api = server.api();
    let args = format!("--state-kib {kib}");
    let mut body = deployment(name, &ctx.jar, &dir.join(name), "RUNNING", &args);
    body["spec"]["upgradeStrategy"] = json!({"kind": "STATEFUL"});
    // On the TaskManager's heap, 240 MiB of state and the copies Flink makes to serialise its
    // 60 MiB values do not fit (the test cluster's TaskManager has 1200 MiB in all): RocksDB keeps
    // it off the heap. A canonical savepoint's `_metadata` does not depend on the state backend.
    body["spec"]["template"]["spec"]["flinkConfiguration"]["state.backend.type"] = json!("rocksdb");
    let d = http.post(&format!("{api}/deployments"), &body).await?;
    let id = d["metadata"]["id"].as_str().unwrap_or_default().to_string();
    ids.push(id.clone());
    http.poll(
        &format!("{api}/deployments/{id}"),
        Duration::from_millis(50),
        Duration::from_secs(180),
        |d| d["status"]["state"] == "RUNNING",
    )
    .await?;
    let want = kib * 1024 * 9 / 10;
    for _ in 0..10 {
        let sp = crate::flink::stateplane_savepoint(http, &api, &id)
            .await
            .with_context(|| format!("{name}: a savepoint"))?;
        let location = sp["spec"]["savepointLocation"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let path = stateplane_model::local_path(&location)
            .with_context(|| format!("{name}: savepoint {location} is not a local path"))?;
        let state_bytes = dir_bytes(&path);
        if state_bytes >= want {
            let metadata_bytes = std::fs::metadata(path.join("_metadata"))
                .with_context(|| format!("{location}/_metadata"))?
                .len();
            let change = json!({"spec": {"template": {"spec": {"artifact": {
                "mainArgs": format!("20 --tag {name} {args} --stateless-map")}}}}});
            return Ok(Subject {
                name: name.into(),
                id,
                change,
                location,
                state_bytes,
                metadata_bytes,
            });
        }
        // Not all of the state was written yet: this savepoint's data goes, the next one is taken.
        let _ = std::fs::remove_dir_all(&path);
    }
    bail!("{name}: no savepoint with {want} bytes of state")
}

/// One timed preview of `s`'s change, checked to have compared with `s`'s savepoint.
async fn preview(http: &Http, api: &str, s: &Subject) -> anyhow::Result<f64> {
    let url = format!("{api}/deployments/{}/upgrade-preview", s.id);
    let t = Instant::now();
    let p = http.post(&url, &s.change).await?;
    let took = ms(t.elapsed());
    let read = p["snapshot"].as_str().unwrap_or_default();
    let location = s.location.trim_start_matches("file://");
    if p["verdict"].is_null() || !read.contains(location) {
        bail!(
            "{}: the preview did not compare with savepoint {}: {p}",
            s.name,
            s.location
        );
    }
    Ok(took)
}

async fn cancel(http: &Http, api: &str, id: &str) {
    if http
        .patch(
            &format!("{api}/deployments/{id}"),
            &json!({"spec": {"state": "CANCELLED"}}),
        )
        .await
        .is_ok()
    {
        let _ = http
            .poll(
                &format!("{api}/deployments/{id}"),
                Duration::from_millis(50),
                Duration::from_secs(60),
                |d| d["status"]["state"] == "CANCELLED",
            )
            .await;
    }
}

/// P9: the preview of a snapshot with 24 MiB of state and of one with ten times more.
pub async fn upgrade_preview(ctx: &Ctx) -> anyhow::Result<Measure> {
    let n = if ctx.quick { 5 } else { 15 };
    let dir = tempfile::tempdir()?;
    let server = Server::start(&ctx.stateplane, None, &["--flink-rest-url", &ctx.flink_url])?;
    let http = Http::new();
    let api = server.api();
    let mut ids = Vec::new();
    let result = async {
        let small = subject(
            ctx,
            &server,
            &http,
            dir.path(),
            ("p9-small", SMALL_KIB),
            &mut ids,
        )
        .await?;
        let large_kib = SMALL_KIB * LARGE_FACTOR;
        let large = subject(
            ctx,
            &server,
            &http,
            dir.path(),
            ("p9-large", large_kib),
            &mut ids,
        )
        .await?;
        // Unrecorded: the first plans of a program on a JobManager are slower (class loading, JIT).
        for _ in 0..2 {
            preview(&http, &api, &small).await?;
            preview(&http, &api, &large).await?;
        }
        let (mut small_ms, mut large_ms) = (Vec::new(), Vec::new());
        for i in 0..n {
            // Alternate which goes first, so neither always follows the other.
            if i % 2 == 0 {
                small_ms.push(preview(&http, &api, &small).await?);
                large_ms.push(preview(&http, &api, &large).await?);
            } else {
                large_ms.push(preview(&http, &api, &large).await?);
                small_ms.push(preview(&http, &api, &small).await?);
            }
        }
        anyhow::Ok((small, large, small_ms, large_ms))
    }
    .await;
    for id in &ids {
        cancel(&http, &api, id).await;
    }
    let (small, large, small_ms, large_ms) = result?;
    let (s, l) = (median(&small_ms), median(&large_ms));
    let ratio = l / s;
    Ok(Measure {
        id: "P9",
        name: "upgrade_preview",
        values: vec![
            ("n".into(), n.to_string()),
            (
                "small_state_kib".into(),
                (small.state_bytes / 1024).to_string(),
            ),
            (
                "large_state_kib".into(),
                (large.state_bytes / 1024).to_string(),
            ),
            (
                "small_metadata_bytes".into(),
                small.metadata_bytes.to_string(),
            ),
            (
                "large_metadata_bytes".into(),
                large.metadata_bytes.to_string(),
            ),
            ("small_median_ms".into(), f2(s)),
            ("large_median_ms".into(), f2(l)),
            ("ratio".into(), f2(ratio)),
        ],
        baseline: "the same preview of the job with 24 MiB of state".into(),
        goal: format!("ratio ≤ {GOAL_RATIO}"),
        met: ratio <= GOAL_RATIO,
    })
}
