//! P7: many deployments on one session cluster, all taking a savepoint at once — the load that reaches
//! the one JobManager. Twenty deployments of the example job (four counters) request a savepoint at
//! the same moment, for a few rounds; a counting proxy in front of Flink counts what stateplane sends.
//! The baseline is the same twenty savepoints of the same jobs by hand, each triggered and then polled
//! every 10 ms, through a proxy of its own.

use std::time::Instant;

use anyhow::bail;
use serde_json::json;
use stateplane_flink::{FlinkClient, FlinkJobId};

use crate::common::*;
use crate::flink::{flink_savepoint, COUNT_BASELINE_POLL};
use crate::proxy::CountingProxy;
use crate::Ctx;

const DEPLOYMENTS: usize = 20;

/// One round through stateplane: all request at once, then each is long-polled until it is done.
async fn stateplane_round(http: &Http, api: &str, deployments: &[String]) -> anyhow::Result<()> {
    let requests = deployments.iter().map(|d| async move {
        let url = format!("{api}/savepoints");
        http.post(&url, &json!({"metadata": {"deploymentId": d}}))
            .await
    });
    let created = futures::future::try_join_all(requests).await?;
    let waits = created.iter().map(|sp| async move {
        let id = sp["metadata"]["id"].as_str().unwrap_or_default();
        let url = format!("{api}/savepoints/{id}?waitFor=COMPLETED,FAILED&timeout=120s");
        http.get(&url).await
    });
    for sp in futures::future::try_join_all(waits).await? {
        if sp["status"]["state"] != "COMPLETED" {
            bail!("savepoint did not complete: {}", sp["status"]);
        }
    }
    Ok(())
}

/// The same round by hand: every job triggered at once, each polled every 10 ms.
async fn baseline_round(flink: &FlinkClient, jobs: &[FlinkJobId], dir: &str) -> anyhow::Result<()> {
    let all = jobs
        .iter()
        .map(|j| flink_savepoint(flink, j, dir, COUNT_BASELINE_POLL));
    futures::future::try_join_all(all).await?;
    Ok(())
}

pub async fn shared_cluster(ctx: &Ctx) -> anyhow::Result<Measure> {
    let rounds = if ctx.quick { 2 } else { 5 };
    let dir = tempfile::tempdir()?;
    let proxy = CountingProxy::start(&ctx.flink_url).await?;
    let base_proxy = CountingProxy::start(&ctx.flink_url).await?;
    let server = Server::start(&ctx.stateplane, None, &["--flink-rest-url", &proxy.url])?;
    let http = Http::new();
    let api = server.api();
    let names: Vec<String> = (0..DEPLOYMENTS).map(|i| format!("p7-{i}")).collect();
    for name in &names {
        let sp_dir = dir.path().join(name);
        http.post(
            &format!("{api}/deployments"),
            &deployment(name, &ctx.jar, &sp_dir, "RUNNING", ""),
        )
        .await?;
    }
    let (mut ids, mut jobs) = (Vec::new(), Vec::new());
    for name in &names {
        let d = http
            .get(&format!(
                "{api}/deployments/{name}?waitFor=RUNNING,FAILED&timeout=120s"
            ))
            .await?;
        if d["status"]["state"] != "RUNNING" {
            bail!("{name} did not start: {}", d["status"]);
        }
        ids.push(d["metadata"]["id"].as_str().unwrap_or_default().to_string());
        let job = d["status"]["running"]["jobId"]
            .as_str()
            .unwrap_or_default()
            .replace('-', "");
        jobs.push(FlinkJobId::parse(&job)?);
    }
    let flink = FlinkClient::new(&base_proxy.url)?;
    let base_dir = format!("file://{}", dir.path().join("baseline").display());
    // One unrecorded round of each: the JVMs warm up, and stateplane learns how long savepoints take.
    stateplane_round(&http, &api, &ids).await?;
    baseline_round(&flink, &jobs, &base_dir).await?;

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    let (mut ours_rps, mut base_rps) = (0, 0);
    let (mut ours_requests, mut base_requests) = (0, 0);
    let mut ours_kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for _ in 0..rounds {
        let (t, mark) = (Instant::now(), proxy.mark());
        stateplane_round(&http, &api, &ids).await?;
        ours.push(ms(t.elapsed()));
        let phase = proxy.since(mark);
        ours_requests += phase.requests;
        ours_rps = ours_rps.max(phase.peak_per_second);
        for (kind, n) in phase.by_kind {
            *ours_kinds.entry(kind).or_default() += n;
        }

        let (t, mark) = (Instant::now(), base_proxy.mark());
        baseline_round(&flink, &jobs, &base_dir).await?;
        base.push(ms(t.elapsed()));
        let phase = base_proxy.since(mark);
        base_requests += phase.requests;
        base_rps = base_rps.max(phase.peak_per_second);
    }
    for name in &names {
        let _ = http
            .patch(
                &format!("{api}/deployments/{name}"),
                &json!({"spec": {"state": "CANCELLED"}}),
            )
            .await;
    }
    for name in &names {
        let _ = http
            .get(&format!(
                "{api}/deployments/{name}?waitFor=CANCELLED&timeout=60s"
            ))
            .await;
    }
    let savepoints = (rounds * DEPLOYMENTS) as f64;
    // Where stateplane's requests go, per savepoint: the figure to look at when the goal is missed.
    let mut kinds: Vec<(String, usize)> = ours_kinds.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    for (kind, n) in kinds {
        eprintln!(
            "[P7] stateplane: {:.2} × {kind} per savepoint",
            n as f64 / savepoints
        );
    }
    let per = ours_requests as f64 / savepoints;
    let base_per = base_requests as f64 / savepoints;
    Ok(Measure {
        id: "P7",
        name: "shared_cluster",
        values: vec![
            ("deployments".into(), DEPLOYMENTS.to_string()),
            ("rounds".into(), rounds.to_string()),
            ("requests_per_savepoint".into(), f2(per)),
            ("baseline_requests_per_savepoint".into(), f2(base_per)),
            ("peak_requests_per_second".into(), ours_rps.to_string()),
            (
                "baseline_peak_requests_per_second".into(),
                base_rps.to_string(),
            ),
            ("round_median_ms".into(), f2(median(&ours))),
            ("baseline_round_median_ms".into(), f2(median(&base))),
        ],
        baseline: format!(
            "the same {DEPLOYMENTS} savepoints at once by hand, each polled every {} ms; requests \
             counted by a proxy in front of Flink for each side",
            ms(COUNT_BASELINE_POLL)
        ),
        goal: "fewer requests per savepoint and a lower peak per second than the 10 ms poll".into(),
        met: per < base_per && ours_rps < base_rps,
    })
}
