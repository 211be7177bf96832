//! The `_metadata` reader on snapshots real Flink wrote: savepoints (canonical and native) and a
//! retained checkpoint of the example job (`examples/stateful-counter`, uids `sequence-source` →
//! `count-per-key` → `print-sink`), on Flink 2.3.0 and 1.20.5, with the hashmap and the RocksDB
//! state backend (both ship in flink-dist), with small state (inlined in `_metadata`) and with
//! `--state-kib` ballast (state in files). Each snapshot is checked against what Flink itself says
//! about the job and the snapshot over REST, and then fed damaged (every prefix, random byte flips
//! with a fixed seed) to the parser, which must answer every time, quickly, without panicking.
//!
//! Set `STATEPLANE_TEST_METADATA_OUT=<dir>` to keep a copy of every `_metadata` read (the fuzz
//! target's seeds come from there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stateplane_blob::metadata::{operator_id_for_uid, parse, OperatorSummary, SnapshotSummary};
use stateplane_blob::BlobLocation;
use stateplane_flink::{
    FlinkClient, FlinkJobId, JobState, RunJarRequest, SavepointFormat, SavepointStatus,
    SavepointTrigger, TriggerId,
};
use stateplane_testkit::flink::{
    shared_cluster_of, TestCluster, DEFAULT_FLINK_VERSION, FLINK_1_20,
};
use stateplane_testkit::temp_dir;

const DEADLINE: Duration = Duration::from_secs(90);
const PARALLELISM: u32 = 2;
const SOURCE: &str = "sequence-source";
const COUNTER: &str = "count-per-key";
const SINK: &str = "print-sink";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Hashmap,
    RocksDb,
}

/// Polls `f` every 100 ms until it yields `Some`, or panics after `DEADLINE` naming `what`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Flink's REST API, for what the typed client does not expose (vertex ids and max parallelism,
/// per-vertex checkpoint sizes, manual checkpoints).
struct Rest {
    http: reqwest::Client,
    base: String,
}

impl Rest {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// One snapshot Flink wrote, with what Flink says about it.
struct Snapshot {
    kind: &'static str,
    path: PathBuf,
    summary: SnapshotSummary,
    /// `GET /jobs/{jid}/checkpoints/details/{id}`.
    details: Value,
}

fn local_path(uri: &str) -> PathBuf {
    let p = uri.strip_prefix("file:").unwrap_or(uri);
    PathBuf::from(format!("/{}", p.trim_start_matches('/')))
}

/// Distinct keys the job printed under `tag` (lines `tag> …` or, at parallelism > 1, `tag:N> …`).
fn printed_keys(stdout: &Path, tag: &str) -> usize {
    let text = std::fs::read_to_string(stdout).unwrap_or_default();
    let keys: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(tag))
        .filter_map(|l| l.split_once("> "))
        .filter(|(sub, _)| sub.is_empty() || sub.starts_with(':'))
        .filter_map(|(_, rest)| rest.split_whitespace().next())
        .collect();
    keys.len()
}

/// The details of checkpoint `id` of `job`, once Flink's statistics have them. Its `external_path`
/// must be `path`: when the job's statistics (cached for up to 3 s) do not have the checkpoint yet,
/// Flink's details handler answers from a cache of recent checkpoints keyed by checkpoint id alone,
/// across jobs, and so may answer with another job's checkpoint of the same id.
async fn details(rest: &Rest, job: &FlinkJobId, id: i64, path: &Path) -> Value {
    eventually(&format!("statistics of checkpoint {id}"), || async {
        let (s, v) = rest
            .get(&format!("/jobs/{job}/checkpoints/details/{id}"))
            .await;
        let ours = v["external_path"].as_str().map(local_path).as_deref() == Some(path);
        (s == 200 && v["status"] == "COMPLETED" && ours).then_some(v)
    })
    .await
}

async fn read(location: &str) -> SnapshotSummary {
    let loc = BlobLocation::parse(location).expect("Flink's location parses");
    loc.read_summary()
        .await
        .unwrap_or_else(|e| panic!("{location}: {e}"))
}

