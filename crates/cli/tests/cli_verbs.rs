//! The client verbs of the real binary against a real `stateplane server` process and, for the
//! `--wait` flows and savepoints, a real Flink cluster: what a person at a terminal types and sees.

mod common;

use common::{assert_fits, cli_at, deployment_yaml, field, Server};
use serde_json::Value;

fn jar() -> std::path::PathBuf {
    stateplane_testkit::flink::shared_cluster().example_jar()
}

fn flink_server() -> Server {
    Server::start(Some(stateplane_testkit::flink::shared_cluster().rest_url()))
}

/// The `_metadata` file of a `file:` savepoint location.
fn metadata_file(location: &str) -> std::path::PathBuf {
    stateplane_model::local_path(location)
        .unwrap_or_else(|| panic!("not a local location: {location}"))
        .join("_metadata")
}

#[test]
fn apply_creates_then_updates_by_name_and_lists_in_every_format() {
    // a target that is never used: the deployments stay CANCELLED
    let s = Server::start(Some("http://127.0.0.1:9"));
    let dir = s.dir.path().to_path_buf();
    let yaml = deployment_yaml("orders", &dir, &dir.join("job.jar"), "CANCELLED");
    let f = s.write("orders.yaml", &yaml);
    let out = s.ok(&["deployment", "apply", "-f", &f]);
    assert!(out.contains("deployment orders created"), "{out}");
    let out = s.ok(&["deployment", "apply", "-f", &f]);
    assert!(out.contains("deployment orders unchanged"), "{out}");
    // a changed label and parallelism: a merge patch of metadata.labels and spec
    let changed = yaml
        .replace("team: payments", "team: checkout")
        .replace("parallelism: 1", "parallelism: 2");
    let f2 = s.write("orders2.yaml", &changed);
    let out = s.ok(&["deployment", "apply", "-f", &f2]);
    assert!(
        out.contains("deployment orders configured (spec version 2"),
        "{out}"
    );

    // JSON works as well
    let json_body = serde_json::json!({
        "metadata": {"name": "a-deployment-with-a-rather-long-name-for-tables"},
        "spec": {"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///opt/jobs/job.jar"}}}}
    });
    let fj = s.write("long.json", &json_body.to_string());
    let out = s.ok(&["deployment", "apply", "-f", &fj]);
    assert!(out.contains("created"), "{out}");

    let table = s.ok(&["deployment", "list"]);
    assert_fits(&table);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("orders") && table.contains("CANCELLED"),
        "{table}"
    );
    assert!(table.contains("a-deployment-with-a"), "{table}");

    let list = s.json(&["deployment", "list"]);
    assert_eq!(list["kind"], "ResourceListOfDeployment");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let d = s.json(&["deployment", "get", "orders"]);
    assert_eq!(d["metadata"]["labels"]["team"], "checkout");
    assert_eq!(d["spec"]["template"]["spec"]["parallelism"], 2);
    let id = d["metadata"]["id"].as_str().unwrap().to_string();
    // by id as well as by name, and YAML
    let yaml_out = s.ok(&["-o", "yaml", "deployment", "get", &id]);
    assert!(yaml_out.contains("name: orders"), "{yaml_out}");
    assert!(yaml_out.contains("kind: Deployment"), "{yaml_out}");
    let get = s.ok(&["deployment", "get", "orders"]);
    assert_eq!(field(&get, "Name").as_deref(), Some("orders"));
    assert_eq!(field(&get, "Spec version").as_deref(), Some("2"));
    assert_eq!(
        field(&get, "Next restore").as_deref(),
        Some("nothing (starts without state)")
    );

    let out = s.ok(&["deployment", "delete", "orders"]);
    assert!(out.contains("deployment orders deleted"), "{out}");
    let table = s.ok(&["deployment", "list"]);
    assert!(!table.contains("orders"), "{table}");
}

