//! `${NAME}` references of a job, resolved right before its submission to Flink and used only for
//! that request: the job row, events, status messages and logs keep the references, never values.
//!
//! A reference that cannot be resolved (the secret value was deleted since the deployment was
//! accepted, the server has no key, the key is not the one it was sealed with) refuses the submission
//! with a reason naming the field and the secret: the existing refusal path, marked permanent (trying
//! again cannot help before the secret value or the deployment changes), so the planner makes the
//! deployment FAILED at once. A store outage is retried instead.

use stateplane_model::secret_value::{parse_references, Piece};
use stateplane_model::JobSpec;
use stateplane_secrets::{resolve_job, ResolveError, ResolvedJob};
use stateplane_store::StoreError;

use crate::error::Error;
use crate::execute::Ctx;

/// Why a job's references were not resolved.
pub(crate) enum Unresolved {
    /// The submission is refused with this reason (no value in it).
    Refused(String),
    /// Reading the store failed: the pass is retried.
    Retry(Error),
}

fn has_references(spec: &JobSpec) -> bool {
    std::iter::once(&spec.artifact.jar_uri)
        .chain(spec.flink_configuration.values())
        .any(|t| {
            parse_references(t)
                .map(|p| p.iter().any(|p| matches!(p, Piece::Reference(_))))
                .unwrap_or(true)
        })
}

/// The jar URI and configuration of a job (or of the template an upgrade's preflight plans) in
/// `namespace`, with every reference replaced by its value.
pub(crate) async fn resolve(
    x: &Ctx<'_>,
    namespace: &str,
    spec: &JobSpec,
) -> Result<ResolvedJob, Unresolved> {
    let unchanged = || ResolvedJob {
        flink_configuration: spec.flink_configuration.clone(),
        jar_uri: spec.artifact.jar_uri.clone(),
    };
    if !has_references(spec) {
        return Ok(unchanged());
    }
    let Some(cipher) = x.shared.config.secrets.as_deref() else {
        return Err(Unresolved::Refused(
            "the job refers to secret values (${NAME}) but this server has no secret key \
             (STATEPLANE_SECRET_KEY or --secret-key-file)"
                .into(),
        ));
    };
    match resolve_job(x.shared.store.as_ref(), cipher, namespace, spec).await {
        Ok(r) => Ok(r),
        Err(ResolveError::Store(e)) if matches!(e, StoreError::Backend(_)) => {
            Err(Unresolved::Retry(Error::Store(e)))
        }
        Err(e) => Err(Unresolved::Refused(e.to_string())),
    }
}
