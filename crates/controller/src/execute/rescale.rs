//! Rescaling a running job in place, as the planner decided (`stateplane_model::plan::rescale`).
//!
//! Crash safety (DESIGN.md): the intent (spec version, per-vertex parallelism, since when) is
//! committed on the job row before the resource requirements are sent, and the planner matches it
//! against what Flink holds: requirements that differ are sent again (the same PUT twice is one
//! change), so a kill at any line leaves either nothing sent (the intent is re-sent) or the change
//! under way in the same Flink job. Nothing here creates a job or a savepoint, so there is never a
//! second job. The job row takes the template's parallelism and spec version only once Flink runs
//! every vertex at it (`complete`), so a savepoint taken afterwards carries the version the job runs.

use std::collections::BTreeMap;

use stateplane_model::plan::rescale::{
    Intent, RESCALE_ANNOTATION, RESCALE_REFUSED_ANNOTATION, VERTEX_OVERRIDES_KEY,
    VERTEX_PARALLELISM_ANNOTATION,
};
use stateplane_model::{
    now, DeploymentState, DeploymentStatusRunning, EventName, JobId, SPEC_VERSION_ANNOTATION,
};

use super::context::{Ctx, Effect};
use crate::crash;
use crate::error::Error;
use crate::observe::flink_job_id;

fn describe(parallelism: &BTreeMap<String, u32>) -> String {
    parallelism
        .iter()
        .map(|(v, p)| format!("{v}={p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes the intent (unless the row has it already), then sends the requirements. A refusal is the
/// planner's ([`Effect::rescale_refused`]); a Flink that does not answer is an error (the pass is
/// retried, and the intent makes the repeat the same change).
pub(super) async fn start(
    x: &Ctx<'_>,
    job: JobId,
    parallelism: BTreeMap<String, u32>,
) -> Result<Effect, Error> {
    let job = x.job(job)?;
    let d = x.d();
    let version = d.spec_version();
    let client = x.client()?;
    let recorded =
        Intent::of(job).filter(|i| i.spec_version == version && i.parallelism == parallelism);
    let first = recorded.is_none();
    if first {
        let intent = Intent {
            spec_version: version,
            parallelism: parallelism.clone(),
            since: now(),
        };
        let json = serde_json::to_string(&intent)
            .map_err(|e| Error::Conflict(format!("cannot encode the rescale intent: {e}")))?;
        x.write_job(job, |j| {
            j.metadata
                .annotations
                .insert(RESCALE_ANNOTATION.into(), json);
        })
        .await?;
        crash::point("rescale.after_intent");
        x.event(
            EventName::RescalingInPlace,
            format!(
                "Rescaling job {} in place to spec version {version} ({}): no savepoint, the same Flink job",
                job.metadata.id,
                describe(&parallelism)
            ),
            Some(job.metadata.id),
            None,
        )
        .await?;
        if d.status.state != DeploymentState::Transitioning {
            x.write_deployment(|d| d.status.state = DeploymentState::Transitioning)
                .await?;
        }
    }
    match client
        .set_resource_requirements(&flink_job_id(job), &parallelism)
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_retryable() => return Err(e.into()),
        Err(e) => {
            return Ok(Effect {
                wrote: true,
                rescale_refused: Some((job.metadata.id, e.to_string())),
                ..Effect::default()
            })
        }
    }
    crash::point("rescale.after_requirements");
    Ok(Effect {
        wrote: true,
        rescale_sent: true,
        ..Effect::default()
    })
}

/// Flink runs every vertex at the intended parallelism: the job row takes the template's parallelism
/// (and vertex overrides) and spec version, then the deployment is RUNNING.
pub(super) async fn complete(x: &Ctx<'_>, job: JobId) -> Result<Effect, Error> {
    let job = x.job(job)?;
    let d = x.d();
    let version = d.spec_version();
    let from = job.spec_version().unwrap_or(0);
    let template = &d.spec.template.spec;
    let intent = Intent::of(job);
    let described = intent
        .as_ref()
        .map(|i| describe(&i.parallelism))
        .unwrap_or_default();
    let per_vertex = intent.and_then(|i| serde_json::to_string(&i.parallelism).ok());
    x.write_job(job, |j| {
        j.spec.parallelism = template.parallelism;
        match template.flink_configuration.get(VERTEX_OVERRIDES_KEY) {
            Some(v) => {
                j.spec
                    .flink_configuration
                    .insert(VERTEX_OVERRIDES_KEY.into(), v.clone());
            }
            None => {
                j.spec.flink_configuration.remove(VERTEX_OVERRIDES_KEY);
            }
        }
        j.metadata
            .annotations
            .insert(SPEC_VERSION_ANNOTATION.into(), version.to_string());
        j.metadata.annotations.remove(RESCALE_ANNOTATION);
        j.metadata.annotations.remove(RESCALE_REFUSED_ANNOTATION);
        if let Some(p) = per_vertex {
            j.metadata
                .annotations
                .insert(VERTEX_PARALLELISM_ANNOTATION.into(), p);
        }
    })
    .await?;
    crash::point("rescale.after_job_spec");
    let id = job.metadata.id;
    x.write_deployment(|d| {
        d.status.state = DeploymentState::Running;
        // The same job goes on: its conditions stay.
        let conditions = (d.status.running.as_ref())
            .filter(|r| r.job_id == id)
            .map(|r| r.conditions.clone())
            .unwrap_or_default();
        d.status.running = Some(DeploymentStatusRunning {
            job_id: id,
            transition_time: now(),
            conditions,
        });
        d.status.failure = None;
    })
    .await?;
    x.event(
        EventName::RescaledInPlace,
        format!(
            "Job {id} rescaled in place from spec version {from} to {version}: every vertex runs at the new parallelism ({described})"
        ),
        Some(id),
        None,
    )
    .await?;
    x.event(
        EventName::StateTransitionIsCompleted,
        format!("Deployment is RUNNING with job {id} (spec version {version})"),
        Some(id),
        None,
    )
    .await?;
    Ok(Effect::wrote())
}

/// Records that this spec version is not rescaled in place, and says why; the planner then applies
/// the upgrade strategy.
pub(super) async fn fallback(x: &Ctx<'_>, job: JobId, reason: String) -> Result<Effect, Error> {
    let job = x.job(job)?;
    let d = x.d();
    let version = d.spec_version();
    x.write_job(job, |j| {
        j.metadata
            .annotations
            .insert(RESCALE_REFUSED_ANNOTATION.into(), version.to_string());
        j.metadata.annotations.remove(RESCALE_ANNOTATION);
    })
    .await?;
    x.event(
        EventName::RescaleInPlaceNotPossible,
        format!(
            "Not rescaling job {} in place to spec version {version}: {reason}; using the {} upgrade strategy",
            job.metadata.id, d.spec.upgrade_strategy.kind
        ),
        Some(job.metadata.id),
        None,
    )
    .await?;
    Ok(Effect::wrote())
}
