//! `POST /api/v1/namespaces/{namespace}/deployments/{deploymentId}/upgrade-preview`: what a change
//! would do to the deployment's state, without making it.

use axum::extract::State;
use stateplane_model::plan::upgrade_check::UpgradePreview;

use crate::app::upgrade_preview as app;
use crate::bodies::DeploymentPatch;
use crate::error::{ApiResult, ErrorBody};
use crate::format::{Input, Reply};
use crate::params::ApiPath;
use crate::AppState;

/// The upgrade preview of a change: the body is the change, exactly as for a PATCH of the deployment
/// (JSON merge patch, JSON or YAML, checked by the same rules), and nothing is changed. When the
/// change touches `spec.template`, Flink plans the new template (also with chaining off, so every
/// operator id is seen) and the plan is compared with the operator states the upgrade would restore
/// (for a running job: its newest checkpoint or savepoint; otherwise the snapshot the next start
/// restores). Per operator: RESTORED, DROPPED, SKIPPED, NEW, INCOMPATIBLE or UNKNOWN, with the reason;
/// the overall verdict; and the decision stateplane would take (PROCEEDS, REFUSED — the running job
/// would be kept —, FAILS_AT_START, NO_UPGRADE, NOT_CHECKED). Editors may ask (the question runs the
/// new program's main in the JobManager).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}/upgrade-preview", tag = "deployments", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment id (UUID) or name")),
    request_body = DeploymentPatch,
    responses((status = 200, description = "What the change would do", body = UpgradePreview),
        (status = 409, description = "SAVEPOINTS_NOT_CONFIGURED and the other refusals of a PATCH", body = ErrorBody),
        (status = 503, description = "PREVIEW_UNAVAILABLE: Flink or storage did not answer (the message says why)", body = ErrorBody)))]
pub async fn deployment_upgrade_preview(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    Input(body): Input<DeploymentPatch>,
) -> ApiResult<Reply> {
    Reply::ok(&app::preview(&s, &ns, &id, body).await?)
}
