//! P1 and P2: stateplane against a real Flink, each compared with doing the same by hand on Flink's
//! REST API, alternating runs, with the same client poll period for both. P1 also counts the REST
//! requests reaching Flink per savepoint (a counting proxy in front of it, for both sides), against
//! a hand-written poll every [`COUNT_BASELINE_POLL`].

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use stateplane_flink::{
    ClaimMode, FlinkClient, FlinkJobId, RunJarRequest, SavepointFormat, SavepointStatus,
    SavepointTrigger, StopWithSavepoint, TriggerId,
};

use crate::common::*;
use crate::proxy::CountingProxy;
use crate::Ctx;

/// How often both sides poll for completion.
const POLL: Duration = Duration::from_millis(1);

/// The poll period of the hand-written baseline P1's request counts are compared with.
pub const COUNT_BASELINE_POLL: Duration = Duration::from_millis(10);

/// Keyed state the measured job keeps (KiB): enough that a savepoint takes Flink ~100 ms here, the
/// duration the goals are set for. The job without it (four counters, savepoints of a few ms) is
/// measured too, so the fixed cost per savepoint is on record as well.
const STATE_KIB: u32 = 24576;

async fn running_deployment(
    ctx: &Ctx,
    server: &Server,
    http: &Http,
    name: &str,
    sp_dir: &Path,
    main_args: &str,
) -> anyhow::Result<(String, FlinkJobId)> {
    let api = server.api();
    let d = http
        .post(
            &format!("{api}/deployments"),
            &deployment(name, &ctx.jar, sp_dir, "RUNNING", main_args),
        )
        .await?;
    let id = d["metadata"]["id"].as_str().unwrap_or_default().to_string();
    let d = http
        .poll(
            &format!("{api}/deployments/{name}"),
            Duration::from_millis(20),
            Duration::from_secs(120),
            |d| d["status"]["state"] == "RUNNING",
        )
        .await?;
    let job = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap_or_default()
        .replace('-', "");
    Ok((id, FlinkJobId::parse(&job)?))
}

/// A savepoint by hand: trigger, then ask every `poll` until it completed.
pub async fn flink_savepoint(
    flink: &FlinkClient,
    job: &FlinkJobId,
    dir: &str,
    poll: Duration,
) -> anyhow::Result<()> {
    let trigger = TriggerId::random();
    let t = SavepointTrigger {
        target_directory: dir.into(),
        format: SavepointFormat::Canonical,
        trigger_id: trigger.clone(),
        cancel_job: false,
    };
    flink.trigger_savepoint(job, &t).await?;
    loop {
        match flink.savepoint_status(job, &trigger).await? {
            SavepointStatus::Completed { .. } => return Ok(()),
            SavepointStatus::Failed { root_cause } => {
                bail!("baseline savepoint failed: {root_cause}")
            }
            SavepointStatus::InProgress => tokio::time::sleep(poll).await,
        }
    }
}

/// A savepoint through stateplane: POST, then poll the resource every [`POLL`] until COMPLETED; the
/// resource as it completed.
pub async fn stateplane_savepoint(
    http: &Http,
    api: &str,
    deployment: &str,
) -> anyhow::Result<serde_json::Value> {
    let sp = http
        .post(
            &format!("{api}/savepoints"),
            &json!({"metadata": {"deploymentId": deployment}}),
        )
        .await?;
    let id = sp["metadata"]["id"].as_str().unwrap_or_default();
    let sp = http
        .poll(
            &format!("{api}/savepoints/{id}"),
            POLL,
            Duration::from_secs(60),
            |s| matches!(s["status"]["state"].as_str(), Some("COMPLETED" | "FAILED")),
        )
        .await?;
    if sp["status"]["state"] != "COMPLETED" {
        bail!("savepoint failed: {}", sp["status"]);
    }
    Ok(sp)
}

