//! P8: how long a job produces no output while its parallelism changes — in place (Flink's adaptive
//! scheduler, `PUT /jobs/{jid}/resource-requirements`) against a stateful upgrade of the same change
//! (stop with a savepoint, submit again, restore), both through stateplane, on the same Flink session
//! cluster (started with `jobmanager.scheduler: adaptive`), alternating.
//!
//! The job's output is what its users see: the example job prints one line per record (100 records/s,
//! 24 MiB of keyed state, checkpoints every second so the in-place path keeps its state), and the
//! TaskManager's stdout file is watched for the deployment's tag. The figure per change is the longest
//! time between two output lines from the change's request until the job runs the new spec version and
//! printed again. Each sample is checked in Flink's own view: the in-place change kept the Flink job id
//! and the vertices report the new parallelism; the upgrade ran a new job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use stateplane_flink::{FlinkClient, FlinkJobId};

use crate::common::*;
use crate::Ctx;

/// The job's rate (records per second, over all its subtasks): its natural gap between two lines is
/// 10 ms, well under the gaps measured.
const RATE: u32 = 100;
/// Keyed state of the job (KiB), as in P1 and P2.
const STATE_KIB: u32 = 24576;
/// How often the stdout file is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(5);
/// Longest a change may take before the sample is an error.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(180);

