//! The upgrade preview: what a deployment patch, or a whole replacement (a PUT), would do to the
//! running job's state, answered without changing anything.
//!
//! The change is read and checked by the same code as the PATCH or the PUT it previews (same body,
//! same rules, same 4xx answers, `resourceVersion` included), then nothing is written: the
//! deployment as the change would leave it goes to the server's previewer ([`PreviewFn`], the
//! controller's `UpgradePreviewer`), which asks Flink to plan the new template and compares the plan
//! with the state the upgrade would restore. The API never drives jobs; this is the one place it
//! lets a question reach Flink, and only read-only ones (the previewer's module docs say why that is
//! safe). A change that leaves `spec.template` alone needs no restart and is answered here, without
//! Flink.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use stateplane_model::plan::upgrade_check::{self, PreviewUnavailable, UpgradePreview};
use stateplane_model::Deployment;

use crate::bodies::DeploymentPatch;
use crate::compat_bodies::DeploymentPut;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The previewer's answer, to await.
pub type PreviewFuture =
    Pin<Box<dyn Future<Output = Result<UpgradePreview, PreviewUnavailable>> + Send>>;

/// Answers the preview of the stored deployment changed to the given one (same id).
pub type PreviewFn = Arc<dyn Fn(Deployment) -> PreviewFuture + Send + Sync>;

/// The preview of PATCHing deployment `id_or_name` with `body`.
pub async fn preview(
    s: &AppState,
    ns: &str,
    id_or_name: &str,
    body: DeploymentPatch,
) -> ApiResult<UpgradePreview> {
    let blob = s.config.blob_storage_uri.as_deref();
    let (current, next) =
        super::deployments::patch_preview(s.store.as_ref(), blob, ns, id_or_name, body).await?;
    answer(s, &current, next).await
}

/// The preview of a PUT replacing deployment `id_or_name` (which must exist) with `body`.
pub async fn replace_preview(
    s: &AppState,
    ns: &str,
    id_or_name: &str,
    body: DeploymentPut,
) -> ApiResult<UpgradePreview> {
    let blob = s.config.blob_storage_uri.as_deref();
    let (current, next) =
        super::upsert::replace_preview(s.store.as_ref(), blob, ns, id_or_name, body).await?;
    answer(s, &current, next).await
}

/// NO_UPGRADE when the spec version stays (the template is unchanged), else the previewer's answer.
async fn answer(s: &AppState, current: &Deployment, next: Deployment) -> ApiResult<UpgradePreview> {
    if next.spec_version() == current.spec_version() {
        return Ok(upgrade_check::no_upgrade());
    }
    let Some(previewer) = &s.upgrade_preview else {
        return Err(ApiError::PreviewUnavailable(
            "this server has no previewer (it runs without a controller)".into(),
        ));
    };
    previewer(next)
        .await
        .map_err(|PreviewUnavailable(why)| ApiError::PreviewUnavailable(why))
}
