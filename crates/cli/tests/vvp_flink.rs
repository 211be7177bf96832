//! Ververica tooling against the real binary and a real Flink, plain HTTP only:
//! - a secret value referenced in `flinkConfiguration` under a key Flink does not mask reaches the job
//!   (Flink's own job configuration shows it), while no API answer, event, log line, database file or
//!   UI page of stateplane holds its text, and a viewer token cannot read it; a secret value deleted
//!   after the deployment was accepted fails the next start at once, with a reason naming it;
//! - the flow a third-party client runs: create a target, PUT a YAML manifest by name with
//!   Ververica-only fields, poll until RUNNING, PUT a changed template (a stateful upgrade, checked in
//!   Flink's view of what the new job restored), PATCH `CANCELLED`, DELETE — each answer the status
//!   code a Ververica client expects (DELETE: 200, as Ververica's, while the deployment's savepoint
//!   data is disposed of, then 404).
//!
//! - `status.running.conditions`: `JobFailing` while Flink restarts a failing job, `ClusterUnreachable`
//!   while the target does not answer (shown by `stateplane deployment get` and in `/metrics`), and
//!   cleared when it answers again.
//!
//! The tests share this binary's Flink cluster; each has its own server and data dir.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

mod vvp;
use stateplane_testkit::wait::until_async;
use vvp::{poll, send, spawn, wait_gone, T};

fn flink_job(d: &Value) -> String {
    d["status"]["running"]["jobId"]
        .as_str()
        .unwrap_or_default()
        .replace('-', "")
}

