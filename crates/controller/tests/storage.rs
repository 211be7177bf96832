//! Savepoint storage on a real Flink cluster with Universal Blob Storage in a temp dir (`file://`):
//! derived locations, validation of registered snapshots, copies (forking a deployment), deletion that
//! disposes of exactly the data stateplane owns, retention and periodic savepoints. Every claim about
//! data is checked on disk, and restores in Flink's own view.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use stateplane_model::storage::{
    CHECKPOINT_ID_ANNOTATION, COPIED_FROM_ANNOTATION, PERIODIC_ANNOTATION,
};
use stateplane_model::SPEC_VERSION_ANNOTATION;
use stateplane_testkit::wait::until_async;

/// A deployment of the example job that sets no savepoint or checkpoint directory of its own.
fn without_dirs() -> Value {
    json!({"template": {"spec": {"flinkConfiguration": {
        "execution.checkpointing.savepoint-dir": null,
        "execution.checkpointing.dir": null,
        "execution.checkpointing.externalized-checkpoint-retention": null
    }}}})
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn loc(sp: &Value) -> String {
    s(&sp["spec"]["savepointLocation"])
}

fn path_of(location: &str) -> PathBuf {
    stateplane_model::local_path(location).unwrap()
}

async fn delete(h: &Harness, id: &str) -> (u16, Value) {
    let r = h
        .http
        .delete(h.url(&format!("savepoints/{id}")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until the savepoint resource is gone (404), failing with its state otherwise.
async fn wait_gone(h: &Harness, id: &str) {
    until_async(&format!("savepoint {id} to be deleted"), T, || async {
        let (st, b) = h.get(&format!("savepoints/{id}")).await;
        if st.as_u16() == 404 {
            Ok(())
        } else {
            Err(b.to_string())
        }
    })
    .await
}

async fn take_savepoint(h: &Harness, dep_id: &str, extra: Value) -> Value {
    let mut body = json!({"metadata": {"deploymentId": dep_id}});
    stateplane_model::merge::merge_patch(&mut body, &extra);
    let (st, sp) = h.post("savepoints", body).await;
    assert!(st.is_success(), "{st} {sp}");
    let sp = h
        .wait_savepoint(&s(&sp["metadata"]["id"]), &["COMPLETED", "FAILED"], T)
        .await;
    assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");
    sp
}

fn blob_dir() -> (tempfile::TempDir, String) {
    let t = stateplane_testkit::temp_dir();
    let uri = format!("file://{}", t.path().display());
    (t, uri)
}

fn running_job(d: &Value) -> String {
    s(&d["status"]["running"]["jobId"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_storage_derives_locations_and_deletion_disposes_only_what_is_ours() {
    // Without a directory or blob storage, savepoints are refused up front ...
    let plain = Harness::start().await;
    let mut cancelled = without_dirs();
    stateplane_model::merge::merge_patch(&mut cancelled, &json!({"state": "CANCELLED"}));
    let d = plain.create_deployment("nodirs", cancelled).await;
    let (st, b) = plain
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": d["metadata"]["id"]}}),
        )
        .await;
    assert_eq!(st.as_u16(), 409, "{b}");
    assert_eq!(b["code"], "SAVEPOINTS_NOT_CONFIGURED");
    drop(plain);

    // ... with blob storage the same deployment gets derived directories.
    let (blob, blob_uri) = blob_dir();
    let h = Harness::start_with(Some(blob_uri.clone())).await;
    let d = h.create_deployment("derived", without_dirs()).await;
    let dep = s(&d["metadata"]["id"]);
    let d = h.wait_state("derived", "RUNNING", T).await;
    let job = running_job(&d);
    let conf = h.job(&job).await["spec"]["flinkConfiguration"].clone();
    let sp_base = format!("{blob_uri}/flink-savepoints/namespaces/default/deployments/{dep}");
    let ck_base = format!("{blob_uri}/flink-checkpoints/namespaces/default/deployments/{dep}");
    assert_eq!(
        conf["execution.checkpointing.savepoint-dir"],
        sp_base.as_str(),
        "{conf}"
    );
    assert_eq!(
        conf["execution.checkpointing.dir"],
        ck_base.as_str(),
        "{conf}"
    );
    assert_eq!(
        conf["execution.checkpointing.externalized-checkpoint-retention"],
        "RETAIN_ON_CANCELLATION"
    );

    // A NATIVE savepoint completes at <base>/<savepoint id>/savepoint-…
    let native = take_savepoint(&h, &dep, json!({"spec": {"formatType": "NATIVE"}})).await;
    let native_id = s(&native["metadata"]["id"]);
    assert_eq!(native["spec"]["formatType"], "NATIVE");
    let native_loc = loc(&native);
    assert!(
        same_location(
            &native_loc[..native_loc.rfind('/').unwrap()],
            &format!("{sp_base}/{native_id}")
        ),
        "{native_loc}"
    );
    assert!(has_metadata(&native_loc));
    let canonical = take_savepoint(&h, &dep, json!({})).await;
    let canonical_loc = loc(&canonical);
    assert_eq!(canonical["spec"]["formatType"], "CANONICAL");
    // An external snapshot (a copy of a real one, outside every directory stateplane uses).
    let external = h.path("external/savepoint-ext");
    copy_dir(&path_of(&canonical_loc), &external);

    // Shared with a COPIED registration of the same snapshot (another spelling): the delete keeps the data.
    let (st, copied) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": stateplane_model::normalize_location(&canonical_loc)},
                   "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(st.is_success(), "{st} {copied}");
    assert!(
        copied["metadata"]["annotations"][CHECKPOINT_ID_ANNOTATION].is_string(),
        "{copied}"
    );
    let (st, b) = delete(&h, &s(&canonical["metadata"]["id"])).await;
    assert_eq!(st, 200, "shared: removed at once, data kept: {b}");
    assert!(
        has_metadata(&canonical_loc),
        "data of a shared location is kept"
    );
    // The COPIED one is now the last reference: the data lies where stateplane wrote it, so it goes
    // with the last resource pointing to it, whatever that resource's origin.
    let copied_id = s(&copied["metadata"]["id"]);
    let (st, b) = delete(&h, &copied_id).await;
    assert_eq!(st, 202, "{b}");
    wait_gone(&h, &copied_id).await;
    assert!(
        !path_of(&canonical_loc).exists(),
        "disposed of with the last resource"
    );

    // The other order, through the copy endpoint: the copy goes first (data kept), then the original.
    let original = take_savepoint(&h, &dep, json!({})).await;
    let original_loc = loc(&original);
    let (st, copy) = h
        .post(
            &format!("savepoints/{}/copy", s(&original["metadata"]["id"])),
            json!({"metadata": {"deploymentId": dep}}),
        )
        .await;
    assert!(st.is_success(), "{st} {copy}");
    assert_eq!(delete(&h, &s(&copy["metadata"]["id"])).await.0, 200);
    assert!(
        has_metadata(&original_loc),
        "kept while the original points to it"
    );
    assert_eq!(delete(&h, &s(&original["metadata"]["id"])).await.0, 202);
    wait_gone(&h, &s(&original["metadata"]["id"])).await;
    assert!(!path_of(&original_loc).exists(), "gone after the last");

    // The last reference to a savepoint stateplane took: disposed of, with its target directory.
    let (st, b) = delete(&h, &native_id).await;
    assert_eq!(st, 202, "{b}");
    assert!(
        matches!(
            b["status"]["state"].as_str(),
            Some("PENDING_DELETION" | "DELETING")
        ),
        "{b}"
    );
    wait_gone(&h, &native_id).await;
    assert!(!path_of(&native_loc).exists(), "the snapshot is gone");
    assert!(
        !path_of(&format!("{sp_base}/{native_id}")).exists(),
        "and its target directory"
    );

    // An external snapshot (a copy of a real one, outside every directory stateplane uses) keeps its data.
    let (st, ext) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": format!("file://{}", external.display())},
                   "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(st.is_success(), "{st} {ext}");
    assert_eq!(delete(&h, &s(&ext["metadata"]["id"])).await.0, 200);
    assert!(
        external.join("_metadata").is_file(),
        "registered data is never removed"
    );

    // Cancel: the retained checkpoint lands under the derived checkpoint directory, and deleting it
    // disposes of it together with the job's checkpoint directory (shared state).
    // Taken before the cancel, kept until the deployment is deleted.
    let last = take_savepoint(&h, &dep, json!({})).await;
    h.wait_checkpoint(&job).await;
    h.patch(
        "deployments/derived",
        json!({"spec": {"state": "CANCELLED"}}),
    )
    .await;
    h.wait_state("derived", "CANCELLED", T).await;
    let sps = h.savepoints(&dep).await;
    let rc = sps
        .iter()
        .find(|s| s["metadata"]["origin"] == "RETAINED_CHECKPOINT")
        .expect("a retained checkpoint")
        .clone();
    let rc_loc = loc(&rc);
    let flink_job = job.replace('-', "");
    assert!(
        stateplane_model::normalize_location(&rc_loc).starts_with(&format!(
            "{}/{flink_job}/chk-",
            stateplane_model::normalize_location(&ck_base)
        )),
        "{rc_loc}"
    );
    assert!(has_metadata(&rc_loc));
    let (st, b) = delete(&h, &s(&rc["metadata"]["id"])).await;
    assert_eq!(st, 202, "{b}");
    wait_gone(&h, &s(&rc["metadata"]["id"])).await;
    assert!(!path_of(&rc_loc).exists());
    assert!(
        !path_of(&format!("{ck_base}/{flink_job}")).exists(),
        "the job's checkpoint directory went with its last retained checkpoint"
    );

    let events = h.wait_event("derived", "SAVEPOINT_DELETED").await;
    assert!(events.contains("disposed of its data"), "{events}");

    // Deleting the deployment: it says what happens to its snapshots' data, and does it. A snapshot
    // stateplane took is disposed of; a registered external one survives.
    let (st, ext) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": format!("file://{}", external.display())},
                   "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(st.is_success(), "{st} {ext}");
    let r = h
        .http
        .delete(h.url(&format!("deployments/{dep}")))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let answer: Value = r.json().await.unwrap();
    let said = s(&answer["metadata"]["annotations"]["stateplane.io/snapshot-data"]);
    assert_eq!(st, 200, "{answer}");
    assert_eq!(
        answer["metadata"]["annotations"]["stateplane.io/deletion"], "disposing-snapshot-data",
        "{answer}"
    );
    assert!(said.contains(&loc(&last)), "{said}");
    until_async("the deployment to be deleted", T, || async {
        let (st, b) = h.get(&format!("deployments/{dep}")).await;
        if st.as_u16() == 404 {
            Ok(())
        } else {
            Err(b.to_string())
        }
    })
    .await;
    assert!(!path_of(&loc(&last)).exists(), "as the answer said: {said}");
    assert!(
        external.join("_metadata").is_file(),
        "registered data survives deleting the deployment"
    );
    let (_, events) = h.get("events").await;
    assert!(
        events.to_string().contains("DEPLOYMENT_DELETED"),
        "{events}"
    );
    drop(blob);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_validated_and_a_copy_forks_a_deployment() {
    let (blob, blob_uri) = blob_dir();
    let h = Harness::start_with(Some(blob_uri)).await;
    let d = h.create_deployment("origin", without_dirs()).await;
    let dep = s(&d["metadata"]["id"]);
    h.wait_state("origin", "RUNNING", T).await;

    // 422 naming spec.savepointLocation: nothing there, a directory without _metadata, a _metadata
    // that is not Flink's.
    let empty = h.path("empty-dir");
    std::fs::create_dir_all(&empty).unwrap();
    let fake = h.path("fake");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("_metadata"), b"{\"not\": \"flink\"}").unwrap();
    for (dir, words) in [
        (h.path("no-such-dir"), "nothing exists"),
        (empty, "holds no _metadata"),
        (fake, "magic number"),
    ] {
        let (st, b) = h
            .post(
                "savepoints",
                json!({"metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                       "spec": {"savepointLocation": format!("file://{}", dir.display())},
                       "status": {"state": "COMPLETED"}}),
            )
            .await;
        assert_eq!(st.as_u16(), 422, "{b}");
        assert_eq!(b["code"], "INVALID_FIELD");
        assert_eq!(b["field"], "spec.savepointLocation");
        assert!(b["message"].as_str().unwrap().contains(words), "{b}");
        assert!(!b["message"].as_str().unwrap().contains("flink\""), "{b}");
    }

    // A real savepoint of "origin", copied to a new deployment "fork" (the two-step fork flow).
    let sp = take_savepoint(&h, &dep, json!({})).await;
    let sp_loc = loc(&sp);
    let fork = h
        .create_deployment(
            "fork",
            json!({"state": "CANCELLED", "template": {"spec": {"parallelism": 2}}}),
        )
        .await;
    let fork_id = s(&fork["metadata"]["id"]);
    let (st, copy) = h
        .post(
            &format!("savepoints/{}/copy", s(&sp["metadata"]["id"])),
            json!({"metadata": {"deploymentId": fork_id}}),
        )
        .await;
    assert_eq!(st.as_u16(), 201, "{copy}");
    assert_eq!(copy["metadata"]["origin"], "COPIED");
    assert_eq!(copy["metadata"]["deploymentId"], fork_id.as_str());
    assert_eq!(
        copy["metadata"]["annotations"][COPIED_FROM_ANNOTATION],
        sp["metadata"]["id"]
    );
    assert_eq!(
        copy["metadata"]["annotations"][SPEC_VERSION_ANNOTATION],
        fork["metadata"]["annotations"][SPEC_VERSION_ANNOTATION]
    );
    let (st, b) = h
        .post(
            &format!("savepoints/{}/copy", s(&sp["metadata"]["id"])),
            json!({"metadata": {"deploymentId": "7f0bd9e6-1e4b-4b7e-9d2a-1f7f8b5a0c11"}}),
        )
        .await;
    assert_eq!(st.as_u16(), 404, "{b}");

    h.patch("deployments/fork", json!({"spec": {"state": "RUNNING"}}))
        .await;
    let f = h.wait_state("fork", "RUNNING", T).await;
    h.assert_restored_from(&running_job(&f), &sp_loc, "the forked savepoint")
        .await;

    // The snapshot is shared now: deleting the original keeps the fork's data.
    let (st, _) = delete(&h, &s(&sp["metadata"]["id"])).await;
    assert_eq!(st, 200);
    assert!(has_metadata(&sp_loc));

    for name in ["origin", "fork"] {
        h.patch(
            &format!("deployments/{name}"),
            json!({"spec": {"state": "CANCELLED"}}),
        )
        .await;
    }
    for name in ["origin", "fork"] {
        h.wait_state(name, "CANCELLED", T).await;
    }
    drop(blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_restore_candidate() {
    let (blob, blob_uri) = blob_dir();
    let h = Harness::start_with(Some(blob_uri)).await;
    let mut extra = without_dirs();
    stateplane_model::merge::merge_patch(
        &mut extra,
        &json!({"restoreStrategy": {"kind": "LATEST_SAVEPOINT"}, "savepointRetention": {"maxCount": 1}}),
    );
    let d = h.create_deployment("kept", extra).await;
    let dep = s(&d["metadata"]["id"]);
    let d = h.wait_state("kept", "RUNNING", T).await;
    let job = running_job(&d);

    // A second savepoint expires the first (maxCount 1): deleted through the same path, data disposed.
    let first = take_savepoint(&h, &dep, json!({})).await;
    let second = take_savepoint(&h, &dep, json!({})).await;
    wait_gone(&h, &s(&first["metadata"]["id"])).await;
    assert!(
        !path_of(&loc(&first)).exists(),
        "expired data is disposed of"
    );
    assert!(has_metadata(&loc(&second)));

    // Cancel: a retained checkpoint becomes the newest snapshot. By count it would push the savepoint
    // out, but LATEST_SAVEPOINT restores the savepoint, so retention keeps it. (Checkpoints come every
    // second: once one completed after the savepoint, the retained one is newer.)
    let second_taken = chrono::Utc::now().timestamp_millis();
    wait_checkpoint_after(&h.flink, &job, second_taken).await;
    h.patch("deployments/kept", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("kept", "CANCELLED", T).await;
    let rc = h
        .savepoints(&dep)
        .await
        .into_iter()
        .find(|s| s["metadata"]["origin"] == "RETAINED_CHECKPOINT")
        .expect("a retained checkpoint");
    let created =
        |v: &Value| chrono::DateTime::parse_from_rfc3339(&s(&v["metadata"]["createdAt"])).unwrap();
    assert!(
        created(&rc) > created(&second),
        "the retained checkpoint is the newest: {rc} vs {second}"
    );
    // The controller has looked at the deployment with the retained checkpoint recorded, and found
    // nothing to expire.
    assert_eq!(h.wait_looked_at("kept").await, "Steady");
    let sps = h.savepoints(&dep).await;
    let ids: Vec<String> = sps.iter().map(|x| s(&x["metadata"]["id"])).collect();
    assert!(
        ids.contains(&s(&second["metadata"]["id"])),
        "the restore candidate stays: {sps:?}"
    );
    assert!(
        ids.contains(&s(&rc["metadata"]["id"])),
        "the newest by count stays: {sps:?}"
    );
    assert_eq!(ids.len(), 2, "{sps:?}");
    assert!(has_metadata(&loc(&second)));
    let (_, preview) = h.get("deployments/kept/restore-preview").await;
    assert_eq!(
        preview["savepointId"], second["metadata"]["id"],
        "{preview}"
    );

    let events = h.wait_event("kept", "SAVEPOINT_EXPIRED").await;
    assert!(events.contains("maxCount 1"), "{events}");
    drop(blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_savepoints_appear_on_schedule_and_retention_rolls_them() {
    let (blob, blob_uri) = blob_dir();
    let h = Harness::start_with(Some(blob_uri)).await;
    let mut extra = without_dirs();
    stateplane_model::merge::merge_patch(
        &mut extra,
        &json!({"periodicSavepointInterval": "10s", "savepointRetention": {"maxCount": 2}}),
    );
    let d = h.create_deployment("periodic", extra).await;
    let dep = s(&d["metadata"]["id"]);
    let d = h.wait_state("periodic", "RUNNING", T).await;
    let job = running_job(&d);

    // The first one comes an interval (10 s, the shortest allowed) after the job started, marked as
    // periodic, of the running job.
    let first = until_async("a periodic savepoint", T, || async {
        let sps = h.savepoints(&dep).await;
        sps.iter()
            .find(|s| s["metadata"]["annotations"][PERIODIC_ANNOTATION] == "true")
            .cloned()
            .ok_or_else(|| format!("{sps:?}"))
    })
    .await;
    assert_eq!(first["metadata"]["origin"], "USER_REQUEST");
    assert_eq!(first["metadata"]["jobId"], job.as_str());
    let first = h
        .wait_savepoint(&s(&first["metadata"]["id"]), &["COMPLETED", "FAILED"], T)
        .await;
    assert_eq!(first["status"]["state"], "COMPLETED", "{first}");

    // More follow, an interval apart; retention keeps the newest two of them.
    let triggered = stateplane_testkit::api::wait_events(
        &h.http,
        &format!("{}/api/v1/namespaces/{NS}", h.base),
        &dep,
        "NEED_TO_TRIGGER_A_SAVEPOINT",
        3,
        Duration::from_secs(90),
    )
    .await;
    assert!(
        triggered.iter().all(|e| e["spec"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("periodicSavepointInterval 10s"))),
        "{triggered:?}"
    );
    h.patch(
        "deployments/periodic",
        json!({"spec": {"state": "CANCELLED", "periodicSavepointInterval": null}}),
    )
    .await;
    h.wait_state("periodic", "CANCELLED", T).await;
    until_async("retention to roll the periodic savepoints", T, || async {
        let sps = h.savepoints(&dep).await;
        let periodic: Vec<&Value> = sps
            .iter()
            .filter(|s| s["metadata"]["annotations"][PERIODIC_ANNOTATION] == "true")
            .collect();
        if periodic.iter().all(|s| s["status"]["state"] == "COMPLETED") && sps.len() <= 2 {
            // whatever is left still has its data; what went is gone from disk
            for s in &periodic {
                assert!(has_metadata(&loc(s)));
            }
            Ok(())
        } else {
            Err(format!("{sps:?}"))
        }
    })
    .await;
    assert!(
        !path_of(&loc(&first)).exists(),
        "the first periodic savepoint was rolled out"
    );
    drop(blob);
}

/// A deployment deleted with `keepSnapshotData=true` leaves its snapshots on storage; the orphan
/// report finds them (never while the job runs: its checkpoints are in use, its savepoint
/// referenced), and they go only when named in a disposal request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_deleted_with_its_data_kept_leaves_orphans_disposed_of_on_request() {
    let (blob, blob_uri) = blob_dir();
    let h = Harness::start_with(Some(blob_uri.clone())).await;
    let d = h.create_deployment("kept", without_dirs()).await;
    let dep = s(&d["metadata"]["id"]);
    let d = h.wait_state("kept", "RUNNING", T).await;
    let job = running_job(&d);
    let sp = take_savepoint(&h, &dep, json!({})).await;
    let sp_loc = loc(&sp);
    h.wait_checkpoint(&job).await;
    let orphans = || async {
        let (st, r) = h.get("storage/orphans").await;
        assert_eq!(st, 200, "{r}");
        r
    };
    let r = orphans().await;
    assert_eq!(
        r["orphans"],
        json!([]),
        "nothing is an orphan while in use: {r}"
    );

    h.patch("deployments/kept", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("kept", "CANCELLED", T).await;
    let rc = h
        .savepoints(&dep)
        .await
        .into_iter()
        .find(|s| s["metadata"]["origin"] == "RETAINED_CHECKPOINT")
        .expect("a retained checkpoint");
    let rc_loc = loc(&rc);
    let r = orphans().await;
    assert_eq!(r["orphans"], json!([]), "still referenced: {r}");

    let resp = h
        .http
        .delete(h.url(&format!("deployments/{dep}?keepSnapshotData=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(has_metadata(&sp_loc) && has_metadata(&rc_loc), "kept");

    let r = orphans().await;
    let listed: Vec<String> = r["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["deploymentId"], dep.as_str(), "{o}");
            assert_eq!(o["deploymentExists"], false, "{o}");
            assert!(o["sizeBytes"].as_u64().unwrap() > 0, "{o}");
            s(&o["location"])
        })
        .collect();
    for want in [&sp_loc, &rc_loc] {
        assert!(
            listed.iter().any(|l| same_location(l, want)),
            "{want} not in {listed:?}"
        );
    }
    // Nothing goes before it is asked for.
    assert!(has_metadata(&sp_loc) && has_metadata(&rc_loc));
    let (st, res) = h
        .post(
            "storage/orphans:dispose",
            json!({"locations": [listed[0].clone()]}),
        )
        .await;
    assert_eq!(st, 200, "{res}");
    assert_eq!(res["results"][0]["outcome"], "DISPOSED", "{res}");
    assert!(!has_metadata(&listed[0]));
    for other in &listed[1..] {
        assert!(has_metadata(other), "only what was named: {other}");
    }
    let (st, res) = h
        .post("storage/orphans:dispose", json!({"locations": listed[1..]}))
        .await;
    assert_eq!(st, 200, "{res}");
    assert!(
        res["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "DISPOSED"),
        "{res}"
    );
    assert!(!has_metadata(&sp_loc) && !has_metadata(&rc_loc));
    let flink_job = job.replace('-', "");
    let ck_job =
        format!("{blob_uri}/flink-checkpoints/namespaces/default/deployments/{dep}/{flink_job}");
    assert!(
        !path_of(&ck_job).exists(),
        "the job's checkpoint directory went with its last checkpoint"
    );
    assert_eq!(orphans().await["orphans"], json!([]));
    drop(blob);
}
