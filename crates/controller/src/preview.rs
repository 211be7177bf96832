//! The upgrade preview: what a change of a deployment would do to its state, answered without
//! changing anything (`POST …/deployments/{id}/upgrade-preview` calls [`UpgradePreviewer::preview`]).
//!
//! It runs the upgrade's own preflight (`crate::execute::preflight`) on the deployment with the
//! change applied — the same plan of the new template (with the same program, parallelism, resolved
//! configuration), the same plan without chaining, the same reading of the running job's newest
//! snapshot — and the planner's own rules (`stateplane_model::plan::upgrade_check::preview`), so
//! the preview says what the upgrade would then do.
//!
//! Why the API may ask Flink here, though it never drives jobs: every request is a read. Planning
//! (`POST /jars/{id}/plan`) runs the program's main up to the submission and leaves nothing behind
//! (no job, no files); the jar upload it may need is the content-addressed one the start would make
//! anyway (reused, never duplicated); checkpoint statistics and `_metadata` are only read. No row is
//! written, so it cannot race the controller. Routing the question through the controller (a
//! request row, an answer row) would only add latency and state to an answer that changes nothing.

use std::sync::Arc;
use std::time::Duration;

use stateplane_model::plan::upgrade_check::{self, PreviewUnavailable, UpgradePreview};
use stateplane_model::plan::PreflightView;
use stateplane_model::Deployment;
use stateplane_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::execute::{preflight, Ctx};
use crate::observe::{rows, Clients};
use crate::shared::{ControllerConfig, Shared};

/// The longest a preview may take (two plans and one `_metadata` read; the first SQL plan on a fresh
/// JobManager takes ~15 s).
const PREVIEW_TIMEOUT: Duration = Duration::from_secs(120);

/// Answers upgrade previews; cheap to clone, usable from any replica (it writes nothing).
#[derive(Clone)]
pub struct UpgradePreviewer {
    shared: Arc<Shared>,
}

impl UpgradePreviewer {
    pub fn new(store: Arc<dyn Store>, config: ControllerConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(store, config, CancellationToken::new())),
        }
    }

    /// The preview of `changed`: the stored deployment with the change applied (same id; its spec
    /// version bumped when the template changed).
    pub async fn preview(&self, changed: Deployment) -> Result<UpgradePreview, PreviewUnavailable> {
        match tokio::time::timeout(PREVIEW_TIMEOUT, self.answer(changed)).await {
            Ok(r) => r.map_err(|e| PreviewUnavailable(e.to_string())),
            Err(_) => Err(PreviewUnavailable(format!(
                "no answer within {} s",
                PREVIEW_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn answer(&self, changed: Deployment) -> Result<UpgradePreview, Error> {
        let shared = self.shared.as_ref();
        let ns = changed.metadata.namespace.clone();
        let Some(mut rows) = rows(shared, &ns, changed.metadata.id).await? else {
            return Err(Error::Conflict("the deployment is gone".into()));
        };
        if changed.spec_version() == rows.deployment.spec_version() {
            return Ok(upgrade_check::no_upgrade());
        }
        rows.deployment = changed;
        // The cluster the plan is asked of: the running job's, else the one a start would use.
        let client = match rows.current_job() {
            Some(job) => Clients::default()
                .job(shared, job)
                .await?
                .map_err(Error::Conflict)?,
            None => {
                let d = &rows.deployment;
                let name = d
                    .spec
                    .deployment_target_name
                    .as_deref()
                    .unwrap_or("default");
                let target = match shared.store.target_get(&ns, name).await {
                    Ok(t) => t,
                    Err(StoreError::NotFound { .. }) => {
                        return Err(Error::Conflict(format!(
                            "deployment target '{name}' does not exist in namespace '{ns}'"
                        )))
                    }
                    Err(e) => return Err(Error::Store(e)),
                };
                shared.flink(&target.spec.flink_session_cluster.rest_url)?
            }
        };
        let x = Ctx {
            shared,
            rows: &rows,
            client: Some(&client),
        };
        let running = rows.current_job().is_some();
        match preflight::preflight(&x, &client).await? {
            PreflightView::Planned { vertices, state } => Ok(upgrade_check::preview(
                &rows.deployment,
                &vertices,
                &state,
                running,
            )),
            PreflightView::Refused { message } => Ok(upgrade_check::plan_refused(&message)),
            PreflightView::Unreachable { error } => {
                Err(Error::Conflict(format!("Flink did not answer: {error}")))
            }
        }
    }
}
