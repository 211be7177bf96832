//! Deployments: the desired state of one Flink application.
//!
//! Rules kept here:
//! - Names are DNS labels, unique per namespace. `{deploymentId}` in a path is the id or the name.
//! - The server owns `metadata.id`, `namespace`, `name` (after creation), `createdAt`,
//!   `resourceVersion` and `status` (the controller writes status).
//! - The spec-version annotation starts at 1 and grows by one with every change of `spec.template`
//!   (the template compared as JSON before and after); a client's value for it is ignored.
//! - The namespace's deployment defaults are merged under the spec at creation (explicit fields win).
//! - PATCH is a JSON merge patch over `{metadata: {labels, annotations, displayName}, spec}`; a PATCH that
//!   changes nothing writes nothing.
//! - DELETE only once the desired state is CANCELLED and nothing runs; what it does to the snapshots'
//!   data is [`super::teardown`]'s.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use stateplane_model::error::from_value;
use stateplane_model::label_selector::LabelSelector;
use stateplane_model::merge::{merge_patch, with_defaults};
use stateplane_model::restore::{self, RestoreDecision};
use stateplane_model::{
    lenient_string_map, validate_dns_label, Deployment, DeploymentId, DeploymentSpec,
    DeploymentState, DesiredState, StringMap, SPEC_VERSION_ANNOTATION,
};
use stateplane_store::{SavepointFilter, Store, StoreError};

use super::{
    busy, ensure_namespace, namespace_not_found, or_not_found, required, stale, CAS_ATTEMPTS,
};
use crate::bodies::{self, DeploymentCreate};
use crate::error::{ApiError, ApiResult};
use crate::params::{Wait, UUID_EXAMPLE};
use crate::AppState;