/// Runs the example job with `backend` and `state_kib`, takes a canonical and a native savepoint
/// and a (manually triggered) checkpoint retained on cancel, and checks each.
async fn scenario(version: &str, backend: Backend, state_kib: u32) {
    let cluster: &TestCluster = shared_cluster_of(version);
    let client = FlinkClient::new(cluster.rest_url()).expect("REST URL");
    let rest = Rest {
        http: reqwest::Client::new(),
        base: cluster.rest_url().to_string(),
    };
    let jar = client
        .upload_jar(&cluster.example_jar())
        .await
        .expect("upload the example job");
    let dir = temp_dir();
    let ckpt_dir = dir.path().join("checkpoints");
    let tag = format!("md-{}", &TriggerId::random().as_str()[..8]);
    let mut config = BTreeMap::from([
        (
            "state.backend.type".to_owned(),
            match backend {
                Backend::Hashmap => "hashmap",
                Backend::RocksDb => "rocksdb",
            }
            .to_owned(),
        ),
        // No periodic checkpoints after the first (Flink takes one as soon as all tasks run): the
        // one checked is triggered below.
        (
            "execution.checkpointing.interval".to_owned(),
            "1 h".to_owned(),
        ),
        (
            "execution.checkpointing.dir".to_owned(),
            format!("file://{}", ckpt_dir.display()),
        ),
        (
            "execution.checkpointing.externalized-checkpoint-retention".to_owned(),
            "RETAIN_ON_CANCELLATION".to_owned(),
        ),
    ]);
    if backend == Backend::RocksDb {
        config.insert(
            "execution.checkpointing.incremental".to_owned(),
            "true".to_owned(),
        );
    }
    let job = client
        .run_jar(
            &jar,
            &RunJarRequest {
                program_args: vec![
                    "50".into(),
                    "--tag".into(),
                    tag.clone(),
                    "--state-kib".into(),
                    state_kib.to_string(),
                ],
                parallelism: Some(PARALLELISM),
                flink_configuration: config,
                ..Default::default()
            },
        )
        .await
        .expect("run the example job");
    // Every task runs (the four keys may all live in one subtask, so output alone does not say
    // so; /jobs/overview is not cached), and every key has state once the job printed it.
    eventually("every task running", || async {
        let jobs = client.jobs_overview().await.expect("jobs overview");
        jobs.iter()
            .any(|j| j.id == job && j.all_tasks_running())
            .then_some(())
    })
    .await;
    let stdout = cluster.taskmanager_stdout();
    eventually("output for every key", || async {
        (printed_keys(&stdout, &tag) == 4).then_some(())
    })
    .await;
    let (s, graph) = rest.get(&format!("/jobs/{job}")).await;
    assert_eq!(s, 200, "{graph}");

    let mut snapshots = Vec::new();
    for (kind, format) in [
        ("canonical savepoint", SavepointFormat::Canonical),
        ("native savepoint", SavepointFormat::Native),
    ] {
        let trigger = SavepointTrigger {
            target_directory: format!("file://{}", dir.path().join("savepoints").display()),
            format,
            trigger_id: TriggerId::random(),
            cancel_job: false,
        };
        client
            .trigger_savepoint(&job, &trigger)
            .await
            .expect("trigger a savepoint");
        let status = eventually(&format!("{kind} of {job}"), || async {
            match client
                .savepoint_status(&job, &trigger.trigger_id)
                .await
                .expect("savepoint status")
            {
                SavepointStatus::InProgress => None,
                done => Some(done),
            }
        })
        .await;
        let SavepointStatus::Completed { location } = status else {
            let cause = client.job_exceptions(&job).await;
            panic!("{kind} failed: {status:?}; the job's exceptions: {cause:?}");
        };
        let summary = read(&location).await;
        let details = details(&rest, &job, summary.checkpoint_id, &local_path(&location)).await;
        assert_eq!(details["is_savepoint"], true, "{details}");
        snapshots.push(Snapshot {
            kind,
            path: local_path(&location),
            summary,
            details,
        });
    }

    // A checkpoint now, retained when the job is cancelled.
    let (s, v) = rest
        .post(&format!("/jobs/{job}/checkpoints"), json!({}))
        .await;
    assert!(s == 200 || s == 202, "POST checkpoints: {s} {v}");
    let trigger = v["request-id"].as_str().expect("request-id").to_owned();
    let id = eventually("the triggered checkpoint", || async {
        let (_, v) = rest
            .get(&format!("/jobs/{job}/checkpoints/{trigger}"))
            .await;
        if v["status"]["id"] != "COMPLETED" {
            return None;
        }
        let id = v["operation"]["checkpointId"].as_i64();
        assert!(id.is_some(), "the checkpoint failed: {v}");
        id
    })
    .await;
    let chk = ckpt_dir.join(job.as_str()).join(format!("chk-{id}"));
    let details = details(&rest, &job, id, &chk).await;
    client.cancel(&job).await.expect("cancel");
    eventually("the job to be cancelled", || async {
        let s = client.job_status(&job).await.expect("job status");
        (s == Some(JobState::Canceled)).then_some(())
    })
    .await;
    let summary = read(&format!("file://{}", chk.display())).await;
    snapshots.push(Snapshot {
        kind: "retained checkpoint",
        path: chk,
        summary,
        details,
    });

    for snap in &snapshots {
        let what = format!("Flink {version} {backend:?} {state_kib} KiB {}", snap.kind);
        check(&what, version, backend, state_kib, snap, &graph);
        keep_copy(&what, &snap.path);
        damaged_copies_are_answered(&what, &std::fs::read(snap.path.join("_metadata")).unwrap());
    }
}

