//! An upgrade's preflight (see `stateplane_model::plan::preflight`): asks Flink to plan the
//! deployment's template exactly as the next job would be submitted (the same program, parallelism
//! and configuration) and hands Flink's answer back to the planner; records a refusal.
//!
//! Planning has no effect on the running job. It puts the template's jar on the cluster (the same
//! content-addressed upload a start makes, so the start that follows reuses it) and runs the
//! program's main in the JobManager up to the submission.
//!
//! For the state check of a stateful upgrade (`stateplane_model::plan::upgrade_check`) a planned
//! template is planned a second time with `pipeline.operator-chaining.enabled: false`, so that every
//! operator's id is a vertex of the plan, and the running job's operator states are read
//! ([`super::upgrade_state`]). Both are facts for the planner; neither can fail the preflight.

use stateplane_flink::{FlinkClient, FlinkError, RunJarRequest};
use stateplane_model::plan::upgrade_check::StateCheckView;
use stateplane_model::plan::{FailureReason, PlannedVertex, PreflightView};
use stateplane_model::{EventName, JobId, JobSpec};

use super::context::{give_up, Ctx, Effect};
use super::start::job_configuration;
use crate::artifacts;
use crate::error::Error;

/// Plans the deployment's template; the answer is the effect's (a store failure is the only error).
pub(super) async fn plan_upgrade(x: &Ctx<'_>, job: JobId) -> Result<Effect, Error> {
    let view = preflight(x, x.client()?).await?;
    tracing::info!(%job, ?view, "planned the changed template before stopping the job");
    Ok(Effect {
        preflight: Some((x.d().spec_version(), view)),
        ..Effect::default()
    })
}

/// Flink's plan of the deployment's template (`x`'s deployment as it is, or with a change applied
/// for a preview), with the facts of the state check.
pub(crate) async fn preflight(x: &Ctx<'_>, client: &FlinkClient) -> Result<PreflightView, Error> {
    let template = &x.d().spec.template.spec;
    // `${NAME}` references resolved as for the submission, for this request only.
    let spec = JobSpec {
        artifact: template.artifact.clone(),
        flink_configuration: job_configuration(x),
        parallelism: template.parallelism,
        savepoint_location: None,
        savepoint_id: None,
        allow_non_restored_state: false,
        deployment_target_name: None,
    };
    let resolved = match crate::secret_refs::resolve(x, &x.d().metadata.namespace, &spec).await {
        Ok(r) => r,
        Err(crate::secret_refs::Unresolved::Refused(message)) => {
            return Ok(PreflightView::Refused { message })
        }
        Err(crate::secret_refs::Unresolved::Retry(e)) => return Err(e),
    };
    let mut artifact = spec.artifact;
    artifact.jar_uri = resolved.jar_uri;
    let mut request = RunJarRequest {
        parallelism: template.parallelism,
        flink_configuration: resolved.flink_configuration,
        ..RunJarRequest::default()
    };
    let mut stale = false;
    loop {
        let program = match artifacts::program(x.shared, client, &artifact, stale).await {
            Ok(p) => p,
            Err(Error::Artifact(e)) => {
                return Ok(PreflightView::Refused {
                    message: e.to_string(),
                })
            }
            Err(Error::Flink(e)) => return Ok(unreachable(e)),
            Err(e) => return Err(e),
        };
        request.entry_class = program.entry_class;
        request.program_args = program.args;
        return Ok(match client.plan_jar(&program.jar_id, &request).await {
            Ok(plan) => {
                let mut unchained = request.clone();
                unchained
                    .flink_configuration
                    .insert("pipeline.operator-chaining.enabled".into(), "false".into());
                let unchained = match client.plan_jar(&program.jar_id, &unchained).await {
                    Ok(p) => Some(vertices(p)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot plan the template without chaining");
                        None
                    }
                };
                let job = x.rows.current_job();
                let snapshot = super::upgrade_state::running_state(x, client, job).await?;
                PreflightView::Planned {
                    vertices: vertices(plan),
                    state: StateCheckView {
                        unchained,
                        snapshot,
                    },
                }
            }
            // The cluster lost the jar (it restarted): upload it again, once.
            Err(FlinkError::NotFound { .. }) if !stale => {
                stale = true;
                continue;
            }
            Err(e) if e.is_retryable() => unreachable(e),
            Err(FlinkError::Api { root_cause, .. }) => PreflightView::Refused {
                message: root_cause,
            },
            Err(e) => PreflightView::Refused {
                message: e.to_string(),
            },
        });
    }
}

fn vertices(plan: stateplane_flink::JobPlan) -> Vec<PlannedVertex> {
    plan.vertices
        .into_iter()
        .map(|v| PlannedVertex {
            id: v.id,
            parallelism: v.parallelism,
        })
        .collect()
}

fn unreachable(e: FlinkError) -> PreflightView {
    PreflightView::Unreachable {
        error: e.to_string(),
    }
}

/// The upgrade is refused (Flink cannot plan the template, or its graph cannot take the running
/// job's state): the event first, then the failure on the deployment with this spec version's
/// transition given up (so it is not planned again until the spec changes or the refusal is lifted).
pub(super) async fn upgrade_refused(
    x: &Ctx<'_>,
    job: JobId,
    reason: FailureReason,
    message: String,
) -> Result<Effect, Error> {
    let event = match reason {
        FailureReason::UpgradePreflightFailed => EventName::UpgradePreflightFailed,
        _ => EventName::UpgradeRefused,
    };
    x.event(
        event,
        format!("Not upgrading job {job}: {message}"),
        Some(job),
        None,
    )
    .await?;
    x.write_deployment(|d| {
        give_up(d);
        d.status.failure = Some(reason.failure(message));
    })
    .await?;
    Ok(Effect::wrote())
}
