//! Access control with the real binary: `stateplane server --auth` (the admin token generated into the
//! data dir, from `STATEPLANE_ADMIN_TOKEN`, or from `--admin-token-file`), the `token` verbs and
//! `--token` / `STATEPLANE_TOKEN` with the other verbs, the UI refusing without a login, no secret in
//! the server's log or its database files, and the refusal to listen beyond loopback without `--auth`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `stateplane server` whose stderr is kept, line by line.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Reads stderr into `log`; finished once the process closed it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_cmd(data: &Path, extra: &[&str]) -> Command {
    server_cmd_on("127.0.0.1:0", data, extra)
}

fn server_cmd_on(listen: &str, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stateplane"));
    cmd.args(["server", "--listen", listen, "--data-dir"])
        .arg(data)
        .args(extra)
        .env(
            "RUST_LOG",
            "debug,sqlx=warn,hyper=info,h2=info,tower=info,reqwest=info",
        )
        .env("NO_COLOR", "1")
        .env_remove("STATEPLANE_ADMIN_TOKEN")
        .env_remove("STATEPLANE_AUTH")
        .env_remove("STATEPLANE_LISTEN")
        .env_remove("STATEPLANE_DATABASE_URL");
    cmd
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let stateplane_testkit::process::Spawned {
            child,
            addr,
            log,
            reader,
        } = stateplane_testkit::process::spawn_server(&mut cmd, Duration::from_secs(30));
        Server {
            child,
            url: format!("http://{addr}"),
            log,
            reader: Some(reader),
        }
    }

    /// Stops the server with SIGTERM (so everything is logged) and returns its whole log.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = stateplane_testkit::wait::until(
            "the server to exit after SIGTERM",
            Duration::from_secs(20),
            || match self.child.try_wait() {
                Ok(Some(status)) => Ok(status),
                Ok(None) => Err("still running".into()),
                Err(e) => Err(e.to_string()),
            },
        );
        assert!(status.success(), "exit status {status:?}");
        if let Some(reader) = self.reader.take() {
            stateplane_testkit::process::wait_log_closed(&reader, Duration::from_secs(10));
        }
        self.log.lock().unwrap().join("\n")
    }
}

/// Output of a client run.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `stateplane --server <url> <args>` with `STATEPLANE_TOKEN` set to `env_token` (if any).
fn cli(url: &str, env_token: Option<&str>, args: &[&str]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stateplane"));
    cmd.arg("--server")
        .arg(url)
        .args(args)
        .env_remove("STATEPLANE_SERVER")
        .env_remove("STATEPLANE_TOKEN")
        .stdin(Stdio::null());
    if let Some(t) = env_token {
        cmd.env("STATEPLANE_TOKEN", t);
    }
    let out = cmd.output().expect("run the binary");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn ok(out: Out) -> String {
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stdout
}

#[track_caller]
fn refused(out: Out, says: &str) {
    assert_eq!(
        out.code, 1,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(
        out.stderr.contains(says),
        "expected '{says}' in: {}",
        out.stderr
    );
}

/// Sends one HTTP request (redirects not followed): status, headers, body.
fn http<F>(build: F) -> (u16, reqwest::header::HeaderMap, String)
where
    F: FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = build(&c).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.unwrap())
    })
}

const DEPLOYMENT: &str = "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: by-token\nspec:\n  state: CANCELLED\n  template:\n    spec:\n      artifact:\n        kind: JAR\n        jarUri: file:///opt/jobs/job.jar\n";