fn operator<'a>(s: &'a SnapshotSummary, uid: &str, what: &str) -> &'a OperatorSummary {
    let id = operator_id_for_uid(uid);
    s.operators
        .iter()
        .find(|o| o.operator_id == id)
        .unwrap_or_else(|| panic!("{what}: no operator {id} (uid {uid}) in {s:#?}"))
}

/// Sizes Flink reports for a checkpoint: the subtasks' acknowledged state, which leaves out the
/// coordinators' state (the JobManager snapshots that itself).
fn subtask_state(o: &OperatorSummary) -> u64 {
    o.state.total - o.state.coordinator
}

fn check(
    what: &str,
    version: &str,
    backend: Backend,
    state_kib: u32,
    snap: &Snapshot,
    graph: &Value,
) {
    let s = &snap.summary;
    eprintln!("{what}: {}", serde_json::to_string(s).unwrap_or_default());
    let want_version = if version.starts_with("1.") { 4 } else { 6 };
    assert_eq!(s.format_version, want_version, "{what}");
    assert_eq!(Some(s.checkpoint_id), snap.details["id"].as_i64(), "{what}");

    let source = operator(s, SOURCE, what);
    let counter = operator(s, COUNTER, what);
    let sink = operator(s, SINK, what);
    let vertices = graph["vertices"].as_array().expect("vertices");
    for (uid, op) in [(SOURCE, source), (COUNTER, counter), (SINK, sink)] {
        assert_eq!(op.parallelism, PARALLELISM, "{what}: {uid}");
        assert_eq!(op.subtask_states, PARALLELISM, "{what}: {uid}");
        assert!(!op.fully_finished, "{what}: {uid}");
        if want_version >= 5 {
            assert_eq!(op.uid.as_deref(), Some(uid), "{what}: uid recorded");
        } else {
            assert_eq!(op.uid, None, "{what}: version 4 has no uids");
        }
        assert_eq!(
            op.state.inline + op.state.in_files,
            op.state.total,
            "{what}: {uid}"
        );
    }
    // Each chain's vertex has its head operator's id; the sink is chained behind the counter.
    let vertex = |head: &OperatorSummary| {
        vertices
            .iter()
            .find(|v| v["id"] == head.operator_id.as_str())
            .unwrap_or_else(|| panic!("{what}: no vertex {} in {graph}", head.operator_id))
    };
    for (head, ops) in [(source, vec![source]), (counter, vec![counter, sink])] {
        let v = vertex(head);
        for op in &ops {
            assert_eq!(
                Some(u64::from(op.max_parallelism)),
                v["maxParallelism"].as_u64(),
                "{what}: max parallelism of {}",
                op.operator_id
            );
        }
        // Flink's per-vertex figure is the sum of its subtasks' state sizes, which Flink computes
        // with the same getStateSize() the handles are counted by here: they agree to the byte.
        let flink = snap.details["tasks"][head.operator_id.as_str()]["state_size"].as_u64();
        let ours: u64 = ops.iter().map(|o| subtask_state(o)).sum();
        assert_eq!(
            flink,
            Some(ours),
            "{what}: state size of vertex {}",
            v["name"]
        );
    }
    let ours: u64 = s.operators.iter().map(subtask_state).sum();
    assert_eq!(
        snap.details["state_size"].as_u64(),
        Some(ours),
        "{what}: state size"
    );
    assert_eq!(
        s.total.total - s.total.coordinator,
        ours,
        "{what}: totals add up"
    );

    assert!(
        counter.state.keyed > 0,
        "{what}: the counter has keyed state"
    );
    assert_eq!(
        counter.state.operator + counter.state.raw + counter.state.channel,
        0,
        "{what}"
    );
    assert!(
        source.state.operator > 0,
        "{what}: the source reader's splits"
    );
    assert!(source.state.coordinator > 0, "{what}: the split enumerator");
    assert_eq!(source.state.keyed, 0, "{what}");
    // Ballast of state_kib is spread over four keys; with none, the counts fit inline.
    if state_kib == 0 && backend == Backend::Hashmap {
        assert_eq!(counter.state.in_files, 0, "{what}: small state is inlined");
    }
    if state_kib >= 256 {
        assert!(
            counter.state.in_files >= u64::from(state_kib) * 1024 / 2,
            "{what}: ballast in files"
        );
        assert!(
            counter.state.relative_file_references + counter.state.absolute_file_references > 0,
            "{what}"
        );
    }
    // Savepoints name their files relative to their directory; a checkpoint's own (exclusive)
    // files are relative too, while RocksDB's incremental checkpoints refer to shared files by
    // absolute path.
    let refs = (
        s.total.relative_file_references,
        s.total.absolute_file_references,
    );
    match (snap.kind, backend) {
        ("retained checkpoint", Backend::RocksDb) => assert!(refs.1 > 0, "{what}: {refs:?}"),
        ("retained checkpoint", Backend::Hashmap) => assert_eq!(refs.1, 0, "{what}"),
        _ => assert_eq!(refs.1, 0, "{what}: savepoints are relocatable"),
    }
    if state_kib > 0 && backend == Backend::Hashmap {
        assert!(refs.0 > 0, "{what}: {refs:?}");
    }
}