#[test]
fn errors_are_one_line_with_the_servers_message() {
    let s = Server::start(None);
    let one_line = |o: &common::Out| {
        assert_ne!(o.code, 0, "{o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "one line on stderr: {o:?}");
        assert!(o.stderr.starts_with("error: "), "{o:?}");
        assert!(!o.stderr.contains("panicked"), "{o:?}");
    };

    let o = s.cli(&["deployment", "get", "nope"]);
    one_line(&o);
    assert!(
        o.stderr
            .contains("deployment 'nope' not found in namespace 'default'"),
        "{o:?}"
    );
    let o = s.cli(&["savepoint", "list", "--deployment", "nope"]);
    one_line(&o);
    let o = s.cli(&["-n", "elsewhere", "deployment", "list"]);
    one_line(&o);
    assert!(o.stderr.contains("elsewhere"), "{o:?}");

    // the server's field is named
    let bad = s.write(
        "bad.yaml",
        "metadata: {name: bad}\nspec: {template: {spec: {artifact: {kind: JAR, jarUri: 'ftp://x/a.jar'}}}}\n",
    );
    let o = s.cli(&["deployment", "apply", "-f", &bad]);
    one_line(&o);
    assert!(
        o.stderr.contains("(spec.template.spec.artifact.jarUri)"),
        "{o:?}"
    );

    // a refusal of the server: no running job to take a savepoint of
    let ok = s.write(
        "idle.yaml",
        "metadata: {name: idle}\nspec: {template: {spec: {artifact: {kind: JAR, jarUri: 'file:///a.jar'}, flinkConfiguration: {execution.checkpointing.savepoint-dir: 'file:///tmp/sp'}}}}\n",
    );
    s.ok(&["deployment", "apply", "-f", &ok]);
    let o = s.cli(&["savepoint", "create", "--deployment", "idle"]);
    one_line(&o);
    assert!(o.stderr.contains("no running job"), "{o:?}");

    // the user's own mistakes
    let o = s.cli(&["savepoint", "get", "zz"]);
    one_line(&o);
    let o = s.cli(&["deployment", "apply", "-f", "/does/not/exist.yaml"]);
    one_line(&o);
    assert!(o.stderr.contains("/does/not/exist.yaml"), "{o:?}");

    // nobody listening: one line naming the server
    let port = stateplane_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let o = cli_at(&url, &["deployment", "list"]);
    one_line(&o);
    assert!(o.stderr.contains(&url), "{o:?}");
    assert!(o.stderr.contains("connection refused"), "{o:?}");
}

#[test]
fn savepoints_create_add_copy_and_fork_on_real_flink() {
    let s = flink_server();
    let dir = s.dir.path().to_path_buf();
    let f = s.write("sp.yaml", &deployment_yaml("sp", &dir, &jar(), "RUNNING"));
    s.ok(&["deployment", "apply", "-f", &f]);
    // resume of a deployment already meant to run: waits until it runs
    let out = s.ok(&["deployment", "resume", "sp", "--wait", "--timeout", "3m"]);
    assert!(out.contains("deployment sp is RUNNING, job"), "{out}");

    // take a savepoint and wait: the final location is printed and holds Flink's _metadata
    let out = s.ok(&[
        "savepoint",
        "create",
        "--deployment",
        "sp",
        "--wait",
        "--timeout",
        "3m",
    ]);
    assert_eq!(field(&out, "State").as_deref(), Some("COMPLETED"), "{out}");
    assert_eq!(field(&out, "Origin").as_deref(), Some("USER_REQUEST"));
    let location = field(&out, "Location").expect("a location");
    let taken = field(&out, "Id").unwrap();
    assert!(
        metadata_file(&location).is_file(),
        "{location} has _metadata"
    );

    // add: registers the location stamped with the deployment's current spec version
    let out = s.ok(&[
        "savepoint",
        "add",
        "--deployment",
        "sp",
        "--location",
        &location,
    ]);
    assert!(
        out.contains("The next start of sp restores from this savepoint."),
        "{out}"
    );
    let added = field(&out, "Id").unwrap();
    assert_eq!(field(&out, "Origin").as_deref(), Some("COPIED"));
    assert_eq!(field(&out, "Spec version").as_deref(), Some("1"));
    let sp_json = s.json(&["savepoint", "get", &added]);
    assert_eq!(
        sp_json["metadata"]["annotations"][stateplane_model::SPEC_VERSION_ANNOTATION],
        "1"
    );
    let preview = s.ok(&["restore-preview", "sp"]);
    assert_eq!(
        field(&preview, "Restores from").as_deref(),
        Some(added.as_str()),
        "{preview}"
    );
    assert!(
        preview.contains("SKIPPED"),
        "the older one is listed as skipped: {preview}"
    );
    assert!(
        preview.contains(&format!("older than {added}")),
        "{preview}"
    );
    let preview_json = s.json(&["restore-preview", "sp"]);
    assert_eq!(preview_json["savepointId"], added.as_str());

    // list: the next restore is marked, tables fit
    let table = s.ok(&["savepoint", "list", "--deployment", "sp"]);
    assert_fits(&table);
    let marked: Vec<&str> = table.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(marked.len(), 2, "the marked row and the footnote: {table}");
    assert!(
        marked[0].contains(&added[..8]) && marked[0].contains("COPIED"),
        "{table}"
    );
    let all = s.ok(&["savepoint", "list"]);
    assert_fits(&all);
    assert!(all.contains("DEPLOYMENT") && all.contains("sp "), "{all}");
    // a unique prefix names a savepoint
    let got = s.ok(&["savepoint", "get", &taken[..8]]);
    assert_eq!(field(&got, "Id").as_deref(), Some(taken.as_str()));

    // copy to another deployment (created from JSON, never started)
    let other = serde_json::json!({"metadata": {"name": "other"}, "spec": {"state": "CANCELLED",
        "deploymentTargetName": "default",
        "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": format!("file://{}", jar().display())}}}}});
    let fo = s.write("other.json", &other.to_string());
    s.ok(&["deployment", "apply", "-f", &fo]);
    let out = s.ok(&["savepoint", "copy", &taken, "--deployment", "other"]);
    assert!(out.contains("(COPIED) for deployment other"), "{out}");
    let copies = s.json(&["savepoint", "list", "--deployment", "other"]);
    let copies = copies["items"].as_array().unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0]["metadata"]["origin"], "COPIED");
    assert_eq!(copies[0]["spec"]["savepointLocation"], location.as_str());
    assert_eq!(
        s.json(&["restore-preview", "other"])["savepointId"],
        copies[0]["metadata"]["id"]
    );

    // fork: a CANCELLED copy of the spec with a COPIED savepoint it starts from
    let out = s.ok(&[
        "deployment",
        "fork",
        "sp",
        "--from-savepoint",
        &taken[..8],
        "--name",
        "sp-fork",
    ]);
    assert!(out.contains("deployment sp-fork created from sp"), "{out}");
    assert!(out.contains("the next start restores from it"), "{out}");
    let fork = s.json(&["deployment", "get", "sp-fork"]);
    assert_eq!(fork["spec"]["state"], "CANCELLED");
    assert_eq!(fork["metadata"]["labels"]["team"], "payments");
    let fork_sps = s.json(&["savepoint", "list", "--deployment", "sp-fork"]);
    assert_eq!(
        fork_sps["items"][0]["spec"]["savepointLocation"],
        location.as_str()
    );
    // a savepoint of another deployment cannot be forked from, and nothing is left behind
    let o = s.cli(&[
        "deployment",
        "fork",
        "other",
        "--from-savepoint",
        &taken,
        "--name",
        "nope",
    ]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("belongs to deployment"), "{o:?}");
    assert!(s.cli(&["deployment", "get", "nope"]).code != 0);

    // the fork starts from the snapshot
    let out = s.ok(&[
        "deployment",
        "resume",
        "sp-fork",
        "--wait",
        "--timeout",
        "3m",
    ]);
    assert!(out.contains(&format!("restored from {location}")), "{out}");
    let jobs = s.ok(&["job", "list", "--deployment", "sp-fork"]);
    assert_fits(&jobs);
    assert!(jobs.contains("STARTED"), "{jobs}");

    // cleanup frees the cluster's slots
    for name in ["sp", "sp-fork"] {
        let out = s.ok(&["deployment", "cancel", name, "--wait", "--timeout", "2m"]);
        assert!(out.contains("is CANCELLED"), "{out}");
    }
    // a savepoint resource can be deleted
    let out = s.ok(&["savepoint", "delete", &added]);
    assert!(out.contains("deleted") || out.contains("disposed"), "{out}");
}

