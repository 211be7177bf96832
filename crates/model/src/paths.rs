//! Where a deployment's savepoints and checkpoints go.
//!
//! A deployment's own `state.savepoints.dir` / `execution.checkpointing.savepoint-dir` wins; otherwise,
//! with Universal Blob Storage configured on the server, directories are derived per namespace and
//! deployment. Each savepoint stateplane takes gets a directory of its own named after the savepoint
//! resource id, so its location is known before Flink is asked and two savepoints never share one.

use crate::{Deployment, SavepointId};

/// The message of every refusal of a savepoint feature without a savepoint directory.
pub const NO_SAVEPOINT_DIR: &str = "savepoints need a savepoint directory: set \
    execution.checkpointing.savepoint-dir (or state.savepoints.dir) in \
    spec.template.spec.flinkConfiguration, or start the server with --blob-storage-uri \
    (Universal Blob Storage)";

fn trim(uri: &str) -> &str {
    uri.trim().trim_end_matches('/')
}

/// The directory under which this deployment's savepoints go, if savepoints are possible at all.
pub fn savepoint_base_dir(d: &Deployment, blob_base: Option<&str>) -> Option<String> {
    if let Some(dir) = d.configured_savepoint_dir() {
        return Some(trim(dir).to_string());
    }
    blob_base.map(|b| {
        format!(
            "{}/flink-savepoints/namespaces/{}/deployments/{}",
            trim(b),
            d.metadata.namespace,
            d.metadata.id
        )
    })
}

/// The target directory of one savepoint: `<base>/<savepoint id>`. Flink writes the snapshot into a
/// `savepoint-…` directory inside it; that inner directory is the final location.
pub fn savepoint_target_dir(
    d: &Deployment,
    blob_base: Option<&str>,
    id: SavepointId,
) -> Option<String> {
    savepoint_base_dir(d, blob_base).map(|b| format!("{b}/{id}"))
}

/// The checkpoint directory derived from blob storage (None without blob storage).
pub fn derived_checkpoint_dir(d: &Deployment, blob_base: Option<&str>) -> Option<String> {
    blob_base.map(|b| {
        format!(
            "{}/flink-checkpoints/namespaces/{}/deployments/{}",
            trim(b),
            d.metadata.namespace,
            d.metadata.id
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeploymentSpec;

    fn dep(conf: serde_json::Value) -> Deployment {
        let spec: DeploymentSpec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}, "flinkConfiguration": conf}}
        }))
        .unwrap();
        Deployment::new("team", "d", spec)
    }

    #[test]
    fn own_dir_wins_over_blob_storage() {
        let d = dep(serde_json::json!({"state.savepoints.dir": "file:///sp/"}));
        let id = SavepointId::new();
        assert_eq!(
            savepoint_target_dir(&d, Some("s3://b"), id).unwrap(),
            format!("file:///sp/{id}")
        );
    }

    #[test]
    fn blob_storage_derives_per_deployment_dirs() {
        let d = dep(serde_json::json!({}));
        let id = SavepointId::new();
        assert_eq!(
            savepoint_target_dir(&d, Some("s3://bucket/base/"), id).unwrap(),
            format!(
                "s3://bucket/base/flink-savepoints/namespaces/team/deployments/{}/{id}",
                d.metadata.id
            )
        );
        assert_eq!(
            derived_checkpoint_dir(&d, Some("s3://bucket/base")).unwrap(),
            format!(
                "s3://bucket/base/flink-checkpoints/namespaces/team/deployments/{}",
                d.metadata.id
            )
        );
    }

    #[test]
    fn neither_means_no_savepoints() {
        let d = dep(serde_json::json!({"state.savepoints.dir": "  "}));
        assert_eq!(savepoint_base_dir(&d, None), None);
        assert!(
            NO_SAVEPOINT_DIR.contains("state.savepoints.dir")
                && NO_SAVEPOINT_DIR.contains("--blob-storage-uri")
        );
    }
}
