//! Safe stateful upgrades on a real Flink 2.3 cluster, with variants of the example job: every
//! upgrade preview is checked against what Flink then does with the same change.
//!
//! One deployment goes through the changes in turn (one cluster, one job at a time):
//! 1. a renamed stateful uid previews as DROPS_STATE and its PATCH is refused before anything is
//!    stopped (same Flink job, no savepoint taken);
//! 2. `allowNonRestoredState` lifts the refusal: the upgrade restores the source's position and the
//!    counter starts empty, exactly as predicted;
//! 3. a stateless operator added previews as COMPATIBLE: the upgrade restores every operator and the
//!    counts continue;
//! 4. a max parallelism change previews as INCOMPATIBLE and is refused; with the override Flink
//!    itself refuses the restore ("Max parallelism mismatch"; rollback, on by default, is turned
//!    off here and tested in tests/rollback.rs).

mod common;

use common::upgrade::*;
use common::*;
use serde_json::json;
use stateplane_model::plan::rollback::ROLLBACK_ANNOTATION;
use stateplane_model::plan::upgrade_check::SKIP_CHECK_ANNOTATION;
use stateplane_model::SPEC_VERSION_ANNOTATION;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_are_previewed_refused_or_carried_out_as_flink_then_does() {
    let h = Harness::start().await;
    let stdout = stateplane_testkit::flink::shared_cluster().taskmanager_stdout();
    let d = h
        .create_deployment(
            "up",
            json!({"template": {"spec": {"artifact": {"mainArgs": "20 --tag up1"}}}}),
        )
        .await;
    let dep = s(&d["metadata"]["id"]);
    let j1 = running_job(&h.wait_state("up", "RUNNING", T).await);
    h.wait_checkpoint(&j1).await;

    // Bad input is a 4xx naming the field; a change without a template change restarts nothing.
    let (st, b) = h
        .post(
            "deployments/up/upgrade-preview",
            json!({"spec": {"template": {"spec": {"parallelism": "two"}}}}),
        )
        .await;
    assert_eq!(st.as_u16(), 422, "{b}");
    assert!(b["code"].is_string() && b["message"].is_string(), "{b}");
    assert!(s(&b["field"]).starts_with("spec"), "{b}");
    let p = preview(&h, "up", &json!({"metadata": {"labels": {"team": "a"}}})).await;
    assert_eq!(p["decision"], "NO_UPGRADE", "{p}");

    // 1. A renamed stateful uid: the counter's state would be dropped; the upgrade is refused.
    let renamed = main_args("20 --tag up2 --counter-uid counter-renamed");
    let p = preview(&h, "up", &renamed).await;
    assert_eq!(p["decision"], "REFUSED", "{p}");
    assert_eq!(p["verdict"], "DROPS_STATE", "{p}");
    let f = fates(&p);
    assert_eq!(ids_with(&f, "DROPPED"), [COUNTER], "{p}");
    assert_eq!(ids_with(&f, "RESTORED"), [SINK, SOURCE], "{p}");
    assert_eq!(ids_with(&f, "NEW").len(), 1, "the renamed counter: {p}");
    patch_refused(
        &h,
        ("up", &dep),
        &j1,
        &renamed,
        "UPGRADE_DROPS_STATE",
        "count-per-key",
    )
    .await;

    // 2. allowNonRestoredState lifts the refusal; Flink restores the source's position and the
    //    counter starts empty, as the preview said.
    let (st, b) = h
        .patch(
            "deployments/up",
            json!({"spec": {"restoreStrategy": {"allowNonRestoredState": true}}}),
        )
        .await;
    assert!(st.is_success(), "{st} {b}");
    let j2 = next_job(&h, "up", &j1).await;
    let sp1 = upgrade_savepoint(&h, &dep, &j1).await;
    h.assert_restored_from(&j2, &sp1, "the upgrade savepoint")
        .await;
    let before = last_per_key(&stdout, "up1");
    let after = first_per_key(&stdout, "up2").await;
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

    // 3. A stateless operator added: compatible, every operator restores, the counts continue.
    h.wait_checkpoint(&j2).await;
    let compatible = main_args("20 --tag up3 --counter-uid counter-renamed --stateless-map");
    let p = preview(&h, "up", &compatible).await;
    assert_eq!(p["decision"], "PROCEEDS", "{p}");
    assert_eq!(p["verdict"], "COMPATIBLE", "{p}");
    let f = fates(&p);
    assert_eq!(ids_with(&f, "NEW"), [MAP], "{p}");
    assert_eq!(ids_with(&f, "RESTORED").len(), 3, "{p}");
    h.patch("deployments/up", compatible).await;
    let j3 = next_job(&h, "up", &j2).await;
    let sp2 = upgrade_savepoint(&h, &dep, &j2).await;
    h.assert_restored_from(&j3, &sp2, "the upgrade savepoint")
        .await;
    let before = last_per_key(&stdout, "up2");
    let after = first_per_key(&stdout, "up3").await;
    for (k, (count, _)) in &after {
        assert_eq!(*count, before[k].0 + 1, "key {k}: {before:?} {after:?}");
    }

    // 4. A max parallelism change: incompatible, refused; with the override Flink refuses the
    //    restore itself, as predicted.
    h.wait_checkpoint(&j3).await;
    let max = json!({"spec": {"template": {"spec": {"flinkConfiguration": {"pipeline.max-parallelism": "64"}}}}});
    let p = preview(&h, "up", &max).await;
    assert_eq!(p["decision"], "REFUSED", "{p}");
    assert_eq!(p["verdict"], "INCOMPATIBLE", "{p}");
    assert_eq!(ids_with(&fates(&p), "INCOMPATIBLE").len(), 4, "{p}");
    patch_refused(
        &h,
        ("up", &dep),
        &j3,
        &max,
        "UPGRADE_INCOMPATIBLE_STATE",
        "max parallelism",
    )
    .await;
    let version = s(&h.deployment("up").await["metadata"]["annotations"][SPEC_VERSION_ANNOTATION]);
    // Rollback off: Flink's refusal stays the deployment's failure (tests/rollback.rs has it on).
    h.patch(
        "deployments/up",
        json!({"metadata": {"annotations": {SKIP_CHECK_ANNOTATION: version, ROLLBACK_ANNOTATION: "off"}}}),
    )
    .await;
    let d = h
        .wait_for("up", "Flink's refusal of the restore", T, |d| {
            s(&d["status"]["failure"]["message"]).contains("Max parallelism mismatch")
        })
        .await;
    assert_eq!(
        d["status"]["failure"]["reason"], "JOB_SUBMISSION_FAILED",
        "{d}"
    );
    h.patch("deployments/up", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("up", "CANCELLED", T).await;
}
