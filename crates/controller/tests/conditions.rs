//! `status.running.conditions` against a real Flink 2.3 cluster, each checked against what Flink does:
//! a job that keeps failing and restarting (JobFailing, with Flink's root cause, and False again while
//! it runs), a job whose checkpoints cannot complete (CheckpointsFailing), and a cluster that stops
//! answering and answers again (ClusterUnreachable). The three run at once on one cluster; the
//! Prometheus gauges count what the API shows.

mod common;

use std::time::Duration;

use common::Harness;
use serde_json::{json, Value};
use stateplane_flink::{FlinkJobId, JobState};

const T: Duration = Duration::from_secs(120);

fn condition<'a>(d: &'a Value, kind: &str) -> Option<&'a Value> {
    d["status"]["running"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn is(d: &Value, kind: &str, status: &str) -> bool {
    condition(d, kind).is_some_and(|c| c["status"] == status)
}

async fn gauge(h: &Harness, kind: &str) -> Option<u64> {
    let text = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let series = format!("stateplane_deployment_conditions{{type=\"{kind}\",status=\"True\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|n| n.trim().parse().ok())
}

/// Replaces target `flaky` (PUT, as Ververica's API does) so that it points at `url`.
async fn point_target(h: &Harness, url: &str) {
    let r = h
        .http
        .put(h.url("deployment-targets/flaky"))
        .json(&json!({"metadata": {"name": "flaky"}, "spec": {"flinkSessionCluster": {"restUrl": url}}}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
}

fn flink_job(d: &Value) -> FlinkJobId {
    let id = d["status"]["running"]["jobId"]
        .as_str()
        .unwrap()
        .replace('-', "");
    FlinkJobId::parse(&id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_say_what_flink_does() {
    let h = Harness::start().await;
    let cluster_url = h.flink.rest_url().to_string();
    let (s, b) = h
        .post(
            "deployment-targets",
            json!({"metadata": {"name": "flaky"}, "spec": {"flinkSessionCluster": {"restUrl": cluster_url}}}),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");

    // Fails after 60 records (3 s at 20/s) every time it (re)starts; Flink restarts it after 3 s.
    h.create_deployment(
        "failing",
        json!({"template": {"spec": {
            "artifact": {"mainArgs": "20 --tag failing --fail-after 60"},
            "flinkConfiguration": {
                "restart-strategy.type": "fixed-delay",
                "restart-strategy.fixed-delay.attempts": "1000",
                "restart-strategy.fixed-delay.delay": "3 s"
            }
        }}}),
    )
    .await;
    // Checkpoints of 24 MiB of state cannot complete in Flink's shortest timeout (10 ms); the job
    // tolerates the failures and keeps running.
    h.create_deployment(
        "no-checkpoints",
        json!({"template": {"spec": {
            "artifact": {"mainArgs": "20 --tag no-checkpoints --state-kib 24576"},
            "flinkConfiguration": {
                "execution.checkpointing.timeout": "10 ms",
                "execution.checkpointing.tolerable-failed-checkpoints": "100000"
            }
        }}}),
    )
    .await;
    h.create_deployment("unreachable", json!({"deploymentTargetName": "flaky"}))
        .await;
    for name in ["failing", "no-checkpoints", "unreachable"] {
        h.wait_state(name, "RUNNING", T).await;
    }

    // JobFailing: True with Flink's root cause while Flink restarts the job ...
    let d = h
        .wait_for("failing", "JobFailing True", T, |d| {
            is(d, "JobFailing", "True")
        })
        .await;
    let c = condition(&d, "JobFailing").unwrap();
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("deliberate failure"),
        "{c}"
    );
    assert!(c["lastTransitionTime"].is_string(), "{c}");
    let events = h
        .wait_event("failing", "DEPLOYMENT_CONDITION_CHANGED")
        .await;
    assert!(events.contains("JobFailing is True"), "{events}");
    // ... which Flink confirms: the job has restarted.
    let flink = h.flink.job_exceptions(&flink_job(&d)).await.unwrap();
    assert!(
        flink
            .as_deref()
            .unwrap_or("")
            .contains("deliberate failure"),
        "{flink:?}"
    );
    // ... and False again once Flink runs it, kept in the list.
    h.wait_for("failing", "JobFailing False again", T, |d| {
        is(d, "JobFailing", "False")
    })
    .await;

    // CheckpointsFailing: True once no checkpoint completed for 10 s (three 1 s intervals, at
    // least 10 s), with the number of failures Flink counted.
    let d = h
        .wait_for("no-checkpoints", "CheckpointsFailing True", T, |d| {
            is(d, "CheckpointsFailing", "True")
        })
        .await;
    let message = condition(&d, "CheckpointsFailing").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("failed so far"), "{message}");
    let stats = h.flink.checkpoints(&flink_job(&d)).await.unwrap();
    assert!(
        stats.counts.failed > 0 && stats.latest_completed.is_none(),
        "{stats:?}"
    );
    assert_eq!(
        h.flink.job_status(&flink_job(&d)).await.unwrap(),
        Some(JobState::Running),
        "the job keeps running"
    );
    // The gauge counts it (and nothing else has that condition).
    stateplane_testkit::wait::until_async("CheckpointsFailing gauge 1", T, || async {
        match gauge(&h, "CheckpointsFailing").await {
            Some(1) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // ClusterUnreachable: the target's cluster stops answering (its URL now points at a closed
    // port), then answers again.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    point_target(&h, &dead).await;
    let d = h
        .wait_for("unreachable", "ClusterUnreachable True", T, |d| {
            is(d, "ClusterUnreachable", "True")
        })
        .await;
    assert_eq!(
        d["status"]["state"], "RUNNING",
        "the job is not given up: {d}"
    );
    stateplane_testkit::wait::until_async("ClusterUnreachable gauge 1", T, || async {
        match gauge(&h, "ClusterUnreachable").await {
            Some(1) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Flink itself runs the job all along.
    assert_eq!(
        h.flink.job_status(&flink_job(&d)).await.unwrap(),
        Some(JobState::Running)
    );
    point_target(&h, &cluster_url).await;
    h.wait_for("unreachable", "ClusterUnreachable False", T, |d| {
        is(d, "ClusterUnreachable", "False")
    })
    .await;

    for name in ["failing", "no-checkpoints", "unreachable"] {
        let (s, b) = h
            .patch(
                &format!("deployments/{name}"),
                json!({"spec": {"state": "CANCELLED"}}),
            )
            .await;
        assert!(s.is_success(), "{s} {b}");
    }
    for name in ["failing", "no-checkpoints", "unreachable"] {
        h.wait_state(name, "CANCELLED", T).await;
    }
}
