//! Snapshot summaries on a real Flink cluster: every COMPLETED savepoint gets the summary of its
//! `_metadata` (taken by stateplane or registered), checked against Flink's own checkpoint
//! statistics of the same savepoint; a `_metadata` that cannot be parsed stays registered with the
//! reason in an annotation.

mod common;

use common::*;
use serde_json::{json, Value};
use stateplane_model::snapshot::{SUMMARY_ANNOTATION, SUMMARY_ERROR_ANNOTATION};
use stateplane_model::SPEC_VERSION_ANNOTATION;
use stateplane_testkit::wait::until_async;

const SOURCE: &str = "f421c7059e6771b9a595acc02e87aaef";
const COUNTER: &str = "5b61d6019ab04da71a4e62533c1a8c40";
const SINK: &str = "89f21f775f44942d9cc73c012629f763";

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Waits until the savepoint's summary is stored, returns it.
async fn wait_snapshot(h: &Harness, id: &str) -> Value {
    until_async(&format!("the snapshot summary of {id}"), T, || async {
        let (st, b) = h.get(&format!("savepoints/{id}/snapshot")).await;
        if st.is_success() {
            Ok(b)
        } else {
            Err(format!("{st} {b}"))
        }
    })
    .await
}

fn operator<'a>(snap: &'a Value, id: &str) -> &'a Value {
    snap["summary"]["operators"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["operatorId"] == id))
        .unwrap_or_else(|| panic!("no operator {id} in {snap}"))
}

fn total(v: &Value) -> u64 {
    v["state"]["total"].as_u64().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_savepoints_are_summarised_as_flink_counts_them_and_unreadable_ones_say_why() {
    let h = Harness::start().await;
    let d = h.create_deployment("summ", json!({})).await;
    let dep = s(&d["metadata"]["id"]);
    let d = h.wait_state("summ", "RUNNING", T).await;
    let job = s(&d["status"]["running"]["jobId"]);
    h.wait_checkpoint(&job).await;

    let (st, sp) = h
        .post("savepoints", json!({"metadata": {"deploymentId": dep}}))
        .await;
    assert!(st.is_success(), "{st} {sp}");
    let sp_id = s(&sp["metadata"]["id"]);
    let sp = h.wait_savepoint(&sp_id, &["COMPLETED", "FAILED"], T).await;
    assert_eq!(sp["status"]["state"], "COMPLETED", "{sp}");

    let snap = wait_snapshot(&h, &sp_id).await;
    let summary = &snap["summary"];
    assert_eq!(snap["deploymentId"], dep.as_str());
    let ops = summary["operators"].as_array().unwrap();
    assert_eq!(ops.len(), 3, "source, counter, sink: {snap}");
    for o in ops {
        assert_eq!(o["parallelism"], 1, "{o}");
        assert_eq!(o["maxParallelism"], 128, "{o}");
    }
    assert!(
        operator(&snap, COUNTER)["state"]["keyed"].as_u64().unwrap() > 0,
        "{snap}"
    );
    assert!(
        operator(&snap, SOURCE)["state"]["coordinator"]
            .as_u64()
            .unwrap()
            > 0,
        "{snap}"
    );
    assert_eq!(
        total(operator(&snap, SINK)),
        0,
        "the print sink holds nothing"
    );
    let sum: u64 = ops.iter().map(total).sum();
    assert_eq!(summary["total"]["total"].as_u64().unwrap(), sum);
    assert!(snap["durationMs"].as_i64().unwrap() >= 0, "{snap}");

    // Flink's statistics of the same savepoint: per vertex, the sum over its chained operators.
    let checkpoint = summary["checkpointId"].as_i64().unwrap();
    let rest = stateplane_testkit::flink::shared_cluster()
        .rest_url()
        .to_string();
    let url = format!(
        "{rest}/jobs/{}/checkpoints/details/{checkpoint}",
        job.replace('-', "")
    );
    // Flink's statistics are cached for up to 3 s: asked until they know the savepoint.
    let details: Value = until_async("Flink's statistics of the savepoint", T, || async {
        let v: Value = h
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match v["tasks"].is_object() {
            true => Ok(v),
            false => Err(v.to_string()),
        }
    })
    .await;
    assert_eq!(details["is_savepoint"], true, "{details}");
    assert_eq!(
        details["tasks"][COUNTER]["state_size"].as_u64().unwrap(),
        total(operator(&snap, COUNTER)) + total(operator(&snap, SINK)),
        "the counter vertex as Flink counts it: {details}"
    );

    // The savepoint says its summary is stored; the deployment lists it.
    let sp = h.get(&format!("savepoints/{sp_id}")).await.1;
    assert!(
        sp["metadata"]["annotations"][SUMMARY_ANNOTATION].is_string(),
        "{sp}"
    );
    let (st, list) = h.get("deployments/summ/snapshots").await;
    assert!(st.is_success(), "{st} {list}");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|x| x["savepointId"] == sp_id.as_str()),
        "{list}"
    );

    // A registered copy whose _metadata is cut short (header intact, so registration accepts it):
    // registered, not summarised, the reason in an annotation and in the sub-resource's answer.
    let src = stateplane_model::local_path(&s(&sp["spec"]["savepointLocation"])).unwrap();
    let cut = h.path("cut-savepoint");
    std::fs::create_dir_all(&cut).unwrap();
    let bytes = std::fs::read(src.join("_metadata")).unwrap();
    std::fs::write(cut.join("_metadata"), &bytes[..bytes.len().min(40)]).unwrap();
    let (st, reg) = h
        .post(
            "savepoints",
            json!({"metadata": {"deploymentId": dep, "annotations": {SPEC_VERSION_ANNOTATION: "1"}},
                   "spec": {"savepointLocation": format!("file://{}", cut.display())},
                   "status": {"state": "COMPLETED"}}),
        )
        .await;
    assert!(st.is_success(), "{st} {reg}");
    let reg_id = s(&reg["metadata"]["id"]);
    let reg = until_async("the unreadable annotation", T, || async {
        let sp = h.get(&format!("savepoints/{reg_id}")).await.1;
        match sp["metadata"]["annotations"][SUMMARY_ERROR_ANNOTATION].as_str() {
            Some(_) => Ok(sp),
            None => Err(sp.to_string()),
        }
    })
    .await;
    assert_eq!(
        reg["status"]["state"], "COMPLETED",
        "still registered: {reg}"
    );
    let why = s(&reg["metadata"]["annotations"][SUMMARY_ERROR_ANNOTATION]);
    assert!(why.contains("truncated"), "{why}");
    let (st, b) = h.get(&format!("savepoints/{reg_id}/snapshot")).await;
    assert_eq!(st.as_u16(), 409, "{b}");
    assert!(s(&b["message"]).contains("truncated"), "{b}");
}