#[test]
fn tokens_end_to_end_with_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(server_cmd(&data, &["--auth"]));

    // The admin token was generated into the data dir, readable by its owner only.
    let file = data.join("admin-token");
    let admin = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(
        admin.starts_with("sp_admin_") && admin.len() >= 64,
        "{admin}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // Without a token every verb is refused with a pointer to --token.
    refused(
        cli(&s.url, None, &["deployment", "list"]),
        "--token or STATEPLANE_TOKEN",
    );
    refused(
        cli(&s.url, Some("sp_nope"), &["deployment", "list"]),
        "not valid",
    );

    // The admin creates a namespace's tokens; the secret is printed alone on stdout.
    let (status, _, _) = http(|c| {
        c.post(format!("{}/api/v1/namespaces", s.url))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"metadata": {"name": "team-b"}}))
    });
    assert_eq!(status, 201);
    let out = cli(
        &s.url,
        None,
        &[
            "--token", &admin, "token", "create", "ci", "--role", "editor",
        ],
    );
    assert!(
        out.stderr.contains("shown only this once"),
        "{}",
        out.stderr
    );
    let editor = ok(out).trim().to_string();
    assert!(editor.starts_with("sp_"), "{editor}");
    let owner = ok(cli(
        &s.url,
        Some(&admin),
        &["token", "create", "lead", "--role", "owner"],
    ))
    .trim()
    .to_string();
    let listed = ok(cli(&s.url, Some(&owner), &["token", "list"]));
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        listed.contains("ci") && listed.contains("editor") && listed.contains("lead"),
        "{listed}"
    );
    assert!(
        !listed.contains(&editor[3..]) && !listed.contains(&owner[3..]),
        "no secrets: {listed}"
    );
    let json = ok(cli(&s.url, Some(&owner), &["-o", "json", "token", "list"]));
    assert!(
        json.contains("namespaces/default/apitokens/ci") && !json.contains("secret"),
        "{json}"
    );
    // an editor may not manage tokens
    refused(
        cli(&s.url, Some(&editor), &["token", "list"]),
        "needs role owner",
    );

    // STATEPLANE_TOKEN and --token work with the other verbs, as far as the role goes
    let yaml = dir.path().join("d.yaml");
    std::fs::write(&yaml, DEPLOYMENT).unwrap();
    ok(cli(
        &s.url,
        Some(&editor),
        &["deployment", "apply", "-f", yaml.to_str().unwrap()],
    ));
    let list = ok(cli(
        &s.url,
        None,
        &["--token", &editor, "deployment", "list"],
    ));
    assert!(list.contains("by-token"), "{list}");
    ok(cli(&s.url, Some(&editor), &["savepoint", "list"]));
    ok(cli(
        &s.url,
        Some(&editor),
        &["events", "--deployment", "by-token"],
    ));
    let viewer = ok(cli(
        &s.url,
        Some(&owner),
        &["token", "create", "reader", "--role", "viewer"],
    ))
    .trim()
    .to_string();
    ok(cli(
        &s.url,
        Some(&viewer),
        &["deployment", "get", "by-token"],
    ));
    refused(
        cli(&s.url, Some(&viewer), &["deployment", "delete", "by-token"]),
        "needs role editor",
    );
    // ... and only in their namespace
    refused(
        cli(
            &s.url,
            Some(&editor),
            &["-n", "team-b", "deployment", "list"],
        ),
        "no access to namespace 'team-b'",
    );
    ok(cli(
        &s.url,
        Some(&admin),
        &["-n", "team-b", "deployment", "list"],
    ));

    // The UI refuses without a login: the login page, not the UI.
    let page_url = format!("{}/ui/namespaces/default/deployments", s.url);
    let (status, _, page) = http(|c| c.get(&page_url));
    assert_eq!(status, 401);
    assert!(
        page.contains(r#"action="/ui/login""#) && !page.contains("<script"),
        "{page}"
    );
    let (status, headers, _) = http(|c| {
        c.post(format!("{}/ui/login", s.url)).form(&[
            ("token", viewer.as_str()),
            ("next", "/ui/namespaces/default/deployments"),
        ])
    });
    assert_eq!(status, 303);
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let (status, _, page) = http(|c| c.get(&page_url).header("cookie", &cookie));
    assert_eq!(status, 200);
    assert!(page.contains("/ui/assets/app.js"), "{page}");
    let (status, _, _) = http(|c| {
        c.get(format!("{}/api/v1/namespaces/default/deployments", s.url))
            .header("cookie", &cookie)
    });
    assert_eq!(status, 200, "the UI's API calls carry the cookie");
    // open without a token: health, metrics, the API description
    for path in ["/healthz", "/metrics", "/api/v1/openapi.json"] {
        let (status, _, _) = http(|c| c.get(format!("{}{path}", s.url)));
        assert_eq!(status, 200, "{path}");
    }

    // Deleting a token shuts it out at once.
    ok(cli(&s.url, Some(&owner), &["token", "delete", "ci"]));
    refused(
        cli(&s.url, Some(&editor), &["deployment", "list"]),
        "not valid",
    );
    refused(
        cli(&s.url, Some(&owner), &["token", "delete", "ci"]),
        "not found",
    );

    let log = s.stop();
    // Writes are audited with who made them, and no secret ever reaches the log.
    assert!(log.contains("stateplane::audit"), "{log}");
    assert!(
        log.contains("token 'ci' (editor) of namespace 'default'"),
        "{log}"
    );
    assert!(log.contains(r#"who="admin""#), "{log}");
    assert!(log.contains("write refused"), "{log}");
    for secret in [&admin, &editor, &owner, &viewer] {
        let random = secret.rsplit('_').next().unwrap();
        assert!(!log.contains(random), "a secret is in the log:\n{log}");
    }
    // ... nor the database files (the admin token's own file aside)
    let mut db = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap() != "admin-token" && p.is_file() {
            db.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(db.len() > 10_000);
    let db = String::from_utf8_lossy(&db);
    for secret in [&admin, &editor, &owner, &viewer] {
        assert!(
            !db.contains(secret.rsplit('_').next().unwrap()),
            "a secret is in the database"
        );
    }

    // A restart keeps the admin token (and every other token).
    let s = Server::start(server_cmd(&data, &["--auth"]));
    ok(cli(&s.url, Some(&admin), &["token", "list"]));
    ok(cli(&s.url, Some(&viewer), &["deployment", "list"]));
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), admin);
}

#[test]
fn the_admin_token_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = "an-admin-token-chosen-by-the-operator";
    let mut cmd = server_cmd(&dir.path().join("a"), &["--auth"]);
    cmd.env("STATEPLANE_ADMIN_TOKEN", token);
    let s = Server::start(cmd);
    ok(cli(&s.url, Some(token), &["token", "list"]));
    assert!(
        !dir.path().join("a/admin-token").exists(),
        "nothing generated"
    );
    let log = s.stop();
    assert!(
        log.contains("admin_token_from=STATEPLANE_ADMIN_TOKEN"),
        "{log}"
    );
    assert!(!log.contains(token), "{log}");

    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let s = Server::start(server_cmd(
        &dir.path().join("b"),
        &["--auth", "--admin-token-file", file.to_str().unwrap()],
    ));
    ok(cli(&s.url, Some(token), &["token", "list"]));
    refused(
        cli(
            &s.url,
            Some("an-admin-token-chosen-by-someone-else"),
            &["token", "list"],
        ),
        "not valid",
    );
    drop(s);

    // refusals to start: both given, too short
    let mut cmd = server_cmd(
        &dir.path().join("c"),
        &["--auth", "--admin-token-file", file.to_str().unwrap()],
    );
    cmd.env("STATEPLANE_ADMIN_TOKEN", token);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give the admin token one way"));
    let mut cmd = server_cmd(&dir.path().join("d"), &["--auth"]);
    cmd.env("STATEPLANE_ADMIN_TOKEN", "tiny4u");
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("too short") && !err.contains("tiny4u"),
        "{err}"
    );
}