#[test]
fn suspend_resume_cancel_wait_events_and_jobs_on_real_flink() {
    let s = flink_server();
    let dir = s.dir.path().to_path_buf();
    let f = s.write(
        "life.yaml",
        &deployment_yaml("life", &dir, &jar(), "RUNNING"),
    );
    s.ok(&["deployment", "apply", "-f", &f]);
    let out = s.ok(&["deployment", "resume", "life", "--wait", "--timeout", "3m"]);
    assert!(out.contains("(started without state)"), "{out}");

    let out = s.ok(&["deployment", "suspend", "life", "--wait", "--timeout", "3m"]);
    assert!(
        out.contains("deployment life is SUSPENDED; the next start restores from file:"),
        "{out}"
    );
    let location = out
        .rsplit("restores from ")
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert!(metadata_file(&location).is_file(), "{location}");
    let d = s.json(&["deployment", "get", "life"]);
    assert_eq!(d["status"]["state"], "SUSPENDED");

    let out = s.ok(&["deployment", "resume", "life", "--wait", "--timeout", "3m"]);
    assert!(
        out.contains(&format!("(restored from {location})")),
        "{out}"
    );

    let jobs = s.ok(&["job", "list", "--deployment", "life"]);
    assert_fits(&jobs);
    assert_eq!(jobs.lines().count(), 3, "header and two jobs: {jobs}");
    assert!(
        jobs.contains("TERMINATED") && jobs.contains("(no state)"),
        "{jobs}"
    );
    let jobs_json = s.json(&["job", "list", "--deployment", "life"]);
    assert_eq!(
        jobs_json["items"][0]["spec"]["savepointLocation"],
        location.as_str()
    );

    let events = s.ok(&["events", "--deployment", "life"]);
    assert_fits(&events);
    assert!(events.starts_with("TIME"), "{events}");
    assert!(events.contains("CREATING_A_SAVEPOINT_BEFORE"), "{events}");
    let events_json = s.json(&["events", "--deployment", "life"]);
    let n = events_json["items"].as_array().unwrap().len();
    assert!(n >= 4, "{events_json}");

    // --follow prints what is there, then what comes, each event once
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_stateplane"))
        .args([
            "--server",
            &s.url,
            "-o",
            "json",
            "events",
            "--deployment",
            "life",
            "--follow",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = s.ok(&["deployment", "cancel", "life", "--wait", "--timeout", "2m"]);
    assert!(out.contains("deployment life is CANCELLED"), "{out}");
    let want = s.json(&["events", "--deployment", "life"])["items"]
        .as_array()
        .unwrap()
        .len();
    assert!(want > n);
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut ids = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let v: Value = serde_json::from_str(&line).expect("one JSON event per line");
            ids.push(v["metadata"]["id"].as_str().unwrap().to_string());
            if ids.len() >= want {
                let _ = tx.send(ids);
                return;
            }
        }
    });
    let ids = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("--follow printed every event");
    let _ = follow.kill();
    let _ = follow.wait();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "each event once");

    // cancelled and stopped: it can go
    s.ok(&["deployment", "delete", "life"]);
    let o = s.cli(&["deployment", "get", "life"]);
    assert_ne!(o.code, 0);
}