/// The example job's artifact and the directories it needs, as a Ververica manifest carries them.
fn template(name: &str, jar: &Path, dir: &Path, extra_conf: Value) -> Value {
    let mut conf = json!({
        "execution.checkpointing.savepoint-dir": format!("file://{}", dir.join(format!("{name}-sp")).display()),
        "execution.checkpointing.dir": format!("file://{}", dir.join(format!("{name}-ck")).display()),
        "execution.checkpointing.interval": "1s"
    });
    stateplane_model::merge::merge_patch(&mut conf, &extra_conf);
    json!({"spec": {
        "artifact": {"kind": "JAR", "jarUri": format!("file://{}", jar.display()),
                     "entryClass": "io.stateplane.examples.StatefulCounter", "mainArgs": format!("20 --tag {name}")},
        "parallelism": 1,
        "flinkConfiguration": conf
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_value_reaches_flink_and_nothing_else() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let flink = cluster.rest_url().to_string();
    let jar = cluster.example_jar();
    let dir = stateplane_testkit::temp_dir();
    let data = dir.path().join("data");
    let p = spawn(&data, &["--auth"]);
    let c = reqwest::Client::new();
    let ns = format!("{}/api/v1/namespaces/default", p.base);

    // The admin hands out an owner and a viewer token.
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let admin = admin.trim();
    let mut tokens = Vec::new();
    for (name, role) in [("lead", "owner"), ("watcher", "viewer")] {
        let (s, b) = send(
            c.post(format!(
                "{}/apitokens/v1/namespaces/default/apitokens",
                p.base
            ))
            .bearer_auth(admin)
            .json(&json!({"name": name, "role": role})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        tokens.push(b["apiToken"]["secret"].as_str().unwrap().to_string());
    }
    let (owner, viewer) = (tokens[0].as_str(), tokens[1].as_str());

    let (s, b) = send(
        c.put(format!("{ns}/deployment-targets/session"))
            .bearer_auth(owner)
            .json(&json!({"spec": {"flinkSessionCluster": {"restUrl": flink}}})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let secret = "tenant-7Qx-secret-9f2c41";
    let later_secret = "later-8Kd-secret-55a0e3";
    for (name, value) in [("TENANT_LABEL", secret), ("LATER", later_secret)] {
        let (s, b) = send(
            c.post(format!("{ns}/secret-values"))
                .bearer_auth(owner)
                .json(
                    &json!({"metadata": {"name": name}, "spec": {"kind": "PLAIN", "value": value}}),
                ),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }

    // `pipeline.global-job-parameters` is no key Flink masks, nor is `tenant.label` inside it: Flink
    // shows the job's value in clear, which proves the substitution.
    let reference = "tenant.label:${TENANT_LABEL}";
    let spec = json!({
        "state": "RUNNING", "deploymentTargetName": "session",
        "template": template("withsecret", &jar, dir.path(),
            json!({"pipeline.global-job-parameters": reference}))
    });
    let (s, b) = send(
        c.put(format!("{ns}/deployments/withsecret"))
            .bearer_auth(owner)
            .json(&json!({"spec": spec})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let d = poll(
        &c,
        &format!("{ns}/deployments/withsecret"),
        Some(owner),
        "deployment withsecret RUNNING",
        |d| d["status"]["state"] == "RUNNING",
    )
    .await;
    let job = flink_job(&d);
    let (s, config) = send(c.get(format!("{flink}/jobs/{job}/config"))).await;
    assert_eq!(s, 200, "{config}");
    assert_eq!(
        config["execution-config"]["user-config"]["tenant.label"], secret,
        "Flink's job configuration has the substituted value: {config}"
    );

    // A viewer reads the deployment (with the reference) but no secret value.
    let (s, b) = send(
        c.get(format!("{ns}/secret-values/TENANT_LABEL"))
            .bearer_auth(viewer),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = send(c.get(format!("{ns}/secret-values")).bearer_auth(viewer)).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = send(
        c.get(format!("{ns}/deployments/withsecret"))
            .bearer_auth(viewer),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["spec"]["template"]["spec"]["flinkConfiguration"]["pipeline.global-job-parameters"],
        reference
    );

    // A secret value deleted after the deployment was accepted: the next start fails at once, with a
    // reason naming the field and the secret, and Flink gets no job.
    let spec = json!({
        "state": "CANCELLED", "deploymentTargetName": "session", "maxJobCreationAttempts": 4,
        "template": template("later", &jar, dir.path(),
            json!({"pipeline.global-job-parameters": "later.label:${LATER}"}))
    });
    let (s, b) = send(
        c.put(format!("{ns}/deployments/later"))
            .bearer_auth(owner)
            .json(&json!({"spec": spec})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = send(
        c.delete(format!("{ns}/secret-values/LATER"))
            .bearer_auth(owner),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = send(
        c.patch(format!("{ns}/deployments/later"))
            .bearer_auth(owner)
            .json(&json!({"spec": {"state": "RUNNING"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let d = poll(
        &c,
        &format!("{ns}/deployments/later"),
        Some(owner),
        "deployment later FAILED",
        |d| d["status"]["state"] == "FAILED",
    )
    .await;
    let failure = &d["status"]["failure"];
    let message = failure["message"].as_str().unwrap_or_default();
    assert_eq!(failure["reason"], "JOB_SUBMISSION_FAILED", "{d}");
    assert!(
        message.contains("LATER") && message.contains("pipeline.global-job-parameters"),
        "{message}"
    );
    let later_id = d["metadata"]["id"].as_str().unwrap().to_string();
    let (_, jobs) = send(
        c.get(format!("{ns}/jobs?deploymentId={later_id}"))
            .bearer_auth(owner),
    )
    .await;
    let jobs = jobs["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 1, "one attempt, not retried: {jobs:?}");
    let attempt = jobs[0]["metadata"]["id"].as_str().unwrap().replace('-', "");
    let (s, _) = send(c.get(format!("{flink}/jobs/{attempt}"))).await;
    assert_eq!(s, 404, "Flink has no job of the refused start");

    // Nowhere in stateplane: every answer the UI and a client read, the UI's pages, the log, the
    // database files.
    let mut seen = String::new();
    for path in [
        "deployments",
        "deployments/withsecret",
        "deployments/later",
        "jobs",
        "events",
        "savepoints",
        "secret-values",
        "secret-values/TENANT_LABEL",
        "deployment-targets",
    ] {
        for token in [owner, viewer] {
            let (_, b) = send(c.get(format!("{ns}/{path}")).bearer_auth(token)).await;
            seen.push_str(&b.to_string());
        }
    }
    for page in [
        "/ui/namespaces/default/deployments".to_string(),
        format!(
            "/ui/namespaces/default/deployments/{}",
            d["metadata"]["id"].as_str().unwrap()
        ),
        "/ui/namespaces/default/deployments/withsecret".to_string(),
        "/metrics".to_string(),
    ] {
        let r = c
            .get(format!("{}{page}", p.base))
            .bearer_auth(owner)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{page}");
        seen.push_str(&r.text().await.unwrap());
    }
    assert!(seen.contains("${TENANT_LABEL}"), "the answers were read");
    for text in [secret, later_secret] {
        assert!(!seen.contains(text), "an answer holds {text}");
        let log = p.log.lock().unwrap();
        assert!(log.len() > 50, "the debug log was read");
        assert!(
            !log.iter().any(|l| l.contains(text)),
            "the log holds {text}"
        );
    }
    let mut files = vec![data.clone()];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            for text in [secret, later_secret] {
                assert!(
                    !bytes.windows(text.len()).any(|w| w == text.as_bytes()),
                    "{} holds {text}",
                    path.display()
                );
            }
            scanned += 1;
        }
    }
    assert!(scanned >= 2, "the database files were scanned");
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: Deployment
metadata:
  name: clicks
  displayName: Clicks per user
  labels: {team: growth}
spec:
  state: RUNNING
  deploymentTargetName: session
  upgradeStrategy: {kind: STATEFUL}
  restoreStrategy: {kind: LATEST_STATE, allowNonRestoredState: false}
  maxSavepointCreationAttempts: 4
  maxJobCreationAttempts: 4
  template:
    metadata:
      annotations:
        flink.queryable-state.enabled: 'false'
    spec:
      artifact:
        kind: JAR
        jarUri: JAR_URI
        entryClass: io.stateplane.examples.StatefulCounter
        mainArgs: 20 --tag clicks-v1
        flinkVersion: 2.3
        flinkImageRegistry: registry.ververica.com
        flinkImageRepository: v2.12/flink
        flinkImageTag: 2.3.0-stream1-java17
      parallelism: 1
      numberOfTaskManagers: 1
      resources:
        jobmanager: {cpu: 1, memory: 1g}
        taskmanager: {cpu: 1.5, memory: 2g}
      logging:
        loggingProfile: default
        log4jLoggers: {"": INFO}
      kubernetes:
        pods:
          nodeSelector: {pool: streaming}
      flinkConfiguration:
        execution.checkpointing.interval: 1s
        execution.checkpointing.savepoint-dir: SP_DIR
        execution.checkpointing.dir: CK_DIR
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_client_drives_a_deployment_with_plain_http() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let flink = cluster.rest_url().to_string();
    let dir = stateplane_testkit::temp_dir();
    let p = spawn(&dir.path().join("data"), &[]);
    let c = reqwest::Client::new();
    let ns = format!("{}/api/v1/namespaces/default", p.base);
    let manifest = MANIFEST
        .replace(
            "JAR_URI",
            &format!("file://{}", cluster.example_jar().display()),
        )
        .replace(
            "SP_DIR",
            &format!("file://{}", dir.path().join("sp").display()),
        )
        .replace(
            "CK_DIR",
            &format!("file://{}", dir.path().join("ck").display()),
        );
    let yaml = |method: reqwest::Method, body: String| {
        c.request(method, format!("{ns}/deployments/clicks"))
            .header("content-type", "application/yaml")
            .header("accept", "application/json")
            .body(body)
    };

    // 1. the target, by PUT (201 created)
    let (s, b) = send(
        c.put(format!("{ns}/deployment-targets/session"))
            .header("content-type", "application/yaml")
            .body(format!(
                "kind: DeploymentTarget\nmetadata:\n  name: session\nspec:\n  flinkSessionCluster:\n    restUrl: {flink}\n"
            )),
    )
    .await;
    assert_eq!(s, 201, "{b}");

    // 2. the manifest by name (201 created), Ververica-only fields kept as sent
    let (s, d) = send(yaml(reqwest::Method::PUT, manifest.clone())).await;
    assert_eq!(s, 201, "{d}");
    let t = &d["spec"]["template"]["spec"];
    assert_eq!(t["artifact"]["flinkImageTag"], "2.3.0-stream1-java17");
    assert_eq!(t["artifact"]["flinkVersion"], "2.3");
    assert_eq!(t["kubernetes"]["pods"]["nodeSelector"]["pool"], "streaming");
    assert_eq!(t["resources"]["taskmanager"]["memory"], "2g");
    let id = d["metadata"]["id"].as_str().unwrap().to_string();

    // 3. poll until RUNNING (every poll a 200)
    let d = poll(
        &c,
        &format!("{ns}/deployments/clicks"),
        None,
        "deployment clicks RUNNING",
        |d| d["status"]["state"] == "RUNNING",
    )
    .await;
    let job1 = flink_job(&d);
    assert_eq!(job1.len(), 32, "{d}");

    // 4. a changed template by PUT (200 replaced): a stateful upgrade, the new job restored from the
    // upgrade's savepoint
    let (s, d) = send(yaml(
        reqwest::Method::PUT,
        manifest.replace("--tag clicks-v1", "--tag clicks-v2"),
    ))
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["metadata"]["id"], id.as_str());
    let d = poll(
        &c,
        &format!("{ns}/deployments/clicks"),
        None,
        "the upgraded job RUNNING",
        |d| d["status"]["state"] == "RUNNING" && !flink_job(d).is_empty() && flink_job(d) != job1,
    )
    .await;
    let job2 = flink_job(&d);
    let (s, sps) = send(c.get(format!("{ns}/savepoints?deploymentId={id}"))).await;
    assert_eq!(s, 200, "{sps}");
    let upgrade = sps["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metadata"]["origin"] == "SUSPEND_AND_UPGRADE")
        .unwrap_or_else(|| panic!("no upgrade savepoint: {sps}"));
    assert_eq!(upgrade["status"]["state"], "COMPLETED", "{upgrade}");
    let location = upgrade["spec"]["savepointLocation"].as_str().unwrap();
    let restored = until_async("Flink to say what the new job restored", T, || async {
        let (s, b) = send(c.get(format!("{flink}/jobs/{job2}/checkpoints"))).await;
        match b["latest"]["restored"]["external_path"].as_str() {
            Some(p) if s == 200 => Ok(p.to_string()),
            _ => Err(format!("{s} {b}")),
        }
    })
    .await;
    assert_eq!(
        stateplane_model::normalize_location(&restored),
        stateplane_model::normalize_location(location)
    );

    // 5. cancel by PATCH (200), then poll until CANCELLED
    let (s, b) = send(
        c.patch(format!("{ns}/deployments/clicks"))
            .json(&json!({"spec": {"state": "CANCELLED"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["spec"]["state"], "CANCELLED");
    poll(
        &c,
        &format!("{ns}/deployments/clicks"),
        None,
        "deployment clicks CANCELLED",
        |d| d["status"]["state"] == "CANCELLED",
    )
    .await;
    let (s, b) = send(c.get(format!("{flink}/jobs/{job2}/status"))).await;
    assert_eq!((s, &b["status"]), (200, &json!("CANCELED")), "{b}");

    // 6. DELETE, then the deployment is gone (404). Its upgrade savepoint's data is stateplane's to
    // dispose of first, then the deletion: the answer is Ververica's 200 all the same (its swagger
    // lists 200 and 204), the annotations saying that the deletion waits for the disposal.
    let (s, b) = send(c.delete(format!("{ns}/deployments/clicks"))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["metadata"]["annotations"]["stateplane.io/deletion"], "disposing-snapshot-data",
        "{b}"
    );
    assert!(
        b["metadata"]["annotations"]["stateplane.io/snapshot-data"]
            .as_str()
            .is_some_and(|a| a.contains("being deleted")),
        "{b}"
    );
    wait_gone(
        &c,
        &format!("{ns}/deployments/clicks"),
        "the deployment to be gone",
    )
    .await;
}

/// The condition of this type in the deployment's `status.running.conditions`, if any.
fn condition<'a>(d: &'a Value, t: &str) -> Option<&'a Value> {
    d["status"]["running"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_say_when_the_cluster_does_not_answer_and_the_job_restarts() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let flink = cluster.rest_url().to_string();
    let jar = cluster.example_jar();
    let dir = stateplane_testkit::temp_dir();
    let p = spawn(&dir.path().join("data"), &[]);
    let c = reqwest::Client::new();
    let ns = format!("{}/api/v1/namespaces/default", p.base);
    let target = |url: &str| {
        c.put(format!("{ns}/deployment-targets/session"))
            .json(&json!({"spec": {"flinkSessionCluster": {"restUrl": url}}}))
    };
    let (s, b) = send(target(&flink)).await;
    assert_eq!(s, 201, "{b}");
    let mut failing = template("failing", &jar, dir.path(), json!({}));
    failing["spec"]["artifact"]["mainArgs"] = json!("20 --tag failing --fail-after 30");
    for (name, template) in [
        ("steady", template("steady", &jar, dir.path(), json!({}))),
        ("failing", failing),
    ] {
        let spec =
            json!({"state": "RUNNING", "deploymentTargetName": "session", "template": template});
        let (s, b) = send(
            c.put(format!("{ns}/deployments/{name}"))
                .json(&json!({"spec": spec})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    let d = poll(
        &c,
        &format!("{ns}/deployments/steady"),
        None,
        "steady RUNNING",
        |d| d["status"]["state"] == "RUNNING",
    )
    .await;
    assert!(
        condition(&d, "ClusterUnreachable").is_none(),
        "a healthy job has no conditions: {d}"
    );

    // The job that fails every 30 records: Flink's restart strategy restarts it, JobFailing says so.
    let d = poll(
        &c,
        &format!("{ns}/deployments/failing"),
        None,
        "JobFailing True",
        |d| condition(d, "JobFailing").is_some_and(|c| c["status"] == "True"),
    )
    .await;
    let failing = condition(&d, "JobFailing").unwrap();
    assert_eq!(failing["reason"], "JobRestarting", "{failing}");
    assert!(failing["lastTransitionTime"].is_string(), "{failing}");
    assert_eq!(d["status"]["state"], "RUNNING", "Flink's own restarts: {d}");

    // The cluster stops answering (the target now points where nothing listens).
    let (s, b) = send(target("http://127.0.0.1:9")).await;
    assert_eq!(s, 200, "{b}");
    let d = poll(
        &c,
        &format!("{ns}/deployments/steady"),
        None,
        "ClusterUnreachable True",
        |d| condition(d, "ClusterUnreachable").is_some_and(|c| c["status"] == "True"),
    )
    .await;
    let down = condition(&d, "ClusterUnreachable").unwrap().clone();
    assert!(
        down["message"]
            .as_str()
            .unwrap()
            .contains("does not answer"),
        "{down}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_stateplane"))
        .args(["--server", &p.base, "deployment", "get", "steady"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && shown.contains("ClusterUnreachable=True (FlinkNotAnswering"),
        "{shown}"
    );
    let metrics = c
        .get(format!("{}/metrics", p.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Both deployments run on the target: at least this one is counted.
    let series = "stateplane_deployment_conditions{type=\"ClusterUnreachable\",status=\"True\"} ";
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} in\n{metrics}"));
    assert!((1..=2).contains(&counted), "{counted}");

    // It answers again: the condition clears, with a later transition time.
    let (s, b) = send(target(&flink)).await;
    assert_eq!(s, 200, "{b}");
    let d = poll(
        &c,
        &format!("{ns}/deployments/steady"),
        None,
        "ClusterUnreachable False",
        |d| condition(d, "ClusterUnreachable").is_some_and(|c| c["status"] == "False"),
    )
    .await;
    let up = condition(&d, "ClusterUnreachable").unwrap();
    assert!(
        up["lastTransitionTime"].as_str() > down["lastTransitionTime"].as_str(),
        "{up} after {down}"
    );
    assert_eq!(d["status"]["state"], "RUNNING");
    for name in ["steady", "failing"] {
        let (s, _) = send(
            c.patch(format!("{ns}/deployments/{name}"))
                .json(&json!({"spec": {"state": "CANCELLED"}})),
        )
        .await;
        assert_eq!(s, 200);
    }
}
