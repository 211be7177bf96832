//! A deployment whose jar lies on S3 (`jarUri: s3://…`) runs: stateplane reads it through the blob
//! crate (credentials and endpoint from the standard `AWS_*` variables) and uploads it to the cluster
//! like any jar. Against moto's S3-compatible server on loopback (`pip install 'moto[server]'`, as the
//! blob crate's tests); skipped, saying so, where it is not installed. One test in this binary: the
//! environment is process-wide.

mod common;

use common::*;
use serde_json::json;
use stateplane_testkit::s3::{put, start_moto, use_moto_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_whose_jar_lies_on_s3_runs() {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    use_moto_env(port);
    let h = Harness::start().await;
    put(port, "jars", b"");
    put(
        port,
        "jars/jobs/stateful-counter.jar",
        &std::fs::read(&h.jar).unwrap(),
    );

    h.create_deployment(
        "s3jar",
        json!({"template": {"spec": {"artifact": {"jarUri": "s3://jars/jobs/stateful-counter.jar"}}}}),
    )
    .await;
    let d = h.wait_state("s3jar", "RUNNING", T).await;
    assert_eq!(
        d["spec"]["template"]["spec"]["artifact"]["jarUri"],
        "s3://jars/jobs/stateful-counter.jar"
    );

    // A jar that is not there is refused with the storage's answer, not retried as a Flink failure.
    let mut patch =
        json!({"template": {"spec": {"artifact": {"jarUri": "s3://jars/jobs/missing.jar"}}}});
    patch["maxJobCreationAttempts"] = json!(1);
    h.create_deployment("s3missing", patch).await;
    let d = h.wait_state("s3missing", "FAILED", T).await;
    let message = d["status"]["failure"]["message"].as_str().unwrap();
    assert!(message.contains("s3://jars/jobs/missing.jar"), "{message}");

    h.patch("deployments/s3jar", json!({"spec": {"state": "CANCELLED"}}))
        .await;
    h.wait_state("s3jar", "CANCELLED", T).await;
}
