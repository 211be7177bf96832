//! Validation of a deployment's artifact: a jar by URI, or a SQL script (`SQLSCRIPT`, Ververica
//! Platform's shape: `sqlScript`, `additionalDependencies`, `flinkVersion`) and the jars it needs.
//!
//! Why a module of its own: the URI rules are shared by `jarUri` and every additional dependency, and
//! each error names the exact field (`...additionalDependencies[1]`) so a client can point at it.

use crate::{Artifact, ArtifactKind, ValidationError};

/// The URI schemes a jar (or a SQL script's dependency) can be read from.
pub const JAR_URI_SCHEMES: [&str; 6] = ["file:/", "http://", "https://", "s3://", "gs://", "az://"];

pub(crate) fn validate(a: &Artifact) -> Result<(), ValidationError> {
    let field = "spec.template.spec.artifact";
    match a.kind {
        ArtifactKind::Jar => {
            validate_jar_uri(&format!("{field}.jarUri"), &a.jar_uri)?;
            if !a.additional_dependencies.is_empty() {
                return Err(ValidationError::invalid(
                    format!("{field}.additionalDependencies"),
                    "is supported for SQLSCRIPT artifacts only; build the dependencies into the jar",
                ));
            }
        }
        ArtifactKind::SqlScript => {
            if a.sql_script.as_deref().is_none_or(|s| s.trim().is_empty()) {
                return Err(ValidationError::invalid(
                    format!("{field}.sqlScript"),
                    "must hold the SQL script of a SQLSCRIPT artifact",
                ));
            }
            for (i, uri) in a.additional_dependencies.iter().enumerate() {
                validate_jar_uri(&format!("{field}.additionalDependencies[{i}]"), uri)?;
            }
        }
    }
    Ok(())
}

fn validate_jar_uri(field: &str, uri: &str) -> Result<(), ValidationError> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err(ValidationError::invalid(field, "must not be empty"));
    }
    // A URI that starts with a secret reference is known only when the job is submitted.
    if uri.starts_with("${") {
        return Ok(());
    }
    if !JAR_URI_SCHEMES.iter().any(|p| uri.starts_with(p)) {
        return Err(ValidationError::invalid(
            field,
            "must be a file://, http(s)://, s3://, gs:// or az:// URI, e.g. file:///opt/jobs/job.jar",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{ArtifactKind, Deployment, DeploymentSpec};

    fn deployment(artifact: serde_json::Value) -> Deployment {
        let spec: DeploymentSpec = crate::error::from_value(
            json!({"template": {"spec": {"artifact": artifact}}}),
            "spec",
        )
        .unwrap();
        Deployment::new("default", "d", spec)
    }

    fn field(artifact: serde_json::Value) -> Option<String> {
        deployment(artifact)
            .validate()
            .err()
            .map(|e| e.field().to_string())
    }

    #[test]
    fn a_ververica_sqlscript_artifact_is_accepted_verbatim() {
        // As Ververica Platform's UI, CLI and notebooks send it (image fields included).
        let d = deployment(json!({
            "kind": "SQLSCRIPT",
            "sqlScript": "CREATE TEMPORARY TABLE src (k INT) WITH ('connector' = 'datagen');\nINSERT INTO snk SELECT k FROM src;",
            "additionalDependencies": ["s3://bucket/udfs/shout.jar", "https://repo/connector.jar"],
            "flinkVersion": "1.20",
            "flinkImageRegistry": "registry.ververica.com/v2.15",
            "flinkImageRepository": "flink",
            "flinkImageTag": "1.20.0-stream1-scala_2.12-java11"
        }));
        d.validate().unwrap();
        let a = &d.spec.template.spec.artifact;
        assert_eq!(a.kind, ArtifactKind::SqlScript);
        assert_eq!(a.additional_dependencies.len(), 2);
        assert_eq!(a.flink_version.as_deref(), Some("1.20"));
        let out = serde_json::to_value(a).unwrap();
        assert_eq!(out["kind"], "SQLSCRIPT");
        assert!(out.get("jarUri").is_none(), "{out}");
        assert!(out["sqlScript"]
            .as_str()
            .unwrap()
            .contains("INSERT INTO snk"));
    }

    #[test]
    fn artifact_rules_name_the_field() {
        let f = "spec.template.spec.artifact";
        for (artifact, want) in [
            (
                json!({"kind": "SQLSCRIPT", "sqlScript": "INSERT INTO a SELECT 1"}),
                None,
            ),
            (json!({"kind": "SQLSCRIPT"}), Some(format!("{f}.sqlScript"))),
            (
                json!({"kind": "SQLSCRIPT", "sqlScript": "  \n"}),
                Some(format!("{f}.sqlScript")),
            ),
            (
                json!({"kind": "SQLSCRIPT", "sqlScript": "x", "additionalDependencies": ["s3://b/a.jar", "ftp://x/b.jar"]}),
                Some(format!("{f}.additionalDependencies[1]")),
            ),
            (
                json!({"kind": "JAR", "jarUri": "s3://bucket/jobs/job.jar"}),
                None,
            ),
            (
                json!({"kind": "JAR", "jarUri": "gs://bucket/job.jar"}),
                None,
            ),
            (json!({"kind": "JAR"}), Some(format!("{f}.jarUri"))),
            (
                json!({"kind": "JAR", "jarUri": "ftp://x/a.jar"}),
                Some(format!("{f}.jarUri")),
            ),
            (
                json!({"kind": "JAR", "jarUri": "file:///a.jar", "additionalDependencies": ["file:///b.jar"]}),
                Some(format!("{f}.additionalDependencies")),
            ),
        ] {
            assert_eq!(field(artifact.clone()), want, "{artifact}");
        }
    }
}
