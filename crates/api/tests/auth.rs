//! Access control on a real server (SQLite in a temp dir, the API and the UI on an ephemeral port, the
//! response cache on as in production): the full matrix of (no token, wrong token, viewer, editor,
//! owner, admin) × (every route and method) × (the token's own namespace, another one) with the exact
//! status of every cell; the namespace list showing a token its own namespace only; the token
//! routes' shapes (the secret shown once, never listed); secrets never stored in clear; audit events
//! naming who wrote; the UI's login and cookie.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stateplane_api::auth::{Auth, COOKIE};
use stateplane_api::{ApiConfig, AppState};
use stateplane_model::{
    ApiToken, Deployment, DeploymentTarget, EventName, Job, JobSpec, Role, Savepoint,
    SavepointOrigin, SavepointState, SPEC_VERSION_ANNOTATION,
};
use stateplane_store::{EventFilter, SqliteStore, Store};

const ADMIN: &str = "test-admin-secret-0123456789abcdef";
/// The namespace the tokens belong to, and another one.
const OWN: &str = "team-a";
const FOREIGN: &str = "team-b";

struct Server {
    base: String,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    /// Secrets of the viewer, editor and owner tokens of [`OWN`].
    viewer: String,
    editor: String,
    owner: String,
    /// Where registered savepoints live.
    snapshots: tempfile::TempDir,
    n: AtomicUsize,
    _stop: tokio::sync::oneshot::Sender<()>,
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let state = AppState::new(store.clone(), ApiConfig::default())
        .with_response_cache()
        .with_auth(Auth::new(ADMIN));
    let app = stateplane_api::router(state.clone()).merge(stateplane_api::auth::ui(
        state,
        stateplane_web::router(),
        stateplane_web::login_page,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        stateplane_api::serve_app(listener, app, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let mut s = Server {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        store,
        dir,
        viewer: String::new(),
        editor: String::new(),
        owner: String::new(),
        snapshots: tempfile::tempdir().unwrap(),
        n: AtomicUsize::new(0),
        _stop: tx,
    };
    for ns in [OWN, FOREIGN] {
        s.send(
            Some(ADMIN),
            Method::POST,
            "/api/v1/namespaces",
            Some(json!({"metadata": {"name": ns}})),
        )
        .await
        .expect(201);
    }
    s.viewer = s.create_token(OWN, "reader", "viewer").await;
    s.editor = s.create_token(OWN, "deployer", "EDITOR").await;
    s.owner = s.create_token(OWN, "lead", "Owner").await;
    s
}

impl Resp {
    #[track_caller]
    fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        &self.json
    }
}

impl Server {
    fn next(&self) -> usize {
        self.n.fetch_add(1, Ordering::Relaxed)
    }

    async fn send(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        self.send_with(
            token.map(|t| ("authorization", format!("Bearer {t}"))),
            method,
            path,
            body,
        )
        .await
    }

    async fn send_with(
        &self,
        header: Option<(&str, String)>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    /// Creates a token through the API as the admin; returns its secret.
    async fn create_token(&self, ns: &str, name: &str, role: &str) -> String {
        let r = self
            .send(
                Some(ADMIN),
                Method::POST,
                &format!("/apitokens/v1/namespaces/{ns}/apitokens"),
                Some(json!({"name": format!("namespaces/{ns}/apitokens/{name}"), "role": role})),
            )
            .await;
        r.expect(201)["apiToken"]["secret"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn secret(&self, who: Who) -> Option<String> {
        match who {
            Who::Nobody => None,
            // the viewer's token id with another random part: well-formed, found, wrong
            Who::Wrong => Some(format!(
                "{}{}",
                &self.viewer[..self.viewer.len() - 4],
                "0000"
            )),
            Who::Viewer => Some(self.viewer.clone()),
            Who::Editor => Some(self.editor.clone()),
            Who::Owner => Some(self.owner.clone()),
            Who::Admin => Some(ADMIN.to_string()),
        }
    }

    async fn deployment(&self, ns: &str) -> Deployment {
        let spec = serde_json::from_value(minimal_spec()).unwrap();
        let d = Deployment::new(ns, &format!("fixture-{}", self.next()), spec);
        self.store.deployment_create(&d).await.unwrap();
        d
    }

    async fn savepoint(&self, ns: &str) -> Savepoint {
        let d = self.deployment(ns).await;
        let s = Savepoint::new(
            ns,
            d.metadata.id,
            SavepointOrigin::Copied,
            SavepointState::Completed,
            Some(format!("file:///external/sp-{}", self.next())),
        );
        self.store.savepoint_create(&s).await.unwrap();
        s
    }

    /// A real snapshot directory to register.
    fn snapshot(&self) -> String {
        let dir = self
            .snapshots
            .path()
            .join(format!("savepoint-{}", self.next()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut meta = stateplane_blob::header::encode_header(6, 42);
        meta.extend_from_slice(b"state");
        std::fs::write(dir.join("_metadata"), meta).unwrap();
        format!("file://{}", dir.display())
    }
}

fn minimal_spec() -> Value {
    json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    Wrong,
    Viewer,
    Editor,
    Owner,
    Admin,
}

const EVERYONE: [Who; 6] = [
    Who::Nobody,
    Who::Wrong,
    Who::Viewer,
    Who::Editor,
    Who::Owner,
    Who::Admin,
];

/// Who may do an operation, written out here independently of the server's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Min {
    /// Anyone, without a token.
    Open,
    /// Any valid token, of any namespace.
    Anyone,
    Role(Role),
    Admin,
}

/// One operation: what it is, who may, and its status when allowed.
#[derive(Debug, Clone, Copy)]
struct Op {
    name: &'static str,
    min: Min,
    ok: u16,
}

const fn op(name: &'static str, min: Min, ok: u16) -> Op {
    Op { name, min, ok }
}

const VIEWER: Min = Min::Role(Role::Viewer);
const EDITOR: Min = Min::Role(Role::Editor);
const OWNER: Min = Min::Role(Role::Owner);

/// Every route and method the server answers, plus an unknown route, an unknown method and the UI.
const OPS: &[Op] = &[
    op("GET /healthz", Min::Open, 200),
    op("GET /metrics", Min::Open, 200),
    op("GET /api/v1/openapi.json", Min::Open, 200),
    op("GET /api/v1/namespaces", Min::Anyone, 200),
    op("POST /api/v1/namespaces", Min::Admin, 201),
    op("GET {ns}", VIEWER, 200),
    op("DELETE {ns}", Min::Admin, 200),
    op("GET {ns}/deployment-defaults", VIEWER, 200),
    op("PATCH {ns}/deployment-defaults", EDITOR, 200),
    op("GET {ns}/deployments", VIEWER, 200),
    op("POST {ns}/deployments", EDITOR, 201),
    op("GET {ns}/deployments/{id}", VIEWER, 200),
    op("PATCH {ns}/deployments/{id}", EDITOR, 200),
    op("DELETE {ns}/deployments/{id}", EDITOR, 200),
    op("GET {ns}/deployments/{id}/restore-preview", VIEWER, 200),
    op("POST {ns}/deployments/{id}/upgrade-preview", EDITOR, 200),
    op("GET {ns}/deployment-targets", VIEWER, 200),
    op("POST {ns}/deployment-targets", OWNER, 201),
    op("GET {ns}/deployment-targets/{name}", VIEWER, 200),
    op("DELETE {ns}/deployment-targets/{name}", OWNER, 200),
    op("GET {ns}/savepoints", VIEWER, 200),
    op("POST {ns}/savepoints", EDITOR, 201),
    op("GET {ns}/savepoints/{id}", VIEWER, 200),
    op("DELETE {ns}/savepoints/{id}", EDITOR, 200),
    op("POST {ns}/savepoints/{id}/copy", EDITOR, 201),
    op("GET {ns}/jobs", VIEWER, 200),
    op("GET {ns}/jobs/{id}", VIEWER, 200),
    op("GET {ns}/events", VIEWER, 200),
    op("GET {ns}/storage/orphans", OWNER, 200),
    op("POST {ns}/storage/orphans:dispose", OWNER, 422),
    op("GET {ns}/storage/allowed-prefixes", VIEWER, 200),
    op("PUT {ns}/storage/allowed-prefixes", Min::Admin, 200),
    op("GET {tokens}", OWNER, 200),
    op("POST {tokens}", OWNER, 201),
    op("GET {tokens}/{name}", OWNER, 200),
    op("DELETE {tokens}/{name}", OWNER, 200),
    op("GET /api/v1/no-such-route", Min::Anyone, 404),
    op("PUT {ns}/deployments (no such method)", Min::Admin, 405),
    op("GET /ui/namespaces/{ns}/deployments", VIEWER, 200),
    op("GET /ui/assets/app.js", Min::Anyone, 200),
];

/// The status a cell must answer.
fn expected(op: &Op, who: Who, own: bool) -> u16 {
    let role = match who {
        Who::Viewer => Some(Role::Viewer),
        Who::Editor => Some(Role::Editor),
        Who::Owner => Some(Role::Owner),
        _ => None,
    };
    match (op.min, who) {
        (Min::Open, _) => op.ok,
        (_, Who::Nobody | Who::Wrong) => 401,
        (_, Who::Admin) => op.ok,
        (Min::Anyone, _) => op.ok,
        (Min::Admin, _) => 403,
        (Min::Role(_), _) if !own => 403,
        (Min::Role(min), _) if role >= Some(min) => op.ok,
        (Min::Role(_), _) => 403,
    }
}

/// Prepares what `op` needs in `ns` (fixtures written straight to the store) and sends it as `who`.
async fn run(s: &Server, op: &Op, who: Who, ns: &str) -> Resp {
    let token = s.secret(who);
    let token = token.as_deref();
    let api = format!("/api/v1/namespaces/{ns}");
    let tokens = format!("/apitokens/v1/namespaces/{ns}/apitokens");
    let n = s.next();
    let (method, path, body) = match op.name {
        "GET /healthz" => (Method::GET, "/healthz".to_string(), None),
        "GET /metrics" => (Method::GET, "/metrics".to_string(), None),
        "GET /api/v1/openapi.json" => (Method::GET, "/api/v1/openapi.json".to_string(), None),
        "GET /api/v1/namespaces" => (Method::GET, "/api/v1/namespaces".to_string(), None),
        "POST /api/v1/namespaces" => (
            Method::POST,
            "/api/v1/namespaces".to_string(),
            Some(json!({"metadata": {"name": format!("created-{n}")}})),
        ),
        "GET {ns}" => (Method::GET, api, None),
        "DELETE {ns}" => {
            // The admin really deletes: give it a namespace of its own to delete.
            let target = if who == Who::Admin {
                let doomed = format!("doomed-{n}");
                s.store
                    .namespace_create(&stateplane_model::Namespace::new(&doomed))
                    .await
                    .unwrap();
                format!("/api/v1/namespaces/{doomed}")
            } else {
                api
            };
            (Method::DELETE, target, None)
        }
        "GET {ns}/deployment-defaults" => (Method::GET, format!("{api}/deployment-defaults"), None),
        "PATCH {ns}/deployment-defaults" => (
            Method::PATCH,
            format!("{api}/deployment-defaults"),
            Some(json!({"spec": {"parallelism": 2}})),
        ),
        "GET {ns}/deployments" => (Method::GET, format!("{api}/deployments"), None),
        "POST {ns}/deployments" => (
            Method::POST,
            format!("{api}/deployments"),
            Some(json!({"metadata": {"name": format!("created-{n}")}, "spec": minimal_spec()})),
        ),
        "GET {ns}/deployments/{id}" => {
            let d = s.deployment(ns).await;
            (
                Method::GET,
                format!("{api}/deployments/{}", d.metadata.id),
                None,
            )
        }
        "PATCH {ns}/deployments/{id}" => {
            let d = s.deployment(ns).await;
            (
                Method::PATCH,
                format!("{api}/deployments/{}", d.metadata.id),
                Some(json!({"metadata": {"labels": {"patched": "yes"}}})),
            )
        }
        "DELETE {ns}/deployments/{id}" => {
            let d = s.deployment(ns).await;
            (
                Method::DELETE,
                format!("{api}/deployments/{}", d.metadata.id),
                None,
            )
        }
        "GET {ns}/deployments/{id}/restore-preview" => {
            let d = s.deployment(ns).await;
            (
                Method::GET,
                format!("{api}/deployments/{}/restore-preview", d.metadata.id),
                None,
            )
        }
        "POST {ns}/deployments/{id}/upgrade-preview" => {
            // A change outside the template: answered without asking Flink.
            let d = s.deployment(ns).await;
            (
                Method::POST,
                format!("{api}/deployments/{}/upgrade-preview", d.metadata.id),
                Some(json!({"metadata": {"labels": {"previewed": "yes"}}})),
            )
        }
        "GET {ns}/deployment-targets" => (Method::GET, format!("{api}/deployment-targets"), None),
        "POST {ns}/deployment-targets" => (
            Method::POST,
            format!("{api}/deployment-targets"),
            Some(json!({"metadata": {"name": format!("created-{n}")},
                        "spec": {"flinkSessionCluster": {"restUrl": "http://127.0.0.1:8081"}}})),
        ),
        "GET {ns}/deployment-targets/{name}" | "DELETE {ns}/deployment-targets/{name}" => {
            let name = format!("fixture-{n}");
            s.store
                .target_create(&DeploymentTarget::new(ns, &name, "http://127.0.0.1:8081"))
                .await
                .unwrap();
            let m = if op.name.starts_with("GET") {
                Method::GET
            } else {
                Method::DELETE
            };
            (m, format!("{api}/deployment-targets/{name}"), None)
        }
        "GET {ns}/savepoints" => (Method::GET, format!("{api}/savepoints"), None),
        "POST {ns}/savepoints" => {
            let d = s.deployment(ns).await;
            (
                Method::POST,
                format!("{api}/savepoints"),
                Some(json!({
                    "metadata": {"deploymentId": d.metadata.id, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                    "spec": {"savepointLocation": s.snapshot(), "flinkSavepointId": "00000000-0000-0000-0000-000000000000"},
                    "status": {"state": "COMPLETED"}
                })),
            )
        }
        "GET {ns}/savepoints/{id}" | "DELETE {ns}/savepoints/{id}" => {
            let sp = s.savepoint(ns).await;
            let m = if op.name.starts_with("GET") {
                Method::GET
            } else {
                Method::DELETE
            };
            (m, format!("{api}/savepoints/{}", sp.metadata.id), None)
        }
        "POST {ns}/savepoints/{id}/copy" => {
            let sp = s.savepoint(ns).await;
            (
                Method::POST,
                format!("{api}/savepoints/{}/copy", sp.metadata.id),
                Some(json!({"metadata": {"deploymentId": sp.metadata.deployment_id}})),
            )
        }
        "GET {ns}/jobs" => (Method::GET, format!("{api}/jobs"), None),
        "GET {ns}/jobs/{id}" => {
            let d = s.deployment(ns).await;
            let spec: JobSpec = serde_json::from_value(
                json!({"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}),
            )
            .unwrap();
            let j = Job::new(ns, d.metadata.id, &d.metadata.name, spec);
            s.store.job_create(&j).await.unwrap();
            (Method::GET, format!("{api}/jobs/{}", j.metadata.id), None)
        }
        "GET {ns}/events" => (Method::GET, format!("{api}/events"), None),
        "GET {ns}/storage/orphans" => (Method::GET, format!("{api}/storage/orphans"), None),
        "GET {ns}/storage/allowed-prefixes" => {
            (Method::GET, format!("{api}/storage/allowed-prefixes"), None)
        }
        // No restriction (an empty list), so the other cells' registrations stay allowed.
        "PUT {ns}/storage/allowed-prefixes" => (
            Method::PUT,
            format!("{api}/storage/allowed-prefixes"),
            Some(json!({"prefixes": []})),
        ),
        // Allowed callers reach the rules: a location outside every prefix the report looks at.
        "POST {ns}/storage/orphans:dispose" => (
            Method::POST,
            format!("{api}/storage/orphans:dispose"),
            Some(json!({"locations": ["file:///nowhere/savepoint-1"]})),
        ),
        "GET {tokens}" => (Method::GET, tokens, None),
        "POST {tokens}" => (
            Method::POST,
            tokens,
            Some(json!({"name": format!("created-{n}"), "role": "viewer"})),
        ),
        "GET {tokens}/{name}" | "DELETE {tokens}/{name}" => {
            let name = format!("fixture-{n}");
            s.store
                .api_token_create(&ApiToken {
                    namespace: ns.into(),
                    name: name.clone(),
                    role: Role::Viewer,
                    token_id: format!("fixture{n}"),
                    salt: "00".into(),
                    secret_hash: "00".into(),
                    created_at: stateplane_model::now(),
                })
                .await
                .unwrap();
            let m = if op.name.starts_with("GET") {
                Method::GET
            } else {
                Method::DELETE
            };
            (m, format!("{tokens}/{name}"), None)
        }
        "GET /api/v1/no-such-route" => (Method::GET, "/api/v1/no-such-route".to_string(), None),
        "PUT {ns}/deployments (no such method)" => (
            Method::PUT,
            format!("{api}/deployments"),
            Some(json!({"metadata": {"name": "x"}})),
        ),
        "GET /ui/namespaces/{ns}/deployments" => (
            Method::GET,
            format!("/ui/namespaces/{ns}/deployments"),
            None,
        ),
        "GET /ui/assets/app.js" => (Method::GET, "/ui/assets/app.js".to_string(), None),
        other => panic!("no request for {other}"),
    };
    s.send(token, method, &path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_access_matrix() {
    let s = start().await;
    let mut report = String::new();
    let mut wrong = Vec::new();
    let _ = writeln!(
        report,
        "{:<48} {:>6} own/foreign for {:?}",
        "operation", "", EVERYONE
    );
    for op in OPS {
        let _ = write!(report, "{:<48}", op.name);
        for who in EVERYONE {
            let mut cells = Vec::new();
            for (own, ns) in [(true, OWN), (false, FOREIGN)] {
                let r = run(&s, op, who, ns).await;
                let want = expected(op, who, own);
                let got = r.status.as_u16();
                cells.push(got.to_string());
                if got != want {
                    wrong.push(format!(
                        "{} as {who:?} in {ns}: expected {want}, got {got}: {}",
                        op.name,
                        r.text.chars().take(200).collect::<String>()
                    ));
                }
                // Refusals say why in the API's error shape (the UI's in its login page) and carry
                // nothing else.
                let ui = op.name.contains("/ui/");
                match (got, ui) {
                    (401, false) => {
                        assert_eq!(r.json["code"], "UNAUTHENTICATED", "{}", r.text);
                        assert!(r.headers["www-authenticate"]
                            .to_str()
                            .unwrap()
                            .starts_with("Bearer"));
                    }
                    (403, false) => assert_eq!(r.json["code"], "FORBIDDEN", "{}", r.text),
                    (401 | 403, true) => {
                        assert!(r.text.contains(r#"action="/ui/login""#), "{}", r.text);
                        assert!(
                            !r.text.contains("<script"),
                            "no UI behind the login: {}",
                            r.text
                        );
                    }
                    _ => {}
                }
                if matches!(got, 401 | 403) {
                    assert!(
                        !r.text.contains("fixture-"),
                        "a refusal shows no data: {}",
                        r.text
                    );
                }
            }
            let _ = write!(report, " {:>7}", cells.join("/"));
        }
        let _ = writeln!(report);
    }
    println!("{report}");
    assert!(
        wrong.is_empty(),
        "{} wrong cells:\n{}\n\n{report}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_lists_only_its_own_namespace() {
    let s = start().await;
    let names = |r: &Resp| -> Vec<String> {
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    for secret in [&s.viewer, &s.editor, &s.owner] {
        // twice: the second answer may come from the response cache
        for _ in 0..2 {
            let r = s
                .send(Some(secret), Method::GET, "/api/v1/namespaces", None)
                .await;
            assert_eq!(names(&r), [OWN], "{}", r.text);
        }
    }
    let r = s
        .send(Some(ADMIN), Method::GET, "/api/v1/namespaces", None)
        .await;
    assert_eq!(names(&r), ["default", OWN, FOREIGN]);
    // YAML is rendered for this answer too
    let r = s
        .client
        .get(format!("{}/api/v1/namespaces", s.base))
        .bearer_auth(&s.viewer)
        .header("accept", "application/yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/yaml");
    let text = r.text().await.unwrap();
    assert!(
        text.contains("name: team-a") && !text.contains(FOREIGN),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_show_their_secret_once_and_stop_working_when_deleted() {
    let s = start().await;
    let path = format!("/apitokens/v1/namespaces/{OWN}/apitokens");
    let r = s
        .send(
            Some(&s.owner),
            Method::POST,
            &path,
            Some(json!({"name": "ci", "role": "editor"})),
        )
        .await;
    let created = r.expect(201)["apiToken"].clone();
    assert_eq!(created["name"], "namespaces/team-a/apitokens/ci");
    assert_eq!(created["role"], "editor");
    assert!(created["createTime"].as_str().unwrap().ends_with('Z'));
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sp_") && secret.len() > 64, "{secret}");

    // it works at once, as an editor of its namespace
    s.send(
        Some(&secret),
        Method::POST,
        &format!("/api/v1/namespaces/{OWN}/deployments"),
        Some(json!({"metadata": {"name": "by-ci"}, "spec": minimal_spec()})),
    )
    .await
    .expect(201);

    // never shown again
    let list = s.send(Some(&s.owner), Method::GET, &path, None).await;
    let names: Vec<_> = list.expect(200)["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["ci", "deployer", "lead", "reader"].map(|n| format!("namespaces/team-a/apitokens/{n}"))
    );
    assert!(
        !list.text.contains("secret") && !list.text.contains(&secret[3..]),
        "{}",
        list.text
    );
    let one = s
        .send(Some(&s.owner), Method::GET, &format!("{path}/ci"), None)
        .await;
    assert_eq!(one.expect(200)["apiToken"]["role"], "editor");
    assert!(one.json["apiToken"].get("secret").is_none());

    // refusals: taken name, wrong namespace in the name, unknown role, a secret chosen by the client
    s.send(
        Some(&s.owner),
        Method::POST,
        &path,
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await
    .expect(409);
    for (body, field) in [
        (
            json!({"name": "namespaces/team-b/apitokens/x", "role": "viewer"}),
            "name",
        ),
        (json!({"name": "Not A Label", "role": "viewer"}), "name"),
        (json!({"name": "x", "role": "admin"}), "role"),
        (json!({"name": "x"}), "role"),
        (
            json!({"name": "x", "role": "viewer", "secret": "mine"}),
            "secret",
        ),
    ] {
        let r = s
            .send(Some(&s.owner), Method::POST, &path, Some(body))
            .await;
        assert_eq!(r.expect(422)["field"], field, "{}", r.text);
    }
    s.send(
        Some(ADMIN),
        Method::GET,
        "/apitokens/v1/namespaces/nope/apitokens",
        None,
    )
    .await
    .expect(404);
    s.send(Some(&s.owner), Method::GET, &format!("{path}/nope"), None)
        .await
        .expect(404);

    // deleted: refused at once, as if it never existed
    s.send(Some(&s.owner), Method::DELETE, &format!("{path}/ci"), None)
        .await
        .expect(200);
    let r = s
        .send(
            Some(&secret),
            Method::GET,
            &format!("/api/v1/namespaces/{OWN}/deployments"),
            None,
        )
        .await;
    assert_eq!(r.expect(401)["code"], "UNAUTHENTICATED");

    // tokens go with their namespace: a namespace created again under that name has none
    let other = s.create_token(FOREIGN, "lead", "owner").await;
    s.send(
        Some(&other),
        Method::GET,
        &format!("/api/v1/namespaces/{FOREIGN}"),
        None,
    )
    .await
    .expect(200);
    s.send(
        Some(ADMIN),
        Method::DELETE,
        &format!("/api/v1/namespaces/{FOREIGN}"),
        None,
    )
    .await
    .expect(200);
    s.send(
        Some(ADMIN),
        Method::POST,
        "/api/v1/namespaces",
        Some(json!({"metadata": {"name": FOREIGN}})),
    )
    .await
    .expect(201);
    s.send(
        Some(&other),
        Method::GET,
        &format!("/api/v1/namespaces/{FOREIGN}"),
        None,
    )
    .await
    .expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_credentials_are_refused_alike() {
    let s = start().await;
    let path = format!("/api/v1/namespaces/{OWN}/deployments");
    let deleted_like = format!("sp_{}_{}", "0".repeat(32), "0".repeat(64));
    for header in [
        "Bearer nope".to_string(),
        format!("Bearer {deleted_like}"),
        format!("Bearer {ADMIN}x"),
        format!("Bearer {}", &ADMIN[..ADMIN.len() - 1]),
        format!("Basic {ADMIN}"),
        "Bearer".to_string(),
        format!("Bearer {}", s.viewer.to_uppercase()),
    ] {
        let r = s
            .send_with(
                Some(("authorization", header.clone())),
                Method::GET,
                &path,
                None,
            )
            .await;
        assert_eq!(r.expect(401)["code"], "UNAUTHENTICATED", "{header}");
    }
    for cookie in [
        format!("{COOKIE}=zz"),
        format!("{COOKIE}={}", hex(&deleted_like)),
        "other=1".into(),
    ] {
        let r = s
            .send_with(Some(("cookie", cookie.clone())), Method::GET, &path, None)
            .await;
        r.expect(401);
    }
    // the cookie the login page sets works like the bearer token
    let r = s
        .send_with(
            Some(("cookie", format!("a=b; {COOKIE}={}", hex(&s.viewer)))),
            Method::GET,
            &path,
            None,
        )
        .await;
    r.expect(200);
    // YAML refusals for YAML clients
    let r = s
        .client
        .get(format!("{}{path}", s.base))
        .header("accept", "application/yaml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/yaml");
    assert!(r.text().await.unwrap().contains("code: UNAUTHENTICATED"));
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_stored_hashed_only() {
    let s = start().await;
    let mut secrets = vec![s.viewer.clone(), s.editor.clone(), s.owner.clone()];
    for i in 0..5 {
        secrets.push(s.create_token(FOREIGN, &format!("t{i}"), "viewer").await);
    }
    // Everything the store wrote: the database, its WAL and anything else in the data directory.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(s.dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            bytes.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(
        bytes.len() > 10_000,
        "the database is there ({} bytes)",
        bytes.len()
    );
    let haystack = String::from_utf8_lossy(&bytes);
    for secret in &secrets {
        // the public token id is stored (it finds the row); the random part is not, in any form
        let random = secret.rsplit('_').next().unwrap();
        assert!(!haystack.contains(random), "a secret is stored in clear");
        assert!(!haystack.contains(&random.to_uppercase()));
        assert!(!haystack.contains(&hex(random)));
    }
    assert!(!haystack.contains(ADMIN), "the admin token is never stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_audited_with_who_wrote() {
    let s = start().await;
    let r = s
        .send(
            Some(&s.editor),
            Method::POST,
            &format!("/api/v1/namespaces/{OWN}/deployments"),
            Some(json!({"metadata": {"name": "audited"}, "spec": minimal_spec()})),
        )
        .await;
    let id = r.expect(201)["metadata"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.send(
        Some(ADMIN),
        Method::PATCH,
        &format!("/api/v1/namespaces/{OWN}/deployments/{id}"),
        Some(json!({"metadata": {"labels": {"by": "admin"}}})),
    )
    .await
    .expect(200);
    // refused and read-only requests leave no event
    s.send(
        Some(&s.viewer),
        Method::DELETE,
        &format!("/api/v1/namespaces/{OWN}/deployments/{id}"),
        None,
    )
    .await
    .expect(403);
    s.send(
        Some(&s.viewer),
        Method::GET,
        &format!("/api/v1/namespaces/{OWN}/deployments/{id}"),
        None,
    )
    .await
    .expect(200);

    let events = s
        .store
        .event_list(OWN, &EventFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.metadata.name == EventName::Audit)
        .map(|e| e.spec.message)
        .filter(|m| !m.contains("/apitokens/")) // the setup's
        .collect::<Vec<_>>();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].starts_with("token 'deployer' (editor) of namespace 'team-a': POST /api/v1/namespaces/team-a/deployments answered 201"),
        "{events:?}"
    );
    assert!(
        events[1].starts_with(&format!(
            "admin: PATCH /api/v1/namespaces/team-a/deployments/{id} answered 200"
        )),
        "{events:?}"
    );
    // and they are visible through the API to whoever may read the namespace's events
    let r = s
        .send(
            Some(&s.viewer),
            Method::GET,
            &format!("/api/v1/namespaces/{OWN}/events"),
            None,
        )
        .await;
    assert!(r.expect(200).to_string().contains("\"AUDIT\""));
    // token writes are audited in the token's namespace too (never the secret)
    let r = s
        .send(
            Some(&s.owner),
            Method::POST,
            &format!("/apitokens/v1/namespaces/{OWN}/apitokens"),
            Some(json!({"name": "audited", "role": "viewer"})),
        )
        .await;
    let secret = r.expect(201)["apiToken"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let all = s
        .store
        .event_list(OWN, &EventFilter::default())
        .await
        .unwrap();
    let last = &all.last().unwrap().spec.message;
    assert!(last.starts_with("token 'lead' (owner) of namespace 'team-a': POST /apitokens/v1/namespaces/team-a/apitokens answered 201"), "{last}");
    assert!(!serde_json::to_string(&all).unwrap().contains(&secret[3..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_needs_a_login_and_keeps_it_in_an_httponly_cookie() {
    let s = start().await;
    let page = "/ui/namespaces/team-a/deployments";
    // without a cookie: the login page, not the UI
    let r = s.send(None, Method::GET, page, None).await;
    assert_eq!(r.status, 401);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        r.text
            .contains(r#"name="next" value="/ui/namespaces/team-a/deployments""#),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains("app.js") && !r.text.contains("<script"),
        "{}",
        r.text
    );
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["referrer-policy"], "same-origin");
    assert_eq!(
        r.headers["cache-control"], "no-store",
        "the login page is never cached"
    );
    for path in ["/", "/ui/", "/ui/assets/app.js", "/ui/nothing"] {
        let r = s.send(None, Method::GET, path, None).await;
        assert_eq!(r.status, 401, "{path}");
    }
    s.send(None, Method::GET, "/ui/login", None)
        .await
        .expect(200);

    // a wrong token: the login page again, with a message, no cookie
    let login = |token: &str, next: &str, origin: Option<&str>| {
        let mut req = s
            .client
            .post(format!("{}/ui/login", s.base))
            .form(&[("token", token), ("next", next)]);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let r = login("nope", page, None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("not valid"));

    // a form posted from another site is refused
    let r = login(&s.viewer, page, Some("http://evil.example"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    // the right one: back to the page asked for, with the cookie
    let r = login(&s.viewer, page, Some(&s.base)).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], page);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie =
        |path: &'static str| s.send_with(Some(("cookie", pair.clone())), Method::GET, path, None);
    let r = with_cookie(page).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("/ui/assets/app.js"));
    // the UI's fetch calls to the API carry the cookie and work
    with_cookie("/api/v1/namespaces/team-a/deployments")
        .await
        .expect(200);
    // ... inside the token's namespace only, and with its role
    with_cookie("/api/v1/namespaces/team-b/deployments")
        .await
        .expect(403);
    let r = with_cookie("/ui/namespaces/team-b/deployments").await;
    assert_eq!(r.status, 403);
    assert!(
        r.text.contains("/ui/namespaces/team-a/deployments"),
        "{}",
        r.text
    );
    s.send_with(
        Some(("cookie", pair.clone())),
        Method::POST,
        "/api/v1/namespaces/team-a/deployments",
        Some(json!({"metadata": {"name": "x"}, "spec": minimal_spec()})),
    )
    .await
    .expect(403);

    // a login without a page to go back to lands on the token's namespace
    let r = login(&s.editor, "", None).await.unwrap();
    assert_eq!(r.headers()["location"], "/ui/namespaces/team-a/deployments");
    let r = login(ADMIN, "https://evil.example/", None).await.unwrap();
    assert_eq!(r.headers()["location"], "/ui/");

    // logout clears the cookie
    let r = s.send(None, Method::POST, "/ui/logout", None).await;
    assert_eq!(r.status, 303);
    assert!(r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_open_carries_no_names() {
    let s = start().await;
    s.deployment(FOREIGN).await;
    for path in ["/healthz", "/metrics", "/api/v1/openapi.json"] {
        let r = s.send(None, Method::GET, path, None).await;
        assert_eq!(r.status, 200, "{path}");
        // (the API description has 'team-a' as an example name)
        for name in [FOREIGN, "fixture-"] {
            assert!(!r.text.contains(name), "{path} shows '{name}'");
        }
    }
    let r = s.send(None, Method::GET, "/metrics", None).await;
    assert!(
        r.text
            .contains("stateplane_deployments{state=\"CANCELLED\"} 1"),
        "{}",
        r.text
    );
}