fn keep_copy(what: &str, dir: &Path) {
    let Some(out) = std::env::var_os("STATEPLANE_TEST_METADATA_OUT") else {
        return;
    };
    let out = PathBuf::from(out);
    let _ = std::fs::create_dir_all(&out);
    let name: String = what
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    std::fs::copy(dir.join("_metadata"), out.join(format!("{name}.metadata")))
        .unwrap_or_else(|e| panic!("keep a copy of {}: {e}", dir.display()));
}

/// Every prefix and 5,000 randomly damaged copies (a fixed seed) of a real file: each answered with
/// Ok or Err, none panics, all within a time bound.
fn damaged_copies_are_answered(what: &str, good: &[u8]) {
    assert!(parse(good).is_ok(), "{what}");
    let started = Instant::now();
    for n in 0..good.len() {
        let _ = parse(&good[..n]);
    }
    let mut x: u64 = 0x00C0_FFEE_5EED;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..5_000 {
        let mut f = good.to_vec();
        for _ in 0..1 + next() % 4 {
            let i = (next() % f.len() as u64) as usize;
            f[i] = match next() % 3 {
                0 => next() as u8,
                1 => f[i] ^ (1 << (next() % 8)),
                _ => [0x00, 0x7F, 0x80, 0xFF][(next() % 4) as usize],
            };
        }
        let _ = parse(&f);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "{what}: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_2_3_hashmap_inline() {
    scenario(DEFAULT_FLINK_VERSION, Backend::Hashmap, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_2_3_hashmap_files() {
    scenario(DEFAULT_FLINK_VERSION, Backend::Hashmap, 512).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_2_3_rocksdb() {
    scenario(DEFAULT_FLINK_VERSION, Backend::RocksDb, 512).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_1_20_hashmap_inline() {
    scenario(FLINK_1_20, Backend::Hashmap, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_1_20_hashmap_files() {
    scenario(FLINK_1_20, Backend::Hashmap, 512).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_1_20_rocksdb() {
    scenario(FLINK_1_20, Backend::RocksDb, 512).await;
}
