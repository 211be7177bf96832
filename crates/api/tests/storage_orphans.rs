//! The orphan report and disposal on request, against real storage: a temp dir (`file://`) and moto's
//! S3-compatible server on loopback (`s3://`; skipped, saying so, where `moto_server` is not
//! installed), with the real SQLite store behind the real HTTP API.
//!
//! The same scenario runs on both: a snapshot left by a deployment deleted with
//! `keepSnapshotData=true` and directories left by hand under the derived prefixes are listed (with
//! size, age and whose prefix); referenced data, data outside the derived prefixes and another
//! namespace's prefix are not; nothing is deleted until asked, a request naming anything else is
//! refused before anything is deleted, a referenced location is left alone, and a disposal deletes
//! exactly what it names (with a checkpoint's job directory once it is the last).

mod common;

use common::*;
use serde_json::{json, Value};
use stateplane_api::ApiConfig;
use stateplane_blob::header::encode_header;
use stateplane_blob::BlobLocation;
use stateplane_model::SPEC_VERSION_ANNOTATION;
use stateplane_testkit::s3::{put, start_moto, use_moto_env};

const ORPHANS: &str = "/api/v1/namespaces/default/storage/orphans";
const DISPOSE: &str = "/api/v1/namespaces/default/storage/orphans:dispose";
const JOB: &str = "0123456789abcdef0123456789abcdef";

/// Where the scenario writes files: a directory, or a bucket on moto.
enum Put {
    Dir,
    S3 { port: u16 },
}

impl Put {
    /// Writes `bytes` at `<uri>`.
    fn write(&self, uri: &str, bytes: &[u8]) {
        match self {
            Put::Dir => {
                let p = stateplane_model::local_path(uri).unwrap();
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
            Put::S3 { port } => put(*port, uri.strip_prefix("s3://").unwrap(), bytes),
        }
    }
}

/// A snapshot directory: Flink's header in `_metadata` (`meta` bytes in all) and one state file.
fn snapshot(put: &Put, dir: &str, meta: usize, state: usize) {
    let mut m = encode_header(6, 7);
    m.resize(meta.max(m.len()), 0);
    put.write(&format!("{dir}/_metadata"), &m);
    put.write(&format!("{dir}/state-1"), &vec![1u8; state]);
}

/// Whether the snapshot's `_metadata` is there.
async fn exists(uri: &str) -> bool {
    match BlobLocation::parse(uri)
        .unwrap()
        .child("_metadata")
        .modified()
        .await
    {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => panic!("{uri}: {e}"),
    }
}

fn register(dep: &str, location: &str) -> Value {
    json!({
        "metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
        "spec": {"savepointLocation": location},
        "status": {"state": "COMPLETED"}
    })
}

fn locations(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["location"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn orphan<'a>(report: &'a Value, location: &str) -> &'a Value {
    report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["location"] == location)
        .unwrap_or_else(|| panic!("{location} not in {report}"))
}

