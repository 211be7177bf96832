//! The upgrade preview: what a deployment patch would do to the running job's state, answered without
//! changing anything.
//!
//! The patch is read and checked exactly as a PATCH would be (same body, same rules, same 4xx
//! answers), then nothing is written: the deployment as the patch would leave it goes to the
//! server's previewer ([`PreviewFn`], the controller's `UpgradePreviewer`), which asks Flink to plan
//! the new template and compares the plan with the state the upgrade would restore. The API never
//! drives jobs; this is the one place it lets a question reach Flink, and only read-only ones (the
//! previewer's module docs say why that is safe). A change that leaves `spec.template` alone needs
//! no restart and is answered here, without Flink.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use stateplane_model::plan::upgrade_check::{self, PreviewUnavailable, UpgradePreview};
use stateplane_model::Deployment;

use crate::bodies::DeploymentPatch;
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
        super::deployments::patched(s.store.as_ref(), blob, ns, id_or_name, body).await?;
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
