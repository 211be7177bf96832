//! Table tests of the deployment model: defaults, enum spellings, field errors, validation rules.

use super::*;
use serde_json::json;

fn spec(v: serde_json::Value) -> Result<DeploymentSpec, ValidationError> {
    crate::error::from_value(v, "spec")
}

#[test]
fn minimal_spec_gets_safe_defaults() {
    let s = spec(
        json!({"template": {"spec": {"artifact": {"kind": "jar", "jarUri": "file:///a.jar"}}}}),
    )
    .unwrap();
    assert_eq!(s.state, DesiredState::Cancelled);
    assert_eq!(s.upgrade_strategy.kind, UpgradeStrategyKind::Stateful);
    assert_eq!(s.restore_strategy.kind, RestoreStrategyKind::LatestState);
    assert!(!s.restore_strategy.require_state);
    assert_eq!(s.max_job_creation_attempts, 4);
}

#[test]
fn enums_accept_any_case_and_print_upper_case() {
    let s = spec(
        json!({"state": "running", "upgradeStrategy": {"kind": "stateless"},
        "restoreStrategy": {"kind": "latest_savepoint"},
        "template": {"spec": {"artifact": {"kind": "Jar", "jarUri": "file:///a.jar"}}}}),
    )
    .unwrap();
    assert_eq!(s.state, DesiredState::Running);
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["state"], "RUNNING");
    assert_eq!(out["upgradeStrategy"]["kind"], "STATELESS");
    assert_eq!(out["restoreStrategy"]["kind"], "LATEST_SAVEPOINT");
    assert_eq!(out["template"]["spec"]["artifact"]["kind"], "JAR");
}

#[test]
fn wrong_types_name_the_field() {
    let e = spec(json!({"template": {"spec": {"parallelism": "two", "artifact": {"kind": "JAR", "jarUri": "file:///a"}}}}))
        .unwrap_err();
    assert_eq!(e.field(), "spec.template.spec.parallelism");
    let e = spec(json!({"state": "EXPLODED", "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "x"}}}})).unwrap_err();
    assert_eq!(e.field(), "spec.state");
    assert!(e.message().contains("RUNNING"), "{}", e.message());
    let e = spec(json!({"template": {}})).unwrap_err();
    assert!(e.field().starts_with("spec.template"), "{}", e.field());
}

#[test]
fn validation_rules() {
    let base = spec(
        json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}}),
    )
    .unwrap();
    let ok = Deployment::new("default", "ok", base.clone());
    ok.validate().unwrap();

    let mut d = ok.clone();
    d.metadata.name = "Bad_Name".into();
    assert_eq!(d.validate().unwrap_err().field(), "metadata.name");

    let mut d = ok.clone();
    d.spec.template.spec.parallelism = Some(0);
    assert_eq!(
        d.validate().unwrap_err().field(),
        "spec.template.spec.parallelism"
    );

    let mut d = ok.clone();
    d.spec.template.spec.artifact.jar_uri = "ftp://x/a.jar".into();
    assert_eq!(
        d.validate().unwrap_err().field(),
        "spec.template.spec.artifact.jarUri"
    );

    let mut d = ok.clone();
    d.spec.periodic_savepoint_interval = Some("soon".into());
    assert_eq!(
        d.validate().unwrap_err().field(),
        "spec.periodicSavepointInterval"
    );

    let mut d = ok.clone();
    d.spec
        .template
        .spec
        .flink_configuration
        .insert("state.savepoints.dir".into(), "relative/dir".into());
    assert!(d
        .validate()
        .unwrap_err()
        .field()
        .contains("state.savepoints.dir"));
}

#[test]
fn savepoint_dir_prefers_flink2_key() {
    let base = spec(json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"},
        "flinkConfiguration": {"state.savepoints.dir": "file:///old", "execution.checkpointing.savepoint-dir": "file:///new"}}}})).unwrap();
    assert_eq!(
        Deployment::new("d", "x", base).configured_savepoint_dir(),
        Some("file:///new")
    );
}

#[test]
fn program_args_split_like_a_shell() {
    let a = |s: &str| {
        Artifact {
            kind: ArtifactKind::Jar,
            jar_uri: "file:///a".into(),
            entry_class: None,
            main_args: Some(s.into()),
            flink_version: None,
            sql_script: None,
            additional_dependencies: vec![],
            flink_image_registry: None,
            flink_image_repository: None,
            flink_image_tag: None,
        }
        .program_args()
    };
    assert_eq!(a("10  --fail-after 5"), vec!["10", "--fail-after", "5"]);
    assert_eq!(
        a("--name 'two words' \"x y\""),
        vec!["--name", "two words", "x y"]
    );
    assert_eq!(a("''"), vec![""]);
    assert!(a("   ").is_empty());
}

#[test]
fn ververica_fields_are_kept_verbatim_and_listed_as_not_applied() {
    let given = json!({
        "sessionClusterName": "vvp-session",
        "template": {"spec": {
            "artifact": {"kind": "JAR", "jarUri": "file:///a.jar", "flinkImageRegistry": "registry.ververica.com",
                "flinkImageRepository": "v2.6/flink", "flinkImageTag": "1.14.4-stream1-scala_2.12",
                "flinkVersion": "1.14"},
            "numberOfTaskManagers": 2,
            "resources": {"jobmanager": {"cpu": 1.5, "memory": "1g"}},
            "logging": {"loggingProfile": "default", "log4jLoggers": {"": "INFO"}},
            "kubernetes": {"pods": {"nodeSelector": {"pool": "flink"}},
                "taskManagerPodTemplate": {"spec": {"containers": [{"name": "flink-taskmanager"}]}}},
            "userFlinkConfiguration": {"a": "1"}
        }}
    });
    let s = spec(given.clone()).unwrap();
    let back = serde_json::to_value(&s).unwrap();
    assert_eq!(back["sessionClusterName"], given["sessionClusterName"]);
    for k in [
        "artifact",
        "numberOfTaskManagers",
        "resources",
        "logging",
        "kubernetes",
        "userFlinkConfiguration",
    ] {
        assert_eq!(
            back["template"]["spec"][k], given["template"]["spec"][k],
            "{k}"
        );
    }
    assert_eq!(
        s.not_applied_fields().len(),
        9,
        "{:?}",
        s.not_applied_fields()
    );
    let plain = spec(
        json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}}),
    )
    .unwrap();
    assert!(plain.not_applied_fields().is_empty());
}

#[test]
fn a_jar_uri_may_start_with_a_secret_reference() {
    let s =
        spec(json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "${JAR_URL}"}}}}))
            .unwrap();
    Deployment::new("d", "x", s).validate().unwrap();
}