/// What P1 measures of one job: savepoint times (ms) through stateplane and by hand, and the REST
/// requests reaching Flink per savepoint through stateplane and by hand with a 10 ms poll.
struct Samples {
    ours: Vec<f64>,
    base: Vec<f64>,
    ours_requests: Vec<f64>,
    base_requests: Vec<f64>,
}

/// `n` savepoints through stateplane and `n` on Flink directly, alternating, of one running job
/// keeping `state_kib` KiB of state; then `n` more by hand with a 10 ms poll, for the request count.
/// Each side reaches Flink through a counting proxy of its own (the same code, so the same cost), so
/// neither is counted the other's requests.
async fn savepoint_samples(ctx: &Ctx, n: usize, state_kib: u32) -> anyhow::Result<Samples> {
    let dir = tempfile::tempdir()?;
    let proxy = CountingProxy::start(&ctx.flink_url).await?;
    let base_proxy = CountingProxy::start(&ctx.flink_url).await?;
    let server = Server::start(&ctx.stateplane, None, &["--flink-rest-url", &proxy.url])?;
    let http = Http::new();
    let flink = FlinkClient::new(&base_proxy.url)?;
    let args = if state_kib > 0 {
        format!("--state-kib {state_kib}")
    } else {
        String::new()
    };
    let (dep, job) =
        running_deployment(ctx, &server, &http, "p1", &dir.path().join("sp"), &args).await?;
    let base_dir = format!("file://{}", dir.path().join("baseline").display());
    // Warm-up: the first savepoints of a job (and of a fresh cluster) are slower on both paths.
    for _ in 0..5 {
        stateplane_savepoint(&http, &server.api(), &dep).await?;
        flink_savepoint(&flink, &job, &base_dir, POLL).await?;
    }
    let mut s = Samples {
        ours: Vec::new(),
        base: Vec::new(),
        ours_requests: Vec::new(),
        base_requests: Vec::new(),
    };
    for _ in 0..n {
        let (t, mark) = (Instant::now(), proxy.mark());
        stateplane_savepoint(&http, &server.api(), &dep).await?;
        s.ours.push(ms(t.elapsed()));
        s.ours_requests.push(proxy.since(mark).requests as f64);
        let t = Instant::now();
        flink_savepoint(&flink, &job, &base_dir, POLL).await?;
        s.base.push(ms(t.elapsed()));
    }
    for _ in 0..n {
        let mark = base_proxy.mark();
        flink_savepoint(&flink, &job, &base_dir, COUNT_BASELINE_POLL).await?;
        s.base_requests.push(base_proxy.since(mark).requests as f64);
    }
    http.patch(
        &format!("{}/deployments/p1", server.api()),
        &json!({"spec": {"state": "CANCELLED"}}),
    )
    .await?;
    let _ = http
        .poll(
            &format!("{}/deployments/p1", server.api()),
            Duration::from_millis(20),
            Duration::from_secs(60),
            |d| d["status"]["state"] == "CANCELLED",
        )
        .await;
    Ok(s)
}