/// Finds a deployment of `ns` by id or, failing that, by name.
pub async fn resolve(store: &dyn Store, ns: &str, id_or_name: &str) -> ApiResult<Deployment> {
    ensure_namespace(store, ns).await?;
    if let Ok(id) = id_or_name.parse::<DeploymentId>() {
        match store.deployment_get(ns, id).await {
            Ok(d) if d.metadata.namespace == ns => return Ok(d),
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    } else if validate_dns_label("deploymentId", id_or_name).is_err() {
        return Err(ApiError::parameter(
            "deploymentId",
            format!(
                "'{id_or_name}' is neither a deployment id (a UUID such as {UUID_EXAMPLE}) nor a deployment name \
                 (lower-case letters, digits and '-')"
            ),
        ));
    }
    match store.deployment_get_by_name(ns, id_or_name).await {
        Ok(d) if d.metadata.namespace == ns => Ok(d),
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            Err(ApiError::not_found("deployment", id_or_name, ns))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(
    store: &dyn Store,
    ns: &str,
    selector: Option<&LabelSelector>,
) -> ApiResult<Vec<Deployment>> {
    ensure_namespace(store, ns).await?;
    let all = store.deployment_list(Some(ns)).await?;
    Ok(all
        .into_iter()
        .filter(|d| selector.is_none_or(|s| s.matches(&d.metadata.labels)))
        .collect())
}

/// A deployment, optionally waiting (long-poll) until `status.state` is one of the awaited states.
pub async fn get(
    state: &AppState,
    ns: &str,
    id_or_name: &str,
    wait: Option<Wait<DeploymentState>>,
    draining: Option<crate::Draining>,
) -> ApiResult<Deployment> {
    let store = state.store.as_ref();
    let d = resolve(store, ns, id_or_name).await?;
    let Some(wait) = wait else { return Ok(d) };
    let id = d.metadata.id;
    super::watch::until(
        store,
        |c| {
            c.kind == stateplane_store::ResourceKind::Deployment
                && c.id.parse::<DeploymentId>().ok() == Some(id)
        },
        || async move {
            store
                .deployment_get(ns, id)
                .await
                .map_err(or_not_found("deployment", id, ns))
        },
        |d: &Deployment| wait.states.contains(&d.status.state),
        wait.timeout,
        draining,
    )
    .await
}

/// The metadata a client may set.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientMetadata {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string_map")]
    labels: StringMap,
    #[serde(default, deserialize_with = "lenient_string_map")]
    annotations: StringMap,
}

/// 422 unless a named deployment target exists in the namespace.
async fn check_target(store: &dyn Store, ns: &str, spec: &DeploymentSpec) -> ApiResult<()> {
    let Some(name) = &spec.deployment_target_name else {
        return Ok(());
    };
    match store.target_get(ns, name).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => Err(ApiError::invalid(
            "spec.deploymentTargetName",
            format!("deployment target '{name}' does not exist in namespace '{ns}'; create it first or name another"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// 422 when the job is built for another Flink release line (`artifact.flinkVersion`, major.minor)
/// than the deployment target reports. Checked only while the target's version is known; the
/// controller checks again before every start.
async fn check_flink_version(store: &dyn Store, ns: &str, spec: &DeploymentSpec) -> ApiResult<()> {
    let artifact = spec.template.spec.artifact.flink_version.as_deref();
    if artifact.is_none() {
        return Ok(());
    }
    let name = spec.deployment_target_name.as_deref().unwrap_or("default");
    match store.target_get(ns, name).await {
        Ok(t) => Ok(t.check_artifact_flink_version(artifact, t.reported_flink_version())?),
        Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates a deployment from `{metadata: {name, displayName, labels, annotations}, spec}`.
/// Server-owned fields in the body (`metadata.id`, `createdAt`, `resourceVersion`, `status`) are ignored.
pub async fn create(store: &dyn Store, ns: &str, body: DeploymentCreate) -> ApiResult<Deployment> {
    let meta = body.metadata;
    let name = required("metadata.name", meta.name)?;
    if let Some(given) = meta.namespace.filter(|given| given != ns) {
        return Err(ApiError::invalid(
            "metadata.namespace",
            format!("is '{given}' but the request goes to namespace '{ns}'; leave it out or make them equal"),
        ));
    }
    let explicit = Value::Object(body.spec);
    ensure_namespace(store, ns).await?;
    let defaults = store.deployment_defaults_get(ns).await?;
    let spec: DeploymentSpec = from_value(with_defaults(&defaults.spec, &explicit), "spec")?;

    let mut d = Deployment::new(ns, &name, spec);
    d.metadata.display_name = meta.display_name;
    d.metadata.labels = meta.labels;
    d.metadata.annotations = meta.annotations;
    super::teardown::server_annotations(None, &mut d.metadata.annotations);
    d.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), "1".into());
    d.validate()?;
    sensitive_create_check(&d.spec)?;
    super::secret_values::check_references(store, ns, &d.spec).await?;
    check_target(store, ns, &d.spec).await?;
    check_flink_version(store, ns, &d.spec).await?;
    store.deployment_create(&d).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => ApiError::AlreadyExists {
            kind: "deployment",
            name: name.clone(),
        },
        StoreError::NotFound { .. } => namespace_not_found(ns),
        e => e.into(),
    })?;
    store
        .deployment_get(ns, d.metadata.id)
        .await
        .map_err(or_not_found("deployment", d.metadata.id, ns))
}

const PATCH_HINT: &str =
    "a PATCH may change metadata.labels, metadata.annotations, metadata.displayName and spec";

/// The parts of a PATCH body, checked for shape before anything is read.
#[derive(Debug)]
pub(super) struct PatchPlan {
    /// The merge patch over `{metadata: {labels, annotations, displayName}, spec}`.
    pub(super) patch: Value,
    pub(super) expected: Option<i64>,
    /// Immutable metadata the client repeated; must equal the stored values.
    pub(super) fixed: Map<String, Value>,
}

fn unknown(field: String) -> ApiError {
    ApiError::invalid(field, format!("unknown field; {PATCH_HINT}"))
}

fn split_patch(body: bodies::DeploymentPatch) -> ApiResult<PatchPlan> {
    for k in body.other.keys() {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" => {
                return Err(ApiError::invalid(
                    "status",
                    "is written only by the controller; leave it out of a PATCH",
                ))
            }
            other => return Err(unknown(other.to_string())),
        }
    }
    let mut patch = Map::new();
    if let Some(spec) = body.spec {
        if !(spec.is_object() || spec.is_null()) {
            return Err(ApiError::MalformedField {
                field: "spec".into(),
                message: "must be an object".into(),
            });
        }
        patch.insert("spec".into(), spec);
    }
    let mut fixed = Map::new();
    let mut expected = None;
    if let Some(m) = body.metadata {
        for (k, v) in m.other {
            match k.as_str() {
                "modifiedAt" => {}
                "id" | "namespace" | "name" | "createdAt" => {
                    fixed.insert(k, v);
                }
                other => return Err(unknown(format!("metadata.{other}"))),
            }
        }
        expected = m.resource_version;
        let meta_patch: Map<String, Value> = [
            ("labels", m.labels),
            ("annotations", m.annotations),
            ("displayName", m.display_name),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect();
        patch.insert("metadata".into(), Value::Object(meta_patch));
    }
    Ok(PatchPlan {
        patch: Value::Object(patch),
        expected,
        fixed,
    })
}

/// 422 when the client tries to change `metadata.id`, `namespace`, `name` or `createdAt`.
fn check_fixed(fixed: &Map<String, Value>, d: &Deployment) -> ApiResult<()> {
    for (k, v) in fixed {
        let same = match k.as_str() {
            "id" => v.as_str().and_then(|s| s.parse::<DeploymentId>().ok()) == Some(d.metadata.id),
            "namespace" => v.as_str() == Some(d.metadata.namespace.as_str()),
            "name" => v.as_str() == Some(d.metadata.name.as_str()),
            "createdAt" => {
                v.as_str()
                    .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
                    == Some(d.metadata.created_at)
            }
            _ => true,
        };
        if !same && !v.is_null() {
            return Err(ApiError::invalid(
                format!("metadata.{k}"),
                "cannot be changed; leave it out of the PATCH",
            ));
        }
    }
    Ok(())
}

/// What a PATCH merges into: the client-settable metadata and the spec.
pub(super) fn patchable(d: &Deployment) -> Value {
    json!({
        "metadata": {
            "labels": d.metadata.labels,
            "annotations": d.metadata.annotations,
            "displayName": d.metadata.display_name,
        },
        "spec": d.spec,
    })
}

/// 422 for a mask (`******`) in a new deployment's configuration: there is no stored value to keep.
fn sensitive_create_check(spec: &DeploymentSpec) -> ApiResult<()> {
    let mut c = spec.template.spec.flink_configuration.clone();
    stateplane_model::sensitive::restore_masked(
        &mut c,
        &StringMap::new(),
        "spec.template.spec.flinkConfiguration",
    )?;
    Ok(())
}

/// `current` with `patch` applied, the spec version bumped if the template changed.
fn apply_patch(current: &Deployment, patch: &Value) -> ApiResult<Deployment> {
    let mut doc = patchable(current);
    merge_patch(&mut doc, patch);
    let meta: ClientMetadata = from_value(doc["metadata"].take(), "metadata")?;
    let mut spec: DeploymentSpec = from_value(doc["spec"].take(), "spec")?;
    stateplane_model::sensitive::restore_masked(
        &mut spec.template.spec.flink_configuration,
        &current.spec.template.spec.flink_configuration,
        "spec.template.spec.flinkConfiguration",
    )?;
    let mut next = current.clone();
    next.metadata.display_name = meta.display_name;
    next.metadata.labels = meta.labels;
    next.metadata.annotations = meta.annotations;
    super::teardown::server_annotations(
        Some(&current.metadata.annotations),
        &mut next.metadata.annotations,
    );
    next.spec = spec;
    let version = current.spec_version();
    let template_changed = serde_json::to_value(&next.spec.template).ok()
        != serde_json::to_value(&current.spec.template).ok();
    let new_version = if template_changed {
        version + 1
    } else {
        version
    };
    next.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), new_version.to_string());
    Ok(next)
}

/// Refuses a change that needs a savepoint when no savepoint directory is known (neither in the
/// deployment's Flink configuration nor from blob storage): suspending a deployment whose job runs, or
/// a STATEFUL upgrade of one. Without the refusal the controller could only report the failure later.
fn check_savepoint_features(
    current: &Deployment,
    next: &Deployment,
    blob: Option<&str>,
) -> ApiResult<()> {
    if stateplane_model::paths::savepoint_base_dir(next, blob).is_some() {
        return Ok(());
    }
    let job_runs = matches!(
        current.status.state,
        DeploymentState::Running | DeploymentState::Transitioning
    );
    let suspends =
        next.spec.state == DesiredState::Suspended && current.spec.state != DesiredState::Suspended;
    let stateful_upgrade = next.spec.state == DesiredState::Running
        && next.spec_version() != current.spec_version()
        && next.spec.upgrade_strategy.kind == stateplane_model::UpgradeStrategyKind::Stateful;
    if job_runs && (suspends || stateful_upgrade) {
        return Err(ApiError::SavepointsNotConfigured);
    }
    Ok(())
}

/// Applies a JSON merge patch (see the module docs).
pub async fn patch(
    store: &dyn Store,
    blob: Option<&str>,
    ns: &str,
    id_or_name: &str,
    body: bodies::DeploymentPatch,
) -> ApiResult<Deployment> {
    let p = split_patch(body)?;
    let patch = p.patch.clone();
    apply_checked(store, blob, ns, id_or_name, &p, |_| Ok(patch.clone())).await
}

/// The preview of a PATCH with `body`: the stored deployment and what the PATCH would make of it.
pub(super) async fn patch_preview(
    store: &dyn Store,
    blob: Option<&str>,
    ns: &str,
    id_or_name: &str,
    body: bodies::DeploymentPatch,
) -> ApiResult<(Deployment, Deployment)> {
    let p = split_patch(body)?;
    let current = resolve(store, ns, id_or_name).await?;
    let next = checked_next(store, blob, ns, &current, &p, |_| Ok(p.patch.clone())).await?;
    Ok((current.clone(), next.unwrap_or(current)))
}

/// What `p` (with `make_patch`'s merge patch for `current`) makes of `current`, through every check
/// of a PATCH: deletion under way, `resourceVersion`, fixed metadata, validation, secret references,
/// savepoints, target and Flink version. `None` when it changes nothing (then nothing is checked
/// further, as nothing would be written). Writes nothing: the PATCH, the PUT and both upgrade
/// previews share it, so a preview answers exactly what the write would.
pub(super) async fn checked_next(
    store: &dyn Store,
    blob: Option<&str>,
    ns: &str,
    current: &Deployment,
    p: &PatchPlan,
    make_patch: impl Fn(&Deployment) -> ApiResult<Value>,
) -> ApiResult<Option<Deployment>> {
    super::teardown::refuse_if_being_deleted(current)?;
    if let Some(expected) = p.expected {
        if expected != current.metadata.resource_version {
            return Err(stale(
                "deployment",
                &current.metadata.name,
                expected,
                current.metadata.resource_version,
            ));
        }
    }
    check_fixed(&p.fixed, current)?;
    let next = apply_patch(current, &make_patch(current)?)?;
    if next == *current {
        return Ok(None);
    }
    next.validate()?;
    if next.spec.template != current.spec.template {
        super::secret_values::check_references(store, ns, &next.spec).await?;
    }
    check_savepoint_features(current, &next, blob)?;
    if next.spec.deployment_target_name != current.spec.deployment_target_name {
        check_target(store, ns, &next.spec).await?;
    }
    if next.spec.deployment_target_name != current.spec.deployment_target_name
        || next.spec.template.spec.artifact.flink_version
            != current.spec.template.spec.artifact.flink_version
    {
        check_flink_version(store, ns, &next.spec).await?;
    }
    Ok(Some(next))
}

/// The read-check-write loop of a PATCH (and of a PUT, written as a PATCH): `make_patch` gives the
/// merge patch for the deployment as currently stored.
pub(super) async fn apply_checked(
    store: &dyn Store,
    blob: Option<&str>,
    ns: &str,
    id_or_name: &str,
    p: &PatchPlan,
    make_patch: impl Fn(&Deployment) -> ApiResult<Value>,
) -> ApiResult<Deployment> {
    for _ in 0..CAS_ATTEMPTS {
        let current = resolve(store, ns, id_or_name).await?;
        let Some(next) = checked_next(store, blob, ns, &current, p, &make_patch).await? else {
            return Ok(current);
        };
        match store.deployment_update(&next).await {
            Ok(d) => return Ok(d),
            Err(StoreError::Conflict { actual, .. }) => {
                if let Some(expected) = p.expected {
                    return Err(stale(
                        "deployment",
                        &current.metadata.name,
                        expected,
                        actual,
                    ));
                }
            }
            Err(e) => return Err(or_not_found("deployment", id_or_name, ns)(e)),
        }
    }
    Err(busy("deployment", id_or_name))
}

/// Which snapshot the next start would restore from, and why the others would not be used.
pub async fn restore_preview(
    store: &dyn Store,
    ns: &str,
    id_or_name: &str,
) -> ApiResult<RestoreDecision> {
    let d = resolve(store, ns, id_or_name).await?;
    let filter = SavepointFilter {
        deployment_id: Some(d.metadata.id),
        ..Default::default()
    };
    let savepoints = store.savepoint_list(ns, &filter).await?;
    Ok(restore::select(&d, &savepoints))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PATCH body as the API reads it: typed, then split.
    fn split(v: Value) -> ApiResult<PatchPlan> {
        split_patch(from_value(v, "")?)
    }

    fn dep() -> Deployment {
        let spec: DeploymentSpec = serde_json::from_value(json!({
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}
        }))
        .unwrap();
        Deployment::new("default", "d", spec)
    }

    #[test]
    fn template_changes_bump_the_spec_version_and_nothing_else_does() {
        let d = dep();
        let p = |v: Value| apply_patch(&d, &split(v).unwrap().patch).unwrap();
        assert_eq!(
            p(json!({"spec": {"template": {"spec": {"parallelism": 2}}}})).spec_version(),
            2
        );
        assert_eq!(
            p(json!({"metadata": {"labels": {"a": "b"}}})).spec_version(),
            1
        );
        assert_eq!(p(json!({"spec": {"state": "RUNNING"}})).spec_version(), 1);
        // a client cannot set the version
        let mut ann = serde_json::Map::new();
        ann.insert(SPEC_VERSION_ANNOTATION.into(), json!("9"));
        assert_eq!(
            p(json!({"metadata": {"annotations": ann}})).spec_version(),
            1
        );
        assert_eq!(p(json!({})), d, "an empty patch changes nothing");
    }

    #[test]
    fn patch_shape_errors_name_the_field() {
        let f = |v: Value| match split(v) {
            Err(ApiError::InvalidField { field, .. } | ApiError::MalformedField { field, .. }) => {
                field
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(f(json!({"status": {"state": "RUNNING"}})), "status");
        assert_eq!(f(json!({"sepc": {}})), "sepc");
        assert_eq!(f(json!({"metadata": {"owner": "x"}})), "metadata.owner");
        assert_eq!(
            f(json!({"metadata": {"resourceVersion": "abc"}})),
            "metadata.resourceVersion"
        );
        assert_eq!(f(json!({"spec": 3})), "spec");
    }
}
