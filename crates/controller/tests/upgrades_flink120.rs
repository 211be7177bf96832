//! The main stateful-upgrade cases on a real Flink 1.20 cluster (the 1.x long-term-support release;
//! `upgrades.rs` has them all on 2.3): the preview asks Flink 1.20 itself for the new job graph
//! (`/jars/{id}/plan` of the 1.20 dialect) and reads the snapshot's `_metadata` as 1.20 wrote it, and
//! every prediction is checked against what Flink 1.20 then does with the same change.
//!
//! One deployment goes through the changes in turn (one cluster, one job at a time):
//! 1. a stateless operator added previews as COMPATIBLE: the upgrade restores every operator from
//!    the upgrade's savepoint (Flink's `latest.restored`) and the counts continue;
//! 2. a renamed stateful uid previews as DROPS_STATE and its PATCH is refused before anything is
//!    stopped (same Flink job, no savepoint taken);
//! 3. `allowNonRestoredState` lifts the refusal, and Flink does what the preview said: the source's
//!    position is restored and the counter starts empty.
//!
//! `_metadata` of 1.20 savepoints (canonical and native, hashmap and RocksDB) is covered by the
//! blob crate's `metadata_flink` tests on real 1.20 snapshots.

mod common;

use common::upgrade::*;
use common::*;
use serde_json::json;
use stateplane_testkit::flink::FLINK_1_20;

/// The example job's arguments on 1.20 (its artifact says so, as a 1.20 manifest would).
fn change(args: &str) -> serde_json::Value {
    let mut c = main_args(args);
    c["spec"]["template"]["spec"]["artifact"]["flinkVersion"] = json!("1.20");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_on_flink_1_20_are_previewed_and_carried_out_as_flink_then_does() {
    let h = Harness::start_on(FLINK_1_20, true).await;
    let stdout = stateplane_testkit::flink::shared_cluster_of(FLINK_1_20).taskmanager_stdout();
    let d = h
        .create_deployment(
            "up120",
            json!({"template": {"spec": {"artifact": {"flinkVersion": "1.20", "mainArgs": "20 --tag v1"}}}}),
        )
        .await;
    let dep = s(&d["metadata"]["id"]);
    let j1 = running_job(&h.wait_state("up120", "RUNNING", T).await);
    h.wait_checkpoint(&j1).await;

    // 1. A stateless operator added: compatible; Flink restores every operator, the counts continue.
    let compatible = change("20 --tag v2 --stateless-map");
    let p = preview(&h, "up120", &compatible).await;
    assert_eq!(p["decision"], "PROCEEDS", "{p}");
    assert_eq!(p["verdict"], "COMPATIBLE", "{p}");
    let f = fates(&p);
    assert_eq!(ids_with(&f, "NEW"), [MAP], "{p}");
    assert_eq!(ids_with(&f, "RESTORED"), [COUNTER, SINK, SOURCE], "{p}");
    let (st, b) = h.patch("deployments/up120", compatible).await;
    assert!(st.is_success(), "{st} {b}");
    let j2 = next_job(&h, "up120", &j1).await;
    let sp1 = upgrade_savepoint(&h, &dep, &j1).await;
    h.assert_restored_from(&j2, &sp1, "the upgrade savepoint")
        .await;
    let before = last_per_key(&stdout, "v1");
    let after = first_per_key(&stdout, "v2").await;
    for (k, (count, _)) in &after {
        assert_eq!(*count, before[k].0 + 1, "key {k}: {before:?} {after:?}");
    }

    // 2. A renamed stateful uid: the counter's state would be dropped; the PATCH is refused and the
    //    running job left alone. The refusal names the operator by its id: Flink 1.20's `_metadata`
    //    (format version 4) records no uids or names, and the dropped operator is not in the new graph.
    h.wait_checkpoint(&j2).await;
    let renamed = change("20 --tag v3 --stateless-map --counter-uid counter-renamed");
    let p = preview(&h, "up120", &renamed).await;
    assert_eq!(p["decision"], "REFUSED", "{p}");
    assert_eq!(p["verdict"], "DROPS_STATE", "{p}");
    let f = fates(&p);
    assert_eq!(ids_with(&f, "DROPPED"), [COUNTER], "{p}");
    assert_eq!(ids_with(&f, "RESTORED"), [SINK, MAP, SOURCE], "{p}");
    assert_eq!(ids_with(&f, "NEW").len(), 1, "the renamed counter: {p}");
    patch_refused(
        &h,
        ("up120", &dep),
        &j2,
        &renamed,
        "UPGRADE_DROPS_STATE",
        COUNTER,
    )
    .await;

    // 3. allowNonRestoredState lifts the refusal; Flink restores the source's position and the
    //    counter starts empty, exactly as the preview said.
    let (st, b) = h
        .patch(
            "deployments/up120",
            json!({"spec": {"restoreStrategy": {"allowNonRestoredState": true}}}),
        )
        .await;
    assert!(st.is_success(), "{st} {b}");
    let j3 = next_job(&h, "up120", &j2).await;
    let sp2 = upgrade_savepoint(&h, &dep, &j2).await;
    h.assert_restored_from(&j3, &sp2, "the upgrade savepoint")
        .await;
    let before = last_per_key(&stdout, "v2");
    let after = first_per_key(&stdout, "v3").await;
    for (k, (count, last)) in &after {
        assert_eq!(
            *count, 1,
            "key {k}: the counter's state was dropped: {after:?}"
        );
        assert!(
            *last > before[k].1,
            "key {k}: the source went on from its position: {before:?} {after:?}"
        );
    }

    h.patch("deployments/up120", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("up120", "CANCELLED", T).await;
}
