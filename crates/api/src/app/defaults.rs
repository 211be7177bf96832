//! Deployment defaults: a partial deployment spec per namespace, merged under every new deployment's
//! spec at creation (explicit fields win). Changing the defaults never touches existing deployments.
//!
//! The defaults are checked by merging them over a minimal valid spec: whatever they set must then
//! still make a valid `DeploymentSpec`, so a wrong type is refused here, naming the field, rather than
//! at the next deployment's creation.

use serde_json::{json, Map, Value};
use stateplane_model::error::from_value;
use stateplane_model::merge::{merge_patch, with_defaults};
use stateplane_model::{Deployment, DeploymentDefaults, DeploymentSpec};
use stateplane_store::{Store, StoreError};

use super::{busy, ensure_namespace, stale, CAS_ATTEMPTS};
use crate::bodies::DeploymentDefaultsPatch;
use crate::error::{ApiError, ApiResult};

pub async fn get(store: &dyn Store, ns: &str) -> ApiResult<DeploymentDefaults> {
    ensure_namespace(store, ns).await?;
    Ok(store.deployment_defaults_get(ns).await?)
}

/// The smallest spec that is valid; the defaults are laid over it for checking.
fn minimal_spec() -> Value {
    json!({"template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///defaults-check.jar"}}}})
}

async fn validate(store: &dyn Store, ns: &str, spec: &Value) -> ApiResult<()> {
    if !spec.is_object() {
        return Err(ApiError::MalformedField {
            field: "spec".into(),
            message: "must be an object".into(),
        });
    }
    let full: DeploymentSpec = from_value(with_defaults(&minimal_spec(), spec), "spec")?;
    if let Some(target) = &full.deployment_target_name {
        match store.target_get(ns, target).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::invalid(
                    "spec.deploymentTargetName",
                    format!("deployment target '{target}' does not exist in namespace '{ns}'"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Deployment::new(ns, "defaults-check", full).validate()?;
    Ok(())
}

/// Applies `{spec: …}` as a JSON merge patch to the defaults.
pub async fn patch(
    store: &dyn Store,
    ns: &str,
    body: DeploymentDefaultsPatch,
) -> ApiResult<DeploymentDefaults> {
    if let Some((other, _)) = body
        .other
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind"))
    {
        return Err(ApiError::invalid(
            other,
            "unknown field; PATCH the defaults as {\"spec\": {…}}",
        ));
    }
    let expected = body.metadata.and_then(|m| m.resource_version);
    let spec_patch = body.spec.unwrap_or_else(|| Value::Object(Map::new()));
    if !(spec_patch.is_object() || spec_patch.is_null()) {
        return Err(ApiError::MalformedField {
            field: "spec".into(),
            message: "must be an object".into(),
        });
    }
    ensure_namespace(store, ns).await?;
    for _ in 0..CAS_ATTEMPTS {
        let current = store.deployment_defaults_get(ns).await?;
        if let Some(expected) = expected {
            if expected != current.metadata.resource_version {
                return Err(stale(
                    "deployment defaults of",
                    ns,
                    expected,
                    current.metadata.resource_version,
                ));
            }
        }
        let mut spec = current.spec.clone();
        if spec_patch.is_null() {
            spec = Value::Object(Map::new());
        } else {
            merge_patch(&mut spec, &spec_patch);
        }
        if spec == current.spec {
            return Ok(current);
        }
        validate(store, ns, &spec).await?;
        let mut next = current.clone();
        next.spec = spec;
        match store.deployment_defaults_put(&next).await {
            Ok(d) => return Ok(d),
            Err(StoreError::Conflict { actual, .. }) => {
                if let Some(expected) = expected {
                    return Err(stale("deployment defaults of", ns, expected, actual));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(busy("deployment defaults of", ns))
}
