//! PUT (upsert) of a deployment and of a deployment target, as in Ververica Platform 2.4+: create when
//! the name is free (201), replace the whole resource otherwise (200).
//!
//! A replace of a deployment is the merge patch from the stored deployment to the one sent
//! ([`stateplane_model::merge::diff`]) applied by the same code as a PATCH, so it has exactly a
//! PATCH's validation, spec-version rule (the version grows when the template changes, which makes
//! a RUNNING deployment upgrade under its upgrade strategy), mask handling and `resourceVersion` check
//! (stale → 409). The namespace's deployment defaults are merged under the spec sent, as at creation,
//! so a PUT of the same manifest twice changes nothing. `status` in the body is ignored (a resource
//! read and sent back).

use serde_json::{json, Map, Value};
use stateplane_model::merge::{diff, with_defaults};
use stateplane_model::{validate_dns_label, Deployment, DeploymentId, DeploymentTarget};
use stateplane_store::{Store, StoreError};

use super::deployments::{self, apply_checked, checked_next, patchable, PatchPlan};
use super::{busy, ensure_namespace, or_not_found, stale, CAS_ATTEMPTS};
use crate::bodies::{CreateMetadata, DeploymentCreate, DeploymentTargetCreate};
use crate::compat_bodies::{DeploymentPut, DeploymentTargetPut, PutMetadata};
use crate::error::{ApiError, ApiResult};

/// What a PUT did.
pub enum Upserted<T> {
    Created(T),
    Replaced(T),
}

/// 422 unless `metadata.name` and `metadata.namespace`, when given, are the path's.
fn check_names(meta: &PutMetadata, ns: &str, name: &str) -> ApiResult<()> {
    if let Some(given) = meta.name.as_deref().filter(|n| *n != name) {
        return Err(ApiError::invalid(
            "metadata.name",
            format!(
                "is '{given}' but the path names '{name}'; make them equal (a PUT cannot rename)"
            ),
        ));
    }
    if let Some(given) = meta.namespace.as_deref().filter(|n| *n != ns) {
        return Err(ApiError::invalid(
            "metadata.namespace",
            format!("is '{given}' but the request goes to namespace '{ns}'; leave it out or make them equal"),
        ));
    }
    Ok(())
}