/// Watches a TaskManager stdout file for lines that carry one tag, recording when each was seen.
struct OutputWatch {
    seen: Arc<Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl OutputWatch {
    /// Starts at the file's current end: only lines printed from now on count.
    fn start(file: &Path, tag: &str) -> anyhow::Result<OutputWatch> {
        let mut offset = std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (file, tag, sink) = (file.to_path_buf(), tag.to_string(), seen.clone());
        let task = tokio::spawn(async move {
            let mut pending = String::new();
            loop {
                if let Some((chunk, next)) = read_from(&file, offset) {
                    offset = next;
                    pending.push_str(&chunk);
                    // A print sink's line starts `TAG> ` at parallelism 1 and `TAG:N> ` above it.
                    let complete = pending.rfind('\n').map_or(0, |i| i + 1);
                    let printed = pending[..complete].lines().any(|l| {
                        l.strip_prefix(tag.as_str())
                            .is_some_and(|rest| rest.starts_with('>') || rest.starts_with(':'))
                    });
                    pending.drain(..complete);
                    if printed {
                        sink.lock().expect("watch lock").push(Instant::now());
                    }
                }
                tokio::time::sleep(WATCH_EVERY).await;
            }
        });
        Ok(OutputWatch { seen, task })
    }

    /// Waits until a line was seen after `after`.
    async fn printed_after(&self, after: Instant) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + CHANGE_TIMEOUT;
        loop {
            if let Some(t) = self
                .seen
                .lock()
                .expect("watch lock")
                .iter()
                .find(|t| **t > after)
            {
                return Ok(*t);
            }
            if Instant::now() > deadline {
                bail!("the job printed nothing for {CHANGE_TIMEOUT:?}");
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }

    /// The longest time without output between `from` and `to`, counting the stretch from `from`
    /// to the first line after it.
    fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let seen = self.seen.lock().expect("watch lock");
        let mut last = seen
            .iter()
            .rev()
            .find(|t| **t <= from)
            .copied()
            .unwrap_or(from);
        let mut gap = Duration::ZERO;
        for t in seen.iter().filter(|t| **t > from && **t <= to) {
            gap = gap.max(t.duration_since(last));
            last = *t;
        }
        gap
    }
}

impl Drop for OutputWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What was appended to `file` since `offset`, and the new offset; `None` when nothing was (a file
/// that shrank, e.g. rotated, is read again from its start).
fn read_from(file: &Path, offset: u64) -> Option<(String, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file).ok()?;
    let len = f.metadata().ok()?.len();
    let offset = if len < offset { 0 } else { offset };
    if len == offset {
        return None;
    }
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::with_capacity((len - offset) as usize);
    f.take(len - offset).read_to_end(&mut buf).ok()?;
    Some((
        String::from_utf8_lossy(&buf).into_owned(),
        offset + buf.len() as u64,
    ))
}

/// The deployment's Flink job and the spec version that job runs (from its Job resource).
async fn running(http: &Http, api: &str, name: &str) -> anyhow::Result<Option<(String, u64)>> {
    let d = http.get(&format!("{api}/deployments/{name}")).await?;
    if d["status"]["state"] == "FAILED" {
        bail!("{name} FAILED: {}", d["status"]["failure"]);
    }
    if d["status"]["state"] != "RUNNING" {
        return Ok(None);
    }
    let Some(job) = d["status"]["running"]["jobId"].as_str() else {
        return Ok(None);
    };
    let j = http.get(&format!("{api}/jobs/{job}")).await?;
    let version = spec_version(&j);
    Ok(Some((job.to_string(), version)))
}

fn spec_version(resource: &Value) -> u64 {
    resource["metadata"]["annotations"]
        ["com.dataartisans.appmanager.controller.deployment.spec.version"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One sample: the change's patch applied, then waited for until the deployment runs the new spec
/// version and the job printed again. Returns (longest gap without output, time until the new spec
/// version ran, the Job resource's id before and after).
async fn change(
    http: &Http,
    api: &str,
    name: &str,
    watch: &OutputWatch,
    patch: &Value,
) -> anyhow::Result<(Duration, Duration, String, String)> {
    let (before, _) = running(http, api, name)
        .await?
        .context("the deployment is not running before the change")?;
    let requested = Instant::now();
    let d = http
        .patch(&format!("{api}/deployments/{name}"), patch)
        .await?;
    let target = spec_version(&d);
    let deadline = requested + CHANGE_TIMEOUT;
    let (after, done) = loop {
        if let Some((job, version)) = running(http, api, name).await? {
            if version >= target {
                break (job, Instant::now());
            }
        }
        if Instant::now() > deadline {
            bail!("{name} does not run spec version {target} after {CHANGE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let resumed = watch.printed_after(done).await?;
    Ok((
        watch.longest_gap(requested, resumed),
        done.duration_since(requested),
        before,
        after,
    ))
}

/// A job's vertices' parallelism in Flink's own view (a Job resource's id is its Flink job id).
async fn flink_parallelism(flink: &FlinkClient, job: &str) -> anyhow::Result<Vec<u32>> {
    let id = FlinkJobId::parse(&job.replace('-', ""))?;
    let details = flink
        .job(&id)
        .await?
        .context("Flink does not know the job")?;
    Ok(details.vertices.iter().map(|v| v.parallelism).collect())
}

pub async fn rescale_gap(ctx: &Ctx) -> anyhow::Result<Measure> {
    let (Some(url), Some(stdout)) = (&ctx.adaptive_flink_url, &ctx.adaptive_flink_stdout) else {
        bail!("needs --adaptive-flink-url and --adaptive-flink-stdout (bench/run.sh starts that cluster)");
    };
    let n = if ctx.quick { 2 } else { 5 };
    let dir = tempfile::tempdir()?;
    let server = Server::start(&ctx.stateplane, None, &["--flink-rest-url", url])?;
    let (http, api) = (Http::new(), server.api());
    let flink = FlinkClient::new(url)?;
    let (inplace, upgrade) = ("p8-inplace", "p8-upgrade");
    for name in [inplace, upgrade] {
        let mut body = deployment(
            name,
            &ctx.jar,
            &dir.path().join(name),
            "RUNNING",
            &format!("--state-kib {STATE_KIB}"),
        );
        let spec = &mut body["spec"]["template"]["spec"];
        spec["artifact"]["mainArgs"] =
            json!(format!("{RATE} --tag {name} --state-kib {STATE_KIB}"));
        spec["flinkConfiguration"]["execution.checkpointing.interval"] = json!("1s");
        http.post(&format!("{api}/deployments"), &body).await?;
    }
    for name in [inplace, upgrade] {
        let d = http
            .get(&format!(
                "{api}/deployments/{name}?waitFor=RUNNING,FAILED&timeout=120s"
            ))
            .await?;
        if d["status"]["state"] != "RUNNING" {
            bail!("{name} did not start: {}", d["status"]);
        }
    }
    let stdout = PathBuf::from(stdout);
    let watches = [
        OutputWatch::start(&stdout, inplace)?,
        OutputWatch::start(&stdout, upgrade)?,
    ];
    for w in &watches {
        w.printed_after(Instant::now()).await?;
    }

    let (mut ours_gap, mut ours_done) = (Vec::new(), Vec::new());
    let (mut base_gap, mut base_done) = (Vec::new(), Vec::new());
    for round in 0..n {
        let parallelism = if round % 2 == 0 { 2 } else { 1 };
        // In place: only the parallelism changes.
        let patch = json!({"spec": {"template": {"spec": {"parallelism": parallelism}}}});
        let (gap, done, before, after) = change(&http, &api, inplace, &watches[0], &patch).await?;
        if before != after {
            bail!("the change to parallelism {parallelism} was not made in place (job {before} → {after})");
        }
        let vertices = flink_parallelism(&flink, &after).await?;
        if vertices.iter().any(|p| *p != parallelism) {
            bail!("Flink runs the vertices at {vertices:?} after the in-place change to {parallelism}");
        }
        ours_gap.push(ms(gap));
        ours_done.push(ms(done));

        // The same change through a stateful upgrade: a Flink configuration key the job does not
        // read changes with it, so the change is more than a rescale.
        let patch = json!({"spec": {"template": {"spec": {
            "parallelism": parallelism,
            "flinkConfiguration": {"stateplane.bench.round": round.to_string()}
        }}}});
        let (gap, done, before, after) = change(&http, &api, upgrade, &watches[1], &patch).await?;
        if before == after {
            bail!("the upgrade to parallelism {parallelism} did not start a new job");
        }
        base_gap.push(ms(gap));
        base_done.push(ms(done));
    }
    for name in [inplace, upgrade] {
        let _ = http
            .patch(
                &format!("{api}/deployments/{name}"),
                &json!({"spec": {"state": "CANCELLED"}}),
            )
            .await;
        let _ = http
            .get(&format!(
                "{api}/deployments/{name}?waitFor=CANCELLED&timeout=60s"
            ))
            .await;
    }
    let ratio = median(&ours_gap) / median(&base_gap);
    Ok(Measure {
        id: "P8",
        name: "rescale_gap",
        values: vec![
            ("n".into(), n.to_string()),
            ("state_kib".into(), STATE_KIB.to_string()),
            ("records_per_s".into(), RATE.to_string()),
            ("in_place_gap_median_ms".into(), f2(median(&ours_gap))),
            ("upgrade_gap_median_ms".into(), f2(median(&base_gap))),
            ("ratio".into(), f2(ratio)),
            ("in_place_done_median_ms".into(), f2(median(&ours_done))),
            ("upgrade_done_median_ms".into(), f2(median(&base_done))),
        ],
        baseline: "the same parallelism change (1 ↔ 2) as a stateful upgrade through stateplane on the same \
                   adaptive-scheduler cluster; gap = longest time without a line of the job's output from \
                   the request until it printed again on the new spec version; done = until the job ran \
                   the new spec version"
            .into(),
        goal: "ratio < 1 (in place leaves a shorter gap than the upgrade)".into(),
        met: ratio < 1.0,
    })
}
