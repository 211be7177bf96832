//! Real answers of the binary, with a real Flink job running, validated against Ververica Platform's
//! own API definitions (`tests/reference/vvp-appmanager-api-2.1.0.swagger.json`, the document
//! Ververica's generated clients are built from): deployment get/list, PUT create/replace, deployment
//! target get/list, savepoint get/list, job get/list, event list, secret value get/list, status and
//! system information, PATCH and DELETE.
//!
//! Each body is checked with a draft-4 JSON Schema validator over the swagger document's
//! `definitions` (swagger 2.0 schemas are draft 4 plus `format`s of their own; `uuid` and
//! `date-time` are asserted), so a wrong type, an enum value Ververica does not know or a missing
//! required field fails here. Each status code must be one the swagger lists for that operation
//! (Ververica's 2.4+ PUT upsert is not in the 2.1 document: 201 create, 200 replace, as its POST and
//! PATCH answer). Fields of ours the definitions do not have are fine: none of them forbids extra
//! properties. The only accepted differences are in [`DELIBERATE`], each with its reason (the README's
//! "Ververica API compatibility" section lists them too).

use serde_json::{json, Value};

mod vvp;
use vvp::{poll, send, spawn, wait_gone};

/// Ververica's document, kept beside the tests so that they do not depend on a path outside the
/// checkout.
const SWAGGER: &str = include_str!("reference/vvp-appmanager-api-2.1.0.swagger.json");

/// Differences from Ververica's definitions that are stateplane's on purpose: (definition whose answer
/// may show it, JSON pointer of the value with `*` for any array index, values allowed there, why).
const DELIBERATE: &[(&str, &str, &[&str], &str)] = &[
    (
        "Savepoint",
        "/status/state",
        &["PENDING_DELETION", "DELETING", "FAILED_DELETION"],
        SAVEPOINT_DELETION,
    ),
    (
        "ResourceListOfSavepoint",
        "/items/*/status/state",
        &["PENDING_DELETION", "DELETING", "FAILED_DELETION"],
        SAVEPOINT_DELETION,
    ),
    (
    "ResourceListOfEvent",
    "/items/*/metadata/name",
    &[
        "SAVEPOINT_COMPLETED",
        "RECORDED_A_RETAINED_CHECKPOINT",
        "NO_RETAINED_CHECKPOINT",
        "NO_SNAPSHOT_TO_RESTORE_FROM",
        "UPGRADE_PREFLIGHT_FAILED",
        "UPGRADE_REFUSED",
        "JOB_FAILED",
        "SAVEPOINT_DELETED",
        "SAVEPOINT_DELETION_FAILED",
        "SAVEPOINT_EXPIRED",
        "RESCALING_IN_PLACE",
        "RESCALED_IN_PLACE",
        "RESCALE_IN_PLACE_NOT_POSSIBLE",
        "DEPLOYMENT_CONDITION_CHANGED",
        "DEPLOYMENT_DELETED",
        "AUDIT",
    ],
    "stateplane's own event codes, used only for steps none of Ververica's codes describes (README, \
     \"Events\"); every step Ververica has a code for uses Ververica's",
),
];

const SAVEPOINT_DELETION: &str = "stateplane disposes of the data of the savepoints it took when \
     their resource is deleted (Ververica's 2.1 API deletes no savepoints): these states say how far";

/// The swagger document, with one validator per definition answers are checked against.
struct Swagger {
    doc: Value,
}

impl Swagger {
    fn load() -> Self {
        Swagger {
            doc: serde_json::from_str(SWAGGER).expect("the swagger document is JSON"),
        }
    }

