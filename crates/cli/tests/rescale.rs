//! Rescaling in place on a real Flink 2.3 session cluster with the adaptive scheduler (short
//! adaptive-scheduler timeouts, `flink-local.sh start --adaptive`), through the real binary:
//!
//! - 1 → 2 (API) → 1 (`stateplane deployment scale --wait`) in place: the same Job resource and Flink
//!   job id, no savepoint resource, Flink's vertices report the new parallelism, the counters' keyed
//!   state continues (no key starts counting at 1 twice);
//! - a change of parallelism and artifact together goes through the STATEFUL upgrade, with the reason
//!   in an event;
//! - a SIGKILL of the server (crash points) right after the intent is written and right after the
//!   requirements are sent converges to the in-place result, never a second job;
//! - on a cluster with Flink's default scheduler the change is a stateful upgrade, as before.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use stateplane_testkit::flink::{shared_cluster, shared_cluster_with, Scheduler, TestCluster};
use support::{origin_count, Api, Server};

const CRASH: Duration = Duration::from_secs(60);

fn adaptive() -> &'static TestCluster {
    shared_cluster_with(
        stateplane_testkit::flink::DEFAULT_FLINK_VERSION,
        Scheduler::Adaptive,
    )
}

/// `(key, count)` of every line the job tagged `tag` printed (`tag> ` or, above parallelism 1,
/// `tag:N> `).
fn printed(stdout: &Path, tag: &str) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(stdout).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix(tag))
        .filter_map(|l| l.split_once("> "))
        .filter(|(subtask, _)| subtask.is_empty() || subtask.starts_with(':'))
        .filter_map(|(_, l)| {
            let mut f = l
                .split_whitespace()
                .map(|kv| kv.split_once('=').and_then(|(_, v)| v.parse().ok()));
            Some((f.next()??, f.next()??))
        })
        .collect()
}

fn deployment_body(name: &str, jar: &Path, dir: &Path, parallelism: u32) -> Value {
    json!({"metadata": {"name": name}, "spec": {
        "state": "RUNNING",
        "deploymentTargetName": "default",
        "restoreStrategy": {"kind": "LATEST_STATE"},
        "upgradeStrategy": {"kind": "STATEFUL"},
        "template": {"spec": {
            "artifact": {"kind": "JAR", "jarUri": format!("file://{}", jar.display()),
                         "entryClass": "io.stateplane.examples.StatefulCounter",
                         "mainArgs": format!("20 --tag {name}")},
            "parallelism": parallelism,
            "flinkConfiguration": {
                "execution.checkpointing.savepoint-dir": format!("file://{}", dir.join("sp").display()),
                "execution.checkpointing.dir": format!("file://{}", dir.join("ck").display()),
                "execution.checkpointing.interval": "500ms"
            }
        }}
    }})
}

/// Waits until the deployment is RUNNING a job that runs spec version `version` (the job row takes the
/// version before the deployment is marked RUNNING again); returns the job.
async fn running_version(api: &Api, base: &str, name: &str, version: u64) -> Value {
    let v = version.to_string();
    stateplane_testkit::wait::until_async(
        &format!("{name} RUNNING a job on spec version {version}"),
        Duration::from_secs(90),
        || async {
            let d = api.get(format!("{base}/deployments/{name}")).await;
            let Some(job) = d["status"]["running"]["jobId"]
                .as_str()
                .filter(|_| d["status"]["state"] == "RUNNING")
            else {
                return Err(format!("{}", d["status"]));
            };
            let j = api.get(format!("{base}/jobs/{job}")).await;
            if j["metadata"]["annotations"][stateplane_model::SPEC_VERSION_ANNOTATION] == v.as_str()
            {
                Ok(j)
            } else {
                Err(format!("job {job}: {}", j["metadata"]["annotations"]))
            }
        },
    )
    .await
}