/// P1: a savepoint through stateplane (POST, poll the resource) vs on Flink directly (trigger, poll).
pub async fn savepoint_overhead(ctx: &Ctx) -> anyhow::Result<Measure> {
    let n = if ctx.quick { 5 } else { 30 };
    let big = savepoint_samples(ctx, n, STATE_KIB).await?;
    let small = savepoint_samples(ctx, n, 0).await?;
    let (ours, base) = (median(&big.ours), median(&big.base));
    let (small_ours, small_base) = (median(&small.ours), median(&small.base));
    let (requests, base_requests) = (mean(&big.ours_requests), mean(&big.base_requests));
    let ratio = ours / base;
    let goal = 1.10;
    Ok(Measure {
        id: "P1",
        name: "savepoint_overhead",
        values: vec![
            ("n".into(), n.to_string()),
            ("poll_ms".into(), ms(POLL).to_string()),
            ("state_kib".into(), STATE_KIB.to_string()),
            ("median_ms".into(), f2(ours)),
            ("baseline_median_ms".into(), f2(base)),
            ("overhead_ms".into(), f2(ours - base)),
            ("ratio".into(), f2(ratio)),
            ("requests_per_savepoint".into(), f2(requests)),
            ("baseline_10ms_requests_per_savepoint".into(), f2(base_requests)),
            ("small_state_median_ms".into(), f2(small_ours)),
            ("small_state_baseline_median_ms".into(), f2(small_base)),
            ("small_state_ratio".into(), f2(small_ours / small_base)),
            (
                "small_state_requests_per_savepoint".into(),
                f2(mean(&small.ours_requests)),
            ),
            (
                "small_state_baseline_10ms_requests_per_savepoint".into(),
                f2(mean(&small.base_requests)),
            ),
        ],
        baseline: format!(
            "trigger on Flink's REST API and poll until COMPLETED every {} ms (time) and every {} ms \
             (requests, counted by a proxy in front of Flink for both sides); job with {STATE_KIB} \
             KiB of state (goal), and with four counters (small_state_*, fixed cost per savepoint)",
            ms(POLL),
            ms(COUNT_BASELINE_POLL)
        ),
        goal: format!("ratio ≤ {goal} (full run) and fewer requests per savepoint than the 10 ms poll"),
        met: ratio <= goal && requests < base_requests,
    })
}