/// `id`, `createdAt` repeated from a read: must be the stored ones (checked like a PATCH's).
fn fixed_of(meta: &PutMetadata) -> Map<String, Value> {
    meta.other
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "id" | "createdAt"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A whole replacement of a deployment, as a PATCH: the checks of the body that need no stored
/// deployment, and the deployment wanted (the namespace's defaults merged under the spec sent), from
/// which [`Replacement::patch_for`] computes the merge patch for the deployment as stored at each
/// attempt. The PUT and the upgrade preview of a PUT both use it, so the preview answers exactly
/// what the PUT would do.
pub(super) struct Replacement {
    pub(super) plan: PatchPlan,
    wanted: Value,
}

impl Replacement {
    /// The replacement of deployment `name` (stored) by `meta` and `spec`.
    pub(super) async fn of(
        store: &dyn Store,
        ns: &str,
        name: &str,
        meta: PutMetadata,
        spec: Map<String, Value>,
    ) -> ApiResult<Self> {
        check_names(&meta, ns, name)?;
        let defaults = store.deployment_defaults_get(ns).await?;
        let wanted = json!({
            "metadata": {
                "labels": meta.labels,
                "annotations": meta.annotations,
                "displayName": meta.display_name,
            },
            "spec": with_defaults(&defaults.spec, &Value::Object(spec)),
        });
        let plan = PatchPlan {
            patch: Value::Null,
            expected: meta.resource_version,
            fixed: fixed_of(&meta),
        };
        Ok(Self { plan, wanted })
    }

    /// The merge patch from `current` to the deployment wanted: a key left out is removed.
    pub(super) fn patch_for(&self, current: &Deployment) -> Value {
        diff(&patchable(current), &self.wanted)
    }
}

/// The preview of a PUT replacing deployment `id_or_name` (which must exist: a PUT that would create
/// one has nothing to preview) with `body`: the stored deployment and what the PUT would make of it.
pub(super) async fn replace_preview(
    store: &dyn Store,
    blob: Option<&str>,
    ns: &str,
    id_or_name: &str,
    body: DeploymentPut,
) -> ApiResult<(Deployment, Deployment)> {
    let current = deployments::resolve(store, ns, id_or_name).await?;
    let r = Replacement::of(store, ns, &current.metadata.name, body.metadata, body.spec).await?;
    let next = checked_next(store, blob, ns, &current, &r.plan, |c| Ok(r.patch_for(c))).await?;
    Ok((current.clone(), next.unwrap_or(current)))
}

pub async fn deployment(
    store: &dyn Store,
    blob: Option<&str>,
    ns: &str,
    id_or_name: &str,
    body: DeploymentPut,
) -> ApiResult<Upserted<Deployment>> {
    let meta = body.metadata;
    ensure_namespace(store, ns).await?;
    let existing = match deployments::resolve(store, ns, id_or_name).await {
        Ok(d) => Some(d),
        Err(ApiError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let Some(existing) = existing else {
        if id_or_name.parse::<DeploymentId>().is_ok() {
            return Err(ApiError::not_found("deployment", id_or_name, ns));
        }
        validate_dns_label("metadata.name", id_or_name)?;
        check_names(&meta, ns, id_or_name)?;
        let create = DeploymentCreate {
            metadata: CreateMetadata {
                name: Some(id_or_name.to_string()),
                display_name: meta.display_name,
                namespace: None,
                labels: meta.labels,
                annotations: meta.annotations,
            },
            spec: body.spec,
        };
        return Ok(Upserted::Created(
            deployments::create(store, ns, create).await?,
        ));
    };
    let name = existing.metadata.name.clone();
    let r = Replacement::of(store, ns, &name, meta, body.spec).await?;
    let replaced = apply_checked(store, blob, ns, &name, &r.plan, |c| Ok(r.patch_for(c))).await?;
    Ok(Upserted::Replaced(replaced))
}

pub async fn target(
    store: &dyn Store,
    ns: &str,
    name: &str,
    body: DeploymentTargetPut,
) -> ApiResult<Upserted<DeploymentTarget>> {
    let meta = body.metadata;
    check_names(&meta, ns, name)?;
    ensure_namespace(store, ns).await?;
    let rest_url = super::targets::rest_url(&body.spec)?;
    // Without a resourceVersion the caller replaces whatever is there: a write of the target's
    // status by the controller (its Flink version, its scheduler) between the read and the write is
    // read again, as a PATCH does; with one, any change since is the caller's 409.
    for attempt in 0..CAS_ATTEMPTS {
        let current = match store.target_get(ns, name).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) if attempt == 0 => {
                let create = DeploymentTargetCreate {
                    metadata: CreateMetadata {
                        name: Some(name.to_string()),
                        display_name: meta.display_name,
                        namespace: None,
                        labels: meta.labels,
                        annotations: meta.annotations,
                    },
                    spec: body.spec,
                };
                return Ok(Upserted::Created(
                    super::targets::create(store, ns, create).await?,
                ));
            }
            Err(e) => return Err(or_not_found("deployment target", name, ns)(e)),
        };
        let actual = current.metadata.resource_version;
        if let Some(expected) = meta.resource_version.filter(|e| *e != actual) {
            return Err(stale("deployment target", name, expected, actual));
        }
        let mut next = current.clone();
        next.spec.flink_session_cluster.rest_url = rest_url.clone();
        next.metadata.labels = meta.labels.clone();
        next.metadata.annotations = meta.annotations.clone();
        next.validate()?;
        if next == current {
            return Ok(Upserted::Replaced(current));
        }
        match store.target_update(&next).await {
            Ok(t) => return Ok(Upserted::Replaced(t)),
            Err(StoreError::Conflict {
                expected, actual, ..
            }) if meta.resource_version.is_some() => {
                return Err(stale("deployment target", name, expected, actual))
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(or_not_found("deployment target", name, ns)(e)),
        }
    }
    Err(busy("deployment target", name))
}
