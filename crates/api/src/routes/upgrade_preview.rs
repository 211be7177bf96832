//! `POST /api/v1/namespaces/{namespace}/deployments/{deploymentId}/upgrade-preview` (of a PATCH) and
//! `…/upgrade-preview/replace` (of a PUT): what a change would do to the deployment's state, without
//! making it.

use axum::extract::State;
use stateplane_model::plan::upgrade_check::UpgradePreview;

use crate::app::upgrade_preview as app;
use crate::bodies::DeploymentPatch;
use crate::compat_bodies::DeploymentPut;
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

/// The upgrade preview of a whole replacement: the body is the deployment exactly as for a PUT of it
/// (metadata and spec, JSON or YAML; a key left out is removed, `status` is ignored, the namespace's
/// deployment defaults are merged under `spec`; `metadata.resourceVersion` stale → 409), checked by
/// the same rules and answered as the preview of a PATCH, and nothing is changed. The deployment must
/// exist (a PUT that would create one has nothing to preview). Editors may ask.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/deployments/{deploymentId}/upgrade-preview/replace", tag = "deployments", security(("bearer" = ["editor"])),
    params(("namespace" = String, Path, description = "Namespace name"),
        ("deploymentId" = String, Path, description = "Deployment id (UUID) or name")),
    request_body = DeploymentPut,
    responses((status = 200, description = "What the replacement would do", body = UpgradePreview),
        (status = 409, description = "CONFLICT (metadata.resourceVersion is stale), SAVEPOINTS_NOT_CONFIGURED and the other refusals of a PUT", body = ErrorBody),
        (status = 503, description = "PREVIEW_UNAVAILABLE: Flink or storage did not answer (the message says why)", body = ErrorBody)))]
pub async fn deployment_replace_preview(
    State(s): State<AppState>,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    Input(body): Input<DeploymentPut>,
) -> ApiResult<Reply> {
    Reply::ok(&app::replace_preview(&s, &ns, &id, body).await?)
}