async fn scenario(blob: &str, put: Put) {
    let s = start_with(ApiConfig {
        blob_storage_uri: Some(blob.to_string()),
    })
    .await;
    let sp_ns = format!("{blob}/flink-savepoints/namespaces/default/deployments");
    let ck_ns = format!("{blob}/flink-checkpoints/namespaces/default/deployments");

    // Nothing there yet: an empty report over the namespace's two derived prefixes.
    let r = s.get(ORPHANS).await;
    let empty = r.ok(200);
    assert_eq!(empty["orphans"], json!([]), "{empty}");
    assert_eq!(empty["prefixes"].as_array().unwrap().len(), 2, "{empty}");
    assert_eq!(empty["truncated"], false);

    // A deployment that will be deleted with its data kept: a snapshot registered under its derived
    // prefix (stateplane's by location).
    let keep = s
        .create_deployment("default", "keep", json!({"state": "CANCELLED"}))
        .await;
    let keep_id = id_of(&keep);
    let kept = format!(
        "{sp_ns}/{keep_id}/{}/savepoint-aaaa-000000000001",
        uuid::Uuid::new_v4()
    );
    snapshot(&put, &kept, 100, 400);
    s.post(
        "/api/v1/namespaces/default/savepoints",
        &register(&keep_id, &kept),
    )
    .await
    .ok(201);
    // A deployment that stays, with referenced data under its prefix.
    let live = s
        .create_deployment("default", "live", json!({"state": "CANCELLED"}))
        .await;
    let live_id = id_of(&live);
    let referenced = format!(
        "{sp_ns}/{live_id}/{}/savepoint-bbbb-000000000002",
        uuid::Uuid::new_v4()
    );
    snapshot(&put, &referenced, 50, 50);
    s.post(
        "/api/v1/namespaces/default/savepoints",
        &register(&live_id, &referenced),
    )
    .await
    .ok(201);
    // Left by hand: a savepoint directory and a checkpoint (with its job's shared state) under the
    // prefixes of a deployment that never existed.
    let ghost = uuid::Uuid::new_v4();
    let by_hand = format!("{sp_ns}/{ghost}/copied-by-hand/savepoint-cccc-000000000003");
    snapshot(&put, &by_hand, 30, 70);
    let job_dir = format!("{ck_ns}/{ghost}/{JOB}");
    let chk = format!("{job_dir}/chk-3");
    snapshot(&put, &chk, 20, 20);
    put.write(&format!("{job_dir}/shared/state-x"), &[9u8; 500]);
    // Outside the derived prefixes, and under another namespace's: never listed.
    let outside = format!("{blob}/elsewhere/savepoint-dddd-000000000004");
    snapshot(&put, &outside, 10, 10);
    let theirs = format!(
        "{blob}/flink-savepoints/namespaces/other/deployments/{ghost}/x/savepoint-eeee-000000000005"
    );
    snapshot(&put, &theirs, 10, 10);

    // Still referenced: not an orphan yet.
    let r = s.get(ORPHANS).await;
    assert_eq!(locations(r.ok(200)), {
        let mut v = vec![by_hand.clone(), chk.clone()];
        v.sort();
        v
    });

    // Deleted with its data kept: now that snapshot is an orphan too.
    s.delete("/api/v1/namespaces/default/deployments/keep?keepSnapshotData=true")
        .await
        .ok(200);
    assert!(exists(&kept).await, "keepSnapshotData kept it");
    let r = s.get(ORPHANS).await;
    let report = r.ok(200).clone();
    let mut want = vec![kept.clone(), by_hand.clone(), chk.clone()];
    want.sort();
    assert_eq!(locations(&report), want, "{report}");
    let k = orphan(&report, &kept);
    assert_eq!(k["kind"], "SAVEPOINT");
    assert_eq!(k["deploymentId"], keep_id.as_str());
    assert_eq!(k["deploymentExists"], false);
    assert_eq!(k["sizeBytes"], 500, "{k}");
    assert_eq!(k["files"], 2);
    assert!(k["ageSeconds"].as_i64().is_some_and(|a| a < 3600), "{k}");
    let c = orphan(&report, &chk);
    assert_eq!(c["kind"], "CHECKPOINT");
    assert_eq!(c["deploymentId"], ghost.to_string().as_str());
    assert_eq!(report["totalBytes"], 500 + 100 + 40, "{report}");
    // Bounded: a limit cuts the list and says so.
    let r = s.get(&format!("{ORPHANS}?limit=1")).await;
    let cut = r.ok(200);
    assert_eq!(cut["orphans"].as_array().unwrap().len(), 1);
    assert_eq!(cut["truncated"], true);
    assert!(
        cut["truncatedReason"]
            .as_str()
            .unwrap()
            .contains("3 orphans"),
        "{cut}"
    );
    s.get(&format!("{ORPHANS}?limit=0"))
        .await
        .error(400, "INVALID_PARAMETER");

    // Listing deleted nothing.
    for l in [&kept, &by_hand, &chk, &outside, &theirs, &referenced] {
        assert!(exists(l).await, "{l} still there after listing");
    }

    // Anything but what the report lists is refused, before anything is deleted.
    for bad in [&outside, &theirs, &format!("{sp_ns}/{ghost}")] {
        let r = s
            .post(DISPOSE, &json!({"locations": [by_hand.clone(), bad]}))
            .await;
        r.error(422, "INVALID_FIELD");
        assert_eq!(r.field(), "locations[1]", "{}", r.text);
    }
    s.post(DISPOSE, &json!({"locations": []}))
        .await
        .error(422, "INVALID_FIELD");
    assert!(exists(&by_hand).await && exists(&outside).await && exists(&theirs).await);

    // A referenced location is left alone; an orphan asked for goes, and only it.
    let r = s
        .post(
            DISPOSE,
            &json!({"locations": [referenced.clone(), by_hand.clone()]}),
        )
        .await;
    let res = r.ok(200)["results"].clone();
    assert_eq!(res[0]["outcome"], "IN_USE", "{res}");
    assert_eq!(res[1]["outcome"], "DISPOSED", "{res}");
    assert!(
        exists(&referenced).await,
        "referenced data is never disposed of"
    );
    assert!(!exists(&by_hand).await, "disposed of when asked");
    assert!(
        !BlobLocation::parse(&by_hand)
            .unwrap()
            .exists()
            .await
            .unwrap(),
        "every file of it"
    );
    assert!(exists(&kept).await && exists(&chk).await, "the others stay");

    // The rest, the checkpoint with its job's shared state (its last checkpoint).
    let r = s
        .post(DISPOSE, &json!({"locations": [kept.clone(), chk.clone()]}))
        .await;
    let res = r.ok(200)["results"].clone();
    assert_eq!(res[0]["outcome"], "DISPOSED", "{res}");
    assert_eq!(res[1]["outcome"], "DISPOSED", "{res}");
    assert!(!exists(&kept).await && !exists(&chk).await);
    assert!(
        !BlobLocation::parse(&job_dir)
            .unwrap()
            .exists()
            .await
            .unwrap(),
        "the job's shared state went with its last checkpoint"
    );
    // Asked again: nothing there any more, nothing else touched.
    let r = s.post(DISPOSE, &json!({"locations": [kept.clone()]})).await;
    assert_eq!(r.ok(200)["results"][0]["outcome"], "ALREADY_GONE");
    let r = s.get(ORPHANS).await;
    assert_eq!(r.ok(200)["orphans"], json!([]), "{}", r.text);
    for l in [&outside, &theirs, &referenced] {
        assert!(exists(l).await, "{l} untouched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_on_a_file_system() {
    let t = tempfile::tempdir().unwrap();
    scenario(&format!("file://{}/blob", t.path().display()), Put::Dir).await;
}

#[tokio::test]
async fn without_blob_storage_there_is_nothing_to_list() {
    let s = start().await;
    let r = s.get(ORPHANS).await;
    let b = r.ok(200);
    assert_eq!(b["orphans"], json!([]));
    assert!(b["note"].as_str().unwrap().contains("blob storage"), "{b}");
    s.get("/api/v1/namespaces/nope/storage/orphans")
        .await
        .error(404, "NOT_FOUND");
}

/// The only test of this binary that sets `AWS_*` (the environment is process-wide; the others do
/// not read it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_on_s3() {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    use_moto_env(port);
    put(port, "blob", b"");
    scenario("s3://blob/base", Put::S3 { port }).await;
}
