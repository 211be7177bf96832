//! Secret values (`…/secret-values[/{name}]`, Ververica's shape): credentials a deployment refers to as
//! `${NAME}` in `flinkConfiguration` values and `jarUri`.
//!
//! Guarantees: the value is sealed with the server's key ([`SecretCipher`]) before it reaches the store
//! and is never part of an answer (the resource has no value member); a deployment may refer only to
//! secret values that exist ([`check_references`], 422 at create, PATCH and PUT). Deleting one a
//! deployment refers to is allowed (as in Ververica); that deployment's next start then fails with a
//! reason naming the secret. Who may call these is declared on the routes (owner of the namespace).

use stateplane_model::secret_value::{deployment_references, validate_secret_name};
use stateplane_model::{DeploymentSpec, SecretValue, SecretValueKind};
use stateplane_secrets::SecretCipher;
use stateplane_store::{Store, StoreError, StoredSecretValue};

use super::{ensure_namespace, namespace_not_found, or_not_found, stale};
use crate::compat_bodies::{SecretValueBody, SecretValueSpecBody};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// 422 for the first `${NAME}` in `spec` whose secret value does not exist in `ns`.
pub async fn check_references(store: &dyn Store, ns: &str, spec: &DeploymentSpec) -> ApiResult<()> {
    for r in deployment_references(spec)? {
        match store.secret_value_get(ns, &r.name).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::invalid(
                    r.field,
                    format!(
                        "refers to secret value '{}', which does not exist in namespace '{ns}'; create it first \
                         (POST /api/v1/namespaces/{ns}/secret-values) or change the reference",
                        r.name
                    ),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The server's cipher, or 503-like refusal when it runs without a secret key.
fn cipher(state: &AppState) -> ApiResult<&SecretCipher> {
    state.secrets.as_deref().ok_or_else(|| {
        ApiError::Refused(
            "this server has no secret key, so it cannot keep secret values: start it with \
             STATEPLANE_SECRET_KEY or --secret-key-file"
                .into(),
        )
    })
}

fn kind(spec: &SecretValueSpecBody) -> ApiResult<()> {
    match &spec.kind {
        None => Ok(()),
        Some(k) if k.eq_ignore_ascii_case("PLAIN") => Ok(()),
        Some(k) => Err(ApiError::invalid(
            "spec.kind",
            format!("is '{k}'; the only kind is PLAIN"),
        )),
    }
}

pub async fn list(
    store: &dyn Store,
    ns: &str,
    selector: Option<&stateplane_model::label_selector::LabelSelector>,
) -> ApiResult<Vec<SecretValue>> {
    ensure_namespace(store, ns).await?;
    Ok(store
        .secret_value_list(ns)
        .await?
        .into_iter()
        .filter(|s| selector.is_none_or(|sel| sel.matches(&s.metadata.labels)))
        .collect())
}

pub async fn get(store: &dyn Store, ns: &str, name: &str) -> ApiResult<SecretValue> {
    ensure_namespace(store, ns).await?;
    Ok(store
        .secret_value_get(ns, name)
        .await
        .map_err(or_not_found("secret value", name, ns))?
        .resource)
}

pub async fn create(state: &AppState, ns: &str, body: SecretValueBody) -> ApiResult<SecretValue> {
    let store = state.store.as_ref();
    let cipher = cipher(state)?;
    let name = super::required("metadata.name", body.metadata.name)?;
    validate_secret_name("metadata.name", &name)?;
    kind(&body.spec)?;
    let value = super::required("spec.value", body.spec.value)?;
    ensure_namespace(store, ns).await?;
    let mut resource = SecretValue::new(ns, &name);
    resource.spec.kind = SecretValueKind::Plain;
    resource.metadata.labels = body.metadata.labels;
    resource.metadata.annotations = body.metadata.annotations;
    let sealed = cipher
        .seal(ns, &name, &value)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    store
        .secret_value_create(&StoredSecretValue { resource, sealed })
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists { .. } => ApiError::AlreadyExists {
                kind: "secret value",
                name: name.clone(),
            },
            StoreError::NotFound { .. } => namespace_not_found(ns),
            e => e.into(),
        })?;
    get(store, ns, &name).await
}

/// A new value and/or labels and annotations; with `metadata.resourceVersion`, refused (409) unless
/// it is the current one.
pub async fn patch(
    state: &AppState,
    ns: &str,
    name: &str,
    body: SecretValueBody,
) -> ApiResult<SecretValue> {
    let store = state.store.as_ref();
    let cipher = cipher(state)?;
    kind(&body.spec)?;
    if let Some(given) = body.metadata.name.as_deref().filter(|n| *n != name) {
        return Err(ApiError::invalid(
            "metadata.name",
            format!("is '{given}' but the path names '{name}'; a secret value cannot be renamed"),
        ));
    }
    ensure_namespace(store, ns).await?;
    let mut current = store
        .secret_value_get(ns, name)
        .await
        .map_err(or_not_found("secret value", name, ns))?;
    let actual = current.resource.metadata.resource_version;
    if let Some(expected) = body.metadata.resource_version.filter(|e| *e != actual) {
        return Err(stale("secret value", name, expected, actual));
    }
    if !body.metadata.labels.is_empty() {
        current.resource.metadata.labels = body.metadata.labels;
    }
    if !body.metadata.annotations.is_empty() {
        current.resource.metadata.annotations = body.metadata.annotations;
    }
    if let Some(value) = body.spec.value {
        current.sealed = cipher
            .seal(ns, name, &value)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    store
        .secret_value_update(&current)
        .await
        .map_err(|e| match e {
            StoreError::Conflict {
                expected, actual, ..
            } => stale("secret value", name, expected, actual),
            e => or_not_found("secret value", name, ns)(e),
        })
}

pub async fn delete(store: &dyn Store, ns: &str, name: &str) -> ApiResult<SecretValue> {
    let s = get(store, ns, name).await?;
    store
        .secret_value_delete(ns, name)
        .await
        .map_err(or_not_found("secret value", name, ns))?;
    Ok(s)
}