/// `deployment delete --keep-snapshot-data` keeps the data, `storage orphans` lists it as a table
/// (the whole location, last), and `--dispose` deletes exactly what it names.
#[test]
fn storage_orphans_lists_kept_data_and_disposes_of_it_when_named() {
    let blob_dir = stateplane_testkit::temp_dir();
    let blob = format!("file://{}", blob_dir.path().display());
    let s = Server::start_with_env(
        Some("http://127.0.0.1:9"),
        &[("STATEPLANE_BLOB_STORAGE_URI", blob.as_str())],
    );
    let out = s.ok(&["storage", "orphans"]);
    assert!(out.contains("No orphans in namespace 'default'"), "{out}");

    let dir = s.dir.path().to_path_buf();
    let yaml = deployment_yaml("orders", &dir, &dir.join("job.jar"), "CANCELLED");
    s.ok(&["deployment", "apply", "-f", &s.write("orders.yaml", &yaml)]);
    let id = s.json(&["deployment", "get", "orders"])["metadata"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A snapshot under the deployment's derived savepoint directory, registered to it.
    let snapshot = format!(
        "{blob}/flink-savepoints/namespaces/default/deployments/{id}/{}/savepoint-0a0b-000000000001",
        uuid::Uuid::new_v4()
    );
    let path = stateplane_model::local_path(&snapshot).unwrap();
    std::fs::create_dir_all(&path).unwrap();
    // Flink's _metadata header: magic, version 6, checkpoint id 5 (big-endian).
    let mut header = 0x4960_672Du32.to_be_bytes().to_vec();
    header.extend(6i32.to_be_bytes());
    header.extend(5i64.to_be_bytes());
    std::fs::write(path.join("_metadata"), header).unwrap();
    s.ok(&[
        "savepoint",
        "add",
        "--deployment",
        "orders",
        "--location",
        &snapshot,
    ]);

    let out = s.ok(&["deployment", "delete", "orders", "--keep-snapshot-data"]);
    assert!(out.contains("deployment orders deleted"), "{out}");
    assert!(path.join("_metadata").is_file(), "kept: {out}");

    let table = s.ok(&["storage", "orphans"]);
    assert!(table.starts_with("KIND"), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains("savepoint-0a0b"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.ends_with(&snapshot), "the whole location: {row}");
    assert!(
        row.contains("SAVEPOINT") && row.contains("(deleted)"),
        "{row}"
    );
    assert!(table.contains("1 orphans"), "{table}");
    assert!(path.join("_metadata").is_file(), "listing deletes nothing");

    // Anything else is refused, naming the location at fault.
    let out = s.cli(&["storage", "orphans", "--dispose", &snapshot, "file:///etc"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("locations[1]"), "{}", out.stderr);
    assert!(path.join("_metadata").is_file());

    let out = s.ok(&["storage", "orphans", "--dispose", &snapshot]);
    assert!(out.contains("DISPOSED"), "{out}");
    assert!(!path.exists(), "disposed of");
    let out = s.ok(&["storage", "orphans"]);
    assert!(out.contains("No orphans"), "{out}");
}