    /// The status codes the swagger lists for `method` on `path` (a path template of the document).
    fn codes(&self, method: &str, path: &str) -> Vec<u16> {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "the swagger has no {method} {path}");
        op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter_map(|k| k.parse().ok())
            .collect()
    }

    /// Every violation of `definition` by `body`, less the [`DELIBERATE`] ones (which are printed).
    fn violations(&self, definition: &str, body: &Value) -> Vec<String> {
        assert!(
            self.doc["definitions"][definition].is_object(),
            "no definition {definition}"
        );
        // The whole document as the root, so `#/definitions/...` refs resolve inside it.
        let schema = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "definitions": self.doc["definitions"],
            "$ref": format!("#/definitions/{definition}"),
        });
        let validator = jsonschema::draft4::options()
            .should_validate_formats(true)
            .with_format("uuid", |s: &str| uuid::Uuid::parse_str(s).is_ok())
            .with_format("date-time", |s: &str| {
                chrono::DateTime::parse_from_rfc3339(s).is_ok()
            })
            .build(&schema)
            .unwrap_or_else(|e| panic!("the swagger's {definition} is no schema: {e}"));
        let mut out = Vec::new();
        for e in validator.iter_errors(body) {
            let at = e.instance_path().to_string();
            let value = e.instance();
            let excused = DELIBERATE.iter().find(|(def, pattern, values, _)| {
                *def == definition
                    && pointer_matches(pattern, &at)
                    && value.as_str().is_some_and(|v| values.contains(&v))
            });
            match excused {
                Some((_, _, _, why)) => eprintln!("deliberate: {definition} {at} = {value}: {why}"),
                None => out.push(format!("{at}: {e} (value {value})")),
            }
        }
        out
    }

    /// Asserts that `status` is listed for the operation and that `body` is a valid `definition`.
    #[track_caller]
    fn check(
        &self,
        what: &str,
        (method, path): (&str, &str),
        status: u16,
        body: &Value,
        definition: &str,
    ) {
        let codes = self.codes(method, path);
        assert!(
            codes.contains(&status),
            "{what}: {status} is not one of the codes Ververica lists for {method} {path} ({codes:?}): {body}"
        );
        self.valid(what, definition, body);
    }

    #[track_caller]
    fn valid(&self, what: &str, definition: &str, body: &Value) {
        let v = self.violations(definition, body);
        assert!(
            v.is_empty(),
            "{what} does not validate against Ververica's {definition}:\n  {}\nbody: {body:#}",
            v.join("\n  ")
        );
    }
}

/// `pattern` is a JSON pointer whose `*` segments stand for any one segment.
fn pointer_matches(pattern: &str, at: &str) -> bool {
    let (p, a): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), at.split('/').collect());
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| *p == "*" || p == a)
}

const NS: &str = "/api/v1/namespaces/{namespace}";