#[test]
fn without_auth_only_loopback_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_stateplane"))
            .args(["server", "--listen", listen, "--data-dir"])
            .arg(dir.path().join("data"))
            .env_remove("STATEPLANE_AUTH")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refusing to listen")
                && err.contains("--auth")
                && err.contains("--insecure-listen-anywhere"),
            "{err}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "refused before touching anything"
        );
    }
    // said explicitly: it starts
    let s = Server::start(server_cmd_on(
        "0.0.0.0:0",
        &dir.path().join("data"),
        &["--insecure-listen-anywhere"],
    ));
    assert!(s.url.starts_with("http://0.0.0.0:"), "{}", s.url);
    drop(s);
    // with --auth it starts anywhere
    drop(Server::start(server_cmd_on(
        "0.0.0.0:0",
        &dir.path().join("data2"),
        &["--auth"],
    )));
}

#[test]
fn postgres_replicas_need_a_given_admin_token() {
    let db = stateplane_testkit::postgres::shared_server().create_database();
    let dir = tempfile::tempdir().unwrap();
    let out = server_cmd(
        &dir.path().join("data"),
        &["--auth", "--database-url", db.url()],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("STATEPLANE_ADMIN_TOKEN or --admin-token-file"),
        "{err}"
    );
    assert!(!dir.path().join("data/admin-token").exists());

    let token = "a-shared-admin-token-for-every-replica";
    let start = || {
        let mut cmd = server_cmd(
            &dir.path().join("data"),
            &["--auth", "--database-url", db.url()],
        );
        cmd.env("STATEPLANE_ADMIN_TOKEN", token);
        Server::start(cmd)
    };
    let (a, b) = (start(), start());
    // a token created through one replica works on the other at once
    let secret = ok(cli(
        &a.url,
        Some(token),
        &["token", "create", "ci", "--role", "viewer"],
    ))
    .trim()
    .to_string();
    ok(cli(&b.url, Some(&secret), &["deployment", "list"]));
    ok(cli(&a.url, Some(token), &["token", "delete", "ci"]));
    refused(
        cli(&b.url, Some(&secret), &["deployment", "list"]),
        "not valid",
    );
}
