//! `stateplane deployment upgrade-preview` of the real binary against a real server and Flink 2.3:
//! a renamed stateful uid is shown as dropped state and a refused upgrade, the operators' table fits
//! a terminal, `-o json` is the API's answer, and a bad change is one line with the server's reason.

mod common;

use std::time::Duration;

use common::{assert_fits, deployment_yaml, field, Server};

#[test]
fn a_renamed_uid_previews_as_dropped_state_in_a_table() {
    let cluster = stateplane_testkit::flink::shared_cluster();
    let s = Server::start(Some(cluster.rest_url()));
    let dir = s.dir.path().to_path_buf();
    let f = s.write(
        "up.yaml",
        &deployment_yaml("up", &dir, &cluster.example_jar(), "RUNNING"),
    );
    s.ok(&["deployment", "apply", "-f", &f]);
    s.ok(&["deployment", "resume", "up", "--wait", "--timeout", "3m"]);
    let change = s.write(
        "rename.yaml",
        "spec:\n  template:\n    spec:\n      artifact:\n        mainArgs: 20 --tag up --counter-uid counter-renamed\n",
    );
    // The running job's first checkpoint is what the preview compares with: until it completes the
    // answer is NOT_CHECKED.
    let out = stateplane_testkit::wait::until(
        "a preview that compared the running job's state",
        Duration::from_secs(60),
        || {
            let out = s.ok(&["deployment", "upgrade-preview", "up", "-f", &change]);
            match field(&out, "Decision").as_deref() {
                Some("NOT_CHECKED") => Err(out),
                _ => Ok(out),
            }
        },
    );
    // The operators' table fits a terminal (the header fields and reasons are sentences).
    let table: String = out
        .lines()
        .skip_while(|l| !l.starts_with("UID/NAME"))
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(table.lines().count(), 5, "header and four operators: {out}");
    assert_fits(&table);
    assert_eq!(field(&out, "Decision").as_deref(), Some("REFUSED"), "{out}");
    assert_eq!(
        field(&out, "Verdict").as_deref(),
        Some("DROPS_STATE"),
        "{out}"
    );
    assert!(
        field(&out, "Snapshot").is_some_and(|s| s.contains("of the running job")),
        "{out}"
    );
    let row = |uid: &str| {
        out.lines()
            .find(|l| l.starts_with(uid))
            .unwrap_or_else(|| panic!("no row {uid}: {out}"))
            .split_whitespace()
            .nth(2)
            .map(str::to_string)
    };
    assert_eq!(row("count-per-key").as_deref(), Some("DROPPED"), "{out}");
    assert_eq!(row("sequence-source").as_deref(), Some("RESTORED"), "{out}");
    assert_eq!(row("print-sink").as_deref(), Some("RESTORED"), "{out}");
    let json = s.json(&["deployment", "upgrade-preview", "up", "-f", &change]);
    assert_eq!(json["decision"], "REFUSED", "{json}");
    assert!(
        json["operators"].as_array().is_some_and(|o| o.len() == 4),
        "{json}"
    );
    // Nothing changed.
    let d = s.json(&["deployment", "get", "up"]);
    assert!(
        d["spec"]["template"]["spec"]["artifact"]["mainArgs"] == "20 --tag up",
        "{d}"
    );

    let bad = s.write(
        "bad.yaml",
        "spec:\n  template:\n    spec:\n      parallelism: two\n",
    );
    let out = s.cli(&["deployment", "upgrade-preview", "up", "-f", &bad]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("parallelism"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);

    s.ok(&["deployment", "cancel", "up", "--wait", "--timeout", "3m"]);
}