fn op(method: &'static str, tail: &str) -> (&'static str, String) {
    (method, format!("{NS}{tail}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_validate_against_ververicas_definitions() {
    let sw = Swagger::load();
    // The checker catches what it is meant to (a checker that cannot fail would prove nothing).
    assert!(!sw
        .violations("Deployment", &json!({"status": {"state": "STARTING"}}))
        .is_empty());
    assert!(!sw
        .violations("Deployment", &json!({"metadata": {"id": "not-a-uuid"}}))
        .is_empty());
    assert!(!sw
        .violations(
            "DeploymentTemplateSpec",
            &json!({"flinkConfiguration": {"a": 1}})
        )
        .is_empty());
    assert!(!sw
        .violations(
            "ResourceListOfEvent",
            &json!({"items": [{"metadata": {"name": "MADE_UP"}}]})
        )
        .is_empty());

    let cluster = stateplane_testkit::flink::shared_cluster();
    let flink = cluster.rest_url().to_string();
    let jar = cluster.example_jar();
    let dir = stateplane_testkit::temp_dir();
    let p = spawn(&dir.path().join("data"), &[]);
    let c = reqwest::Client::new();
    let ns = format!("{}/api/v1/namespaces/default", p.base);
    let check = |what: &str, (m, path): (&str, String), s: u16, b: &Value, def: &str| {
        sw.check(what, (m, &path), s, b, def)
    };

    // Deployment target: PUT create (Ververica's POST codes), replace, get, list.
    let target = json!({"metadata": {"name": "session", "labels": {"team": "a"}},
        "spec": {"flinkSessionCluster": {"restUrl": flink}}});
    let (s, b) = send(
        c.put(format!("{ns}/deployment-targets/session"))
            .json(&target),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    check(
        "PUT target (create)",
        op("post", "/deployment-targets"),
        s,
        &b,
        "DeploymentTarget",
    );
    let mut replaced = target.clone();
    replaced["metadata"]["labels"]["team"] = json!("b");
    let (s, b) = send(
        c.put(format!("{ns}/deployment-targets/session"))
            .json(&replaced),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    check(
        "PUT target (replace)",
        op("get", "/deployment-targets/{name}"),
        s,
        &b,
        "DeploymentTarget",
    );
    let (s, b) = send(c.get(format!("{ns}/deployment-targets/session"))).await;
    check(
        "GET target",
        op("get", "/deployment-targets/{name}"),
        s,
        &b,
        "DeploymentTarget",
    );
    let (s, b) = send(c.get(format!("{ns}/deployment-targets"))).await;
    check(
        "list targets",
        op("get", "/deployment-targets"),
        s,
        &b,
        "ResourceListOfDeploymentTarget",
    );

    // Secret value: create, get, list (the value is never in an answer).
    let (s, b) = send(c.post(format!("{ns}/secret-values")).json(
        &json!({"metadata": {"name": "TAG"}, "spec": {"kind": "PLAIN", "value": "swagger"}}),
    ))
    .await;
    check(
        "POST secret value",
        op("post", "/secret-values"),
        s,
        &b,
        "SecretValue",
    );
    let (s, b) = send(c.get(format!("{ns}/secret-values/TAG"))).await;
    check(
        "GET secret value",
        op("get", "/secret-values/{name}"),
        s,
        &b,
        "SecretValue",
    );
    let (s, b) = send(c.get(format!("{ns}/secret-values"))).await;
    check(
        "list secret values",
        op("get", "/secret-values"),
        s,
        &b,
        "ResourceListOfSecretValue",
    );

    // Deployment: PUT create (RUNNING), replace (labels only: nothing restarts), get, list.
    let sp_dir = format!("file://{}", dir.path().join("sp").display());
    let ck_dir = format!("file://{}", dir.path().join("ck").display());
    let deployment = json!({"metadata": {"name": "counter", "labels": {"app": "counter"}},
        "spec": {"state": "RUNNING", "deploymentTargetName": "session",
            "upgradeStrategy": {"kind": "STATEFUL"},
            "restoreStrategy": {"kind": "LATEST_STATE"},
            "template": {"spec": {
                "artifact": {"kind": "JAR", "jarUri": format!("file://{}", jar.display()),
                    "entryClass": "io.stateplane.examples.StatefulCounter", "mainArgs": "20 --tag swagger"},
                "parallelism": 1,
                "flinkConfiguration": {
                    "execution.checkpointing.savepoint-dir": sp_dir,
                    "execution.checkpointing.dir": ck_dir,
                    "execution.checkpointing.interval": "1s"}}}}});
    let (s, b) = send(c.put(format!("{ns}/deployments/counter")).json(&deployment)).await;
    assert_eq!(s, 201, "{b}");
    check(
        "PUT deployment (create)",
        op("post", "/deployments"),
        s,
        &b,
        "Deployment",
    );
    let id = b["metadata"]["id"].as_str().unwrap().to_string();
    let d = poll(
        &c,
        &format!("{ns}/deployments/counter"),
        None,
        "counter RUNNING",
        |d| d["status"]["state"] == "RUNNING",
    )
    .await;
    sw.valid("a RUNNING deployment", "Deployment", &d);
    let mut replaced = deployment.clone();
    replaced["metadata"]["labels"]["tier"] = json!("gold");
    let (s, b) = send(c.put(format!("{ns}/deployments/counter")).json(&replaced)).await;
    assert_eq!(s, 200, "{b}");
    check(
        "PUT deployment (replace)",
        op("patch", "/deployments/{deploymentId}"),
        s,
        &b,
        "Deployment",
    );
    let (s, b) = send(c.get(format!("{ns}/deployments/counter"))).await;
    check(
        "GET deployment",
        op("get", "/deployments/{deploymentId}"),
        s,
        &b,
        "Deployment",
    );
    let (s, b) = send(c.get(format!("{ns}/deployments?labelSelector=app%3Dcounter"))).await;
    assert_eq!(b["items"].as_array().map(Vec::len), Some(1), "{b}");
    check(
        "list deployments",
        op("get", "/deployments"),
        s,
        &b,
        "ResourceListOfDeployment",
    );

    // Two savepoints of the running job: POST each, then get and list once COMPLETED; then the first
    // deleted (no Ververica operation: stateplane's 202 while it disposes of the data; the answer is
    // still a Savepoint but for its deletion state, excused above).
    let mut taken = Vec::new();
    for what in ["the savepoint", "the second savepoint"] {
        let (s, b) = send(
            c.post(format!("{ns}/savepoints"))
                .json(&json!({"metadata": {"deploymentId": id}})),
        )
        .await;
        check(
            "POST savepoint",
            op("post", "/savepoints"),
            s,
            &b,
            "Savepoint",
        );
        let sp = b["metadata"]["id"].as_str().unwrap().to_string();
        let b = poll(
            &c,
            &format!("{ns}/savepoints/{sp}"),
            None,
            &format!("{what} COMPLETED"),
            |b| b["status"]["state"] == "COMPLETED",
        )
        .await;
        taken.push((sp, b));
    }
    let (sp, b) = &taken[0];
    check(
        "GET savepoint",
        op("get", "/savepoints/{savepointId}"),
        200,
        b,
        "Savepoint",
    );
    let (s, b) = send(c.get(format!("{ns}/savepoints?deploymentId={id}"))).await;
    for (taken, _) in &taken {
        assert!(
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metadata"]["id"] == taken.as_str()),
            "{taken} listed: {b}"
        );
    }
    check(
        "list savepoints",
        op("get", "/savepoints"),
        s,
        &b,
        "ResourceListOfSavepoint",
    );
    let (s, b) = send(c.delete(format!("{ns}/savepoints/{sp}"))).await;
    assert_eq!(
        (s, &b["status"]["state"]),
        (202, &json!("PENDING_DELETION")),
        "{b}"
    );
    sw.valid("a savepoint being deleted", "Savepoint", &b);

    // Jobs and events.
    let (s, b) = send(c.get(format!("{ns}/jobs?deploymentId={id}"))).await;
    check("list jobs", op("get", "/jobs"), s, &b, "ResourceListOfJob");
    let job = b["items"][0]["metadata"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = send(c.get(format!("{ns}/jobs/{job}"))).await;
    check("GET job", op("get", "/jobs/{jobId}"), s, &b, "Job");
    assert_eq!(b["status"]["state"], "STARTED", "{b}");

    // Status and system information.
    let (s, b) = send(c.get(format!("{}/api/v1/status", p.base))).await;
    let codes = sw.codes("get", "/api/v1/status");
    assert!(codes.contains(&s) && b.is_object(), "{s} {b}");
    let (s, b) = send(c.get(format!("{}/api/v1/status/system-info", p.base))).await;
    sw.check(
        "system info",
        ("get", "/api/v1/status/system-info"),
        s,
        &b,
        "SystemInformation",
    );

    // PATCH to CANCELLED, then DELETE: the answer is the deployment, with a code Ververica lists.
    let (s, b) = send(
        c.patch(format!("{ns}/deployments/counter"))
            .json(&json!({"spec": {"state": "CANCELLED"}})),
    )
    .await;
    check(
        "PATCH deployment",
        op("patch", "/deployments/{deploymentId}"),
        s,
        &b,
        "Deployment",
    );
    let d = poll(
        &c,
        &format!("{ns}/deployments/counter"),
        None,
        "counter CANCELLED",
        |d| d["status"]["state"] == "CANCELLED",
    )
    .await;
    sw.valid("a CANCELLED deployment", "Deployment", &d);
    let (s, b) = send(c.get(format!("{ns}/jobs/{job}"))).await;
    check(
        "GET a terminated job",
        op("get", "/jobs/{jobId}"),
        s,
        &b,
        "Job",
    );
    let (s, b) = send(c.get(format!("{ns}/events?deploymentId={id}"))).await;
    assert!(b["items"].as_array().unwrap().len() > 3, "{b}");
    check(
        "list events",
        op("get", "/events"),
        s,
        &b,
        "ResourceListOfEvent",
    );

    // The savepoint data is stateplane's to dispose of: the deletion is asynchronous, yet the answer
    // is Ververica's 200 with the deployment; the annotation says it is being deleted.
    let (s, b) = send(c.delete(format!("{ns}/deployments/counter"))).await;
    check(
        "DELETE deployment",
        op("delete", "/deployments/{deploymentId}"),
        s,
        &b,
        "Deployment",
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["metadata"]["annotations"]["stateplane.io/deletion"], "disposing-snapshot-data",
        "{b}"
    );
    wait_gone(
        &c,
        &format!("{ns}/deployments/counter"),
        "the deployment to be gone",
    )
    .await;
    let (s, b) = send(c.delete(format!("{ns}/secret-values/TAG"))).await;
    check(
        "DELETE secret value",
        op("delete", "/secret-values/{name}"),
        s,
        &b,
        "SecretValue",
    );
    let (s, b) = send(c.delete(format!("{ns}/deployment-targets/session"))).await;
    check(
        "DELETE target",
        op("delete", "/deployment-targets/{name}"),
        s,
        &b,
        "DeploymentTarget",
    );
}