/// Every vertex of the Flink job runs at `p` (Flink's `/jobs/{jid}`, waited for: it lags up to 3 s).
async fn flink_parallelism(flink: &stateplane_flink::FlinkClient, job: &str, p: u32) {
    let id = stateplane_flink::FlinkJobId::parse(&job.replace('-', "")).unwrap();
    stateplane_testkit::wait::until_async(
        &format!("Flink to report parallelism {p} on every vertex"),
        Duration::from_secs(30),
        || async {
            let d = flink.job(&id).await.map_err(|e| e.to_string())?;
            let vs: Vec<u32> = d
                .map(|d| d.vertices.iter().map(|v| v.parallelism).collect())
                .unwrap_or_default();
            if !vs.is_empty() && vs.iter().all(|v| *v == p) {
                Ok(())
            } else {
                Err(format!("{vs:?}"))
            }
        },
    )
    .await;
}

async fn events(api: &Api, base: &str, dep: &str) -> Vec<(String, String)> {
    let v = api.get(format!("{base}/events?deploymentId={dep}")).await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["spec"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn job_count(jobs: &Value) -> usize {
    jobs["items"].as_array().unwrap().len()
}

async fn wait_scheduler(api: &Api, base: &str, scheduler: &str) {
    api.wait(
        format!("{base}/deployment-targets/default"),
        &format!("the default target to report the {scheduler} scheduler"),
        |t| t["status"]["scheduler"] == scheduler,
    )
    .await;
}

/// The counters' state continued: no key started counting at 1 twice, and counts went on after
/// `before` lines (waits until each key printed a higher count than it had).
async fn counters_continue(stdout: &Path, tag: &str, before: usize) {
    let snapshot = printed(stdout, tag);
    let highest = |lines: &[(u64, u64)], key: u64| {
        lines
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, c)| *c)
            .max()
            .unwrap_or(0)
    };
    let keys: Vec<u64> = {
        let mut k: Vec<u64> = snapshot[..before.min(snapshot.len())]
            .iter()
            .map(|(k, _)| *k)
            .collect();
        k.sort_unstable();
        k.dedup();
        k
    };
    assert!(
        !keys.is_empty(),
        "the job printed nothing before the rescale"
    );
    let at_rescale: Vec<u64> = keys
        .iter()
        .map(|k| highest(&snapshot[..before], *k))
        .collect();
    stateplane_testkit::wait::until(
        "every key to count past its count at the rescale",
        Duration::from_secs(60),
        || {
            let now = printed(stdout, tag);
            let behind: Vec<u64> = keys
                .iter()
                .zip(&at_rescale)
                .filter(|(k, c)| highest(&now, **k) <= **c)
                .map(|(k, _)| *k)
                .collect();
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!("keys {behind:?} not past their counts yet"))
            }
        },
    );
    let lines = printed(stdout, tag);
    for k in keys {
        let restarts = lines.iter().filter(|(key, c)| *key == k && *c == 1).count();
        assert_eq!(
            restarts, 1,
            "key {k} counted from 1 again: its state was lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_one_two_one_then_an_artifact_change_upgrades() {
    let cluster = adaptive();
    let flink = stateplane_flink::FlinkClient::new(cluster.rest_url()).unwrap();
    let dir = stateplane_testkit::temp_dir();
    let api = Api::new();
    let s = Server::start(&dir.path().join("data"), cluster.rest_url());
    let base = s.base.clone();
    wait_scheduler(&api, &base, "adaptive").await;
    let jar = cluster.example_jar();
    let d = api
        .post(
            format!("{base}/deployments"),
            deployment_body("rs", &jar, dir.path(), 1),
        )
        .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    let job = running_version(&api, &base, "rs", 1).await;
    let job_id = job["metadata"]["id"].as_str().unwrap().to_string();
    let stdout = cluster.taskmanager_stdout();
    stateplane_testkit::wait::until(
        "the job to print",
        Duration::from_secs(60),
        || match printed(&stdout, "rs").len() {
            n if n >= 10 => Ok(()),
            n => Err(format!("{n} lines")),
        },
    );

    // 1 → 2 through the API.
    let before = printed(&stdout, "rs").len();
    api.patch(
        format!("{base}/deployments/rs"),
        json!({"spec": {"template": {"spec": {"parallelism": 2}}}}),
    )
    .await;
    let j = running_version(&api, &base, "rs", 2).await;
    assert_eq!(
        j["metadata"]["id"],
        job_id.as_str(),
        "the same Job resource"
    );
    assert_eq!(j["spec"]["parallelism"], 2, "{j}");
    flink_parallelism(&flink, &job_id, 2).await;
    counters_continue(&stdout, "rs", before).await;

    // 2 → 1 through the CLI, waiting.
    let before = printed(&stdout, "rs").len();
    let server_url = base.split("/api/").next().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stateplane"))
        .args([
            "--server",
            &server_url,
            "deployment",
            "scale",
            "rs",
            "--parallelism",
            "1",
            "--wait",
            "--timeout",
            "90s",
        ])
        .env_remove("STATEPLANE_SERVER")
        .env_remove("STATEPLANE_TOKEN")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("rescaled in place"), "{said}");
    let j = running_version(&api, &base, "rs", 3).await;
    assert_eq!(
        j["metadata"]["id"],
        job_id.as_str(),
        "the same Job resource"
    );
    flink_parallelism(&flink, &job_id, 1).await;
    counters_continue(&stdout, "rs", before).await;

    let jobs = api.get(format!("{base}/jobs?deploymentId={dep}")).await;
    assert_eq!(job_count(&jobs), 1, "one job all along: {jobs}");
    let sps = api
        .get(format!("{base}/savepoints?deploymentId={dep}"))
        .await;
    assert_eq!(
        sps["items"].as_array().unwrap().len(),
        0,
        "no savepoint resource: {sps}"
    );
    let evs = events(&api, &base, &dep).await;
    assert_eq!(
        evs.iter().filter(|(n, _)| n == "RESCALED_IN_PLACE").count(),
        2,
        "{evs:?}"
    );

    // A savepoint now carries the spec version the job runs.
    let sp = api
        .post(
            format!("{base}/savepoints"),
            json!({"metadata": {"deploymentId": dep}}),
        )
        .await;
    let sp_id = sp["metadata"]["id"].as_str().unwrap().to_string();
    let sp = api
        .wait(format!("{base}/savepoints/{sp_id}"), "the savepoint", |v| {
            v["status"]["state"] == "COMPLETED"
        })
        .await;
    assert_eq!(
        sp["metadata"]["annotations"][stateplane_model::SPEC_VERSION_ANNOTATION],
        "3",
        "{sp}"
    );

    // Parallelism and artifact together: the STATEFUL upgrade, with the reason in an event.
    // (A per-vertex override of the counter: the example's source keeps the one split it started with,
    // so a new job restored at source parallelism 2 would never run all of its tasks.)
    let overrides = "5b61d6019ab04da71a4e62533c1a8c40:2";
    api.patch(
        format!("{base}/deployments/rs"),
        json!({"spec": {"template": {"spec": {
            "artifact": {"mainArgs": "25 --tag rs"},
            "flinkConfiguration": {"pipeline.jobvertex-parallelism-overrides": overrides}}}}}),
    )
    .await;
    let j = running_version(&api, &base, "rs", 4).await;
    assert_ne!(j["metadata"]["id"], job_id.as_str(), "a new job");
    let sps = api
        .get(format!("{base}/savepoints?deploymentId={dep}"))
        .await;
    assert_eq!(origin_count(&sps, "SUSPEND_AND_UPGRADE"), 1, "{sps}");
    let evs = events(&api, &base, &dep).await;
    assert!(
        evs.iter()
            .any(|(n, m)| n == "RESCALE_IN_PLACE_NOT_POSSIBLE" && m.contains("artifact")),
        "{evs:?}"
    );
    api.patch(
        format!("{base}/deployments/rs"),
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    api.wait(format!("{base}/deployments/rs"), "CANCELLED", |d| {
        d["status"]["state"] == "CANCELLED"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_an_in_place_rescale_converges() {
    let cluster = adaptive();
    let flink = stateplane_flink::FlinkClient::new(cluster.rest_url()).unwrap();
    let dir = stateplane_testkit::temp_dir();
    let data = dir.path().join("data");
    let api = Api::new();
    let url = cluster.rest_url();
    let s = Server::start(&data, url);
    wait_scheduler(&api, &s.base, "adaptive").await;
    let d = api
        .post(
            format!("{}/deployments", s.base),
            deployment_body("rk", &cluster.example_jar(), dir.path(), 1),
        )
        .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    let job = running_version(&api, &s.base, "rk", 1).await;
    let job_id = job["metadata"]["id"].as_str().unwrap().to_string();
    s.kill9();

    let points = [
        "rescale.after_intent",
        "rescale.after_requirements",
        "rescale.after_job_spec",
    ];
    for (i, point) in points.iter().enumerate() {
        let p = if i % 2 == 0 { 2 } else { 1 };
        let s = api
            .patch_until_crash(
                (&data, url),
                point,
                "rk",
                json!({"spec": {"template": {"spec": {"parallelism": p}}}}),
                CRASH,
            )
            .await;
        let version = i as u64 + 2;
        let j = running_version(&api, &s.base, "rk", version).await;
        assert_eq!(
            j["metadata"]["id"],
            job_id.as_str(),
            "{point}: the same job"
        );
        flink_parallelism(&flink, &job_id, p).await;
        let jobs = api.get(format!("{}/jobs?deploymentId={dep}", s.base)).await;
        assert_eq!(job_count(&jobs), 1, "{point}: never a second job: {jobs}");
        let flink_id = stateplane_flink::FlinkJobId::parse(&job_id.replace('-', "")).unwrap();
        let state = flink.job_status(&flink_id).await.unwrap();
        assert_eq!(
            state,
            Some(stateplane_flink::JobState::Running),
            "{point}: the same Flink job runs"
        );
        let sps = api
            .get(format!("{}/savepoints?deploymentId={dep}", s.base))
            .await;
        assert_eq!(sps["items"].as_array().unwrap().len(), 0, "{point}: {sps}");
        s.kill9();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_scheduler_is_a_stateful_upgrade() {
    let cluster = shared_cluster();
    let dir = stateplane_testkit::temp_dir();
    let api = Api::new();
    let s = Server::start(&dir.path().join("data"), cluster.rest_url());
    let base = s.base.clone();
    wait_scheduler(&api, &base, "default").await;
    let d = api
        .post(
            format!("{base}/deployments"),
            deployment_body("rd", &cluster.example_jar(), dir.path(), 2),
        )
        .await;
    let dep = d["metadata"]["id"].as_str().unwrap().to_string();
    let job = running_version(&api, &base, "rd", 1).await;
    api.patch(
        format!("{base}/deployments/rd"),
        json!({"spec": {"template": {"spec": {"parallelism": 1}}}}),
    )
    .await;
    let j = running_version(&api, &base, "rd", 2).await;
    assert_ne!(j["metadata"]["id"], job["metadata"]["id"], "a new job");
    let sps = api
        .get(format!("{base}/savepoints?deploymentId={dep}"))
        .await;
    assert_eq!(origin_count(&sps, "SUSPEND_AND_UPGRADE"), 1, "{sps}");
    let evs = events(&api, &base, &dep).await;
    assert!(
        evs.iter()
            .any(|(n, m)| n == "RESCALE_IN_PLACE_NOT_POSSIBLE" && m.contains("default scheduler")),
        "{evs:?}"
    );
    api.patch(
        format!("{base}/deployments/rd"),
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    api.wait(format!("{base}/deployments/rd"), "CANCELLED", |d| {
        d["status"]["state"] == "CANCELLED"
    })
    .await;
}