/// Warms the Flink cluster up with unrecorded runs of P1's and P2's measurements (one in quick mode,
/// three in a full run): a cluster that has just started answers its REST API and takes snapshots
/// several times slower until its JVMs have compiled the code paths both sides use, and the side
/// with more REST calls (ours) suffers more from that.
pub async fn warm_up(ctx: &Ctx) -> anyhow::Result<()> {
    let started = Instant::now();
    let (passes, n) = if ctx.quick { (1, 5) } else { (3, 30) };
    for _ in 0..passes {
        savepoint_samples(ctx, n, STATE_KIB).await?;
        savepoint_samples(ctx, n, 0).await?;
        suspend_resume_samples(ctx, n / 5).await?;
    }
    eprintln!(
        "warmed Flink up in {:.1} s ({passes} unrecorded passes of P1 and P2)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// P2: suspend + resume through stateplane vs stop-with-savepoint + run-from-savepoint by hand.
pub async fn suspend_resume(ctx: &Ctx) -> anyhow::Result<Measure> {
    let n = if ctx.quick { 3 } else { 10 };
    let (ours, base, ours_suspend, base_stop) = suspend_resume_samples(ctx, n).await?;
    let ratio = median(&ours) / median(&base);
    let goal = 1.10;
    Ok(Measure {
        id: "P2",
        name: "suspend_resume",
        values: vec![
            ("n".into(), n.to_string()),
            ("state_kib".into(), STATE_KIB.to_string()),
            ("median_ms".into(), f2(median(&ours))),
            ("baseline_median_ms".into(), f2(median(&base))),
            ("suspend_median_ms".into(), f2(median(&ours_suspend))),
            ("baseline_stop_median_ms".into(), f2(median(&base_stop))),
            ("ratio".into(), f2(ratio)),
        ],
        baseline: "stop-with-savepoint, wait FINISHED, run from the savepoint, wait all tasks RUNNING, on Flink's REST API".into(),
        goal: format!("ratio ≤ {goal}"),
        met: ratio <= goal,
    })
}

/// `n` suspend + resume cycles through stateplane and `n` by hand, alternating: whole cycles and
/// their suspend/stop halves (ms), ours then by hand.
async fn suspend_resume_samples(
    ctx: &Ctx,
    n: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&ctx.stateplane, None, &["--flink-rest-url", &ctx.flink_url])?;
    let http = Http::new();
    let flink = FlinkClient::new(&ctx.flink_url)?;
    let api = server.api();
    let state = format!("--state-kib {STATE_KIB}");
    running_deployment(ctx, &server, &http, "p2", &dir.path().join("sp"), &state).await?;

    let jar = flink.upload_jar(&ctx.jar).await?;
    let run = |savepoint: Option<String>| RunJarRequest {
        entry_class: Some("io.stateplane.examples.StatefulCounter".into()),
        program_args: ["20", "--tag", "p2-baseline", "--state-kib"]
            .into_iter()
            .map(String::from)
            .chain([STATE_KIB.to_string()])
            .collect(),
        parallelism: Some(1),
        claim_mode: savepoint.as_ref().map(|_| ClaimMode::NoClaim),
        savepoint_path: savepoint,
        flink_configuration: [(
            "execution.checkpointing.dir".to_string(),
            format!(
                "file://{}",
                dir.path().join("baseline-checkpoints").display()
            ),
        )]
        .into(),
        ..Default::default()
    };
    let mut job = flink.run_jar(&jar, &run(None)).await?;
    wait_all_running(&flink, &job).await?;
    let base_dir = format!("file://{}", dir.path().join("baseline").display());

    // Samples: whole cycle and its suspend/stop half, ours and by hand. The first round of each side
    // is a warm-up and not recorded.
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    let (mut ours_suspend, mut base_stop) = (Vec::new(), Vec::new());
    for round in 0..=n {
        let record = round > 0;
        let t = Instant::now();
        let dep_url = format!("{api}/deployments/p2");
        http.patch(&dep_url, &json!({"spec": {"state": "SUSPENDED"}}))
            .await?;
        http.poll(&dep_url, POLL, Duration::from_secs(60), |d| {
            d["status"]["state"] == "SUSPENDED"
        })
        .await?;
        let ours_suspended = ms(t.elapsed());
        http.patch(&dep_url, &json!({"spec": {"state": "RUNNING"}}))
            .await?;
        http.poll(&dep_url, POLL, Duration::from_secs(60), |d| {
            d["status"]["state"] == "RUNNING"
        })
        .await?;
        if record {
            ours.push(ms(t.elapsed()));
            ours_suspend.push(ours_suspended);
        }

        let t = Instant::now();
        let trigger = TriggerId::random();
        let stop = StopWithSavepoint {
            target_directory: base_dir.clone(),
            format: SavepointFormat::Canonical,
            trigger_id: trigger.clone(),
            drain: false,
        };
        flink.stop_with_savepoint(&job, &stop).await?;
        let location = loop {
            match flink.savepoint_status(&job, &trigger).await? {
                SavepointStatus::Completed { location } => break location,
                SavepointStatus::Failed { root_cause } => {
                    bail!("baseline stop failed: {root_cause}")
                }
                SavepointStatus::InProgress => tokio::time::sleep(POLL).await,
            }
        };
        loop {
            if flink
                .job_status(&job)
                .await?
                .is_some_and(|s| s.is_globally_terminal())
            {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let base_stopped = ms(t.elapsed());
        job = flink.run_jar(&jar, &run(Some(location))).await?;
        wait_all_running(&flink, &job).await?;
        if record {
            base.push(ms(t.elapsed()));
            base_stop.push(base_stopped);
        }
    }
    let _ = flink.cancel(&job).await;
    http.patch(
        &format!("{api}/deployments/p2"),
        &json!({"spec": {"state": "CANCELLED"}}),
    )
    .await?;
    let _ = http
        .poll(
            &format!("{api}/deployments/p2"),
            Duration::from_millis(20),
            Duration::from_secs(60),
            |d| d["status"]["state"] == "CANCELLED",
        )
        .await;
    Ok((ours, base, ours_suspend, base_stop))
}

async fn wait_all_running(flink: &FlinkClient, job: &FlinkJobId) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = flink.jobs_overview().await?;
        if jobs.iter().any(|j| &j.id == job && j.all_tasks_running()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(anyhow::anyhow!("job {job} never ran all its tasks")).context("baseline");
        }
        tokio::time::sleep(POLL).await;
    }
}
