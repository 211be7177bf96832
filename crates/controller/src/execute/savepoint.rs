//! Savepoints: triggering (a stop's savepoint is sent as a stop-with-savepoint), stopping a job with
//! a savepoint, and recording the outcome Flink reports.

use stateplane_flink::{SavepointTrigger, StopWithSavepoint, TriggerId};
use stateplane_model::plan::{FailureReason, SavepointView, StopFailed, STOP_REASON_ANNOTATION};
use stateplane_model::{
    now, paths, DeploymentState, EventName, Job, JobId, JobState, Savepoint, SavepointFormat,
    SavepointId, SavepointOrigin, SavepointState, SPEC_VERSION_ANNOTATION,
};
use tracing::debug;

use super::context::{count_attempt, Ctx, Effect};
use super::status;
use crate::error::Error;
use crate::observe::flink_job_id;
use crate::{crash, metrics};

/// Flink's trigger request for a savepoint row (its id is the trigger id); None without a target
/// directory.
fn trigger_request(sp: &Savepoint) -> Option<SavepointTrigger> {
    Some(SavepointTrigger {
        target_directory: sp.spec.savepoint_location.clone()?,
        format: match sp.spec.format_type {
            Some(SavepointFormat::Native) => stateplane_flink::SavepointFormat::Native,
            _ => stateplane_flink::SavepointFormat::Canonical,
        },
        trigger_id: TriggerId::from_uuid(sp.metadata.id.uuid()),
        cancel_job: false,
    })
}

/// Sends the savepoint's trigger (or, for a stop's savepoint, the stop). What Flink answers is the
/// effect: accepted (in progress) or refused; no answer is an error (the pass is retried, and the
/// trigger id makes the repeat the same operation).
pub(super) async fn trigger(x: &Ctx<'_>, id: SavepointId) -> Result<Effect, Error> {
    let sp = x.savepoint(id)?;
    match sp.metadata.job_id.and_then(|j| x.rows.job(j)) {
        Some(job) => send(x, sp, job).await,
        None => Ok(refused(id, "its job is unknown".into())),
    }
}

fn refused(id: SavepointId, cause: String) -> Effect {
    Effect {
        savepoint: Some((id, SavepointView::Refused { cause })),
        ..Effect::default()
    }
}

async fn send(x: &Ctx<'_>, sp: &Savepoint, job: &Job) -> Result<Effect, Error> {
    let id = sp.metadata.id;
    let Some(request) = trigger_request(sp) else {
        return Ok(refused(id, "it has no target directory".into()));
    };
    let client = x.client()?;
    let flink_id = flink_job_id(job);
    let result = if sp.metadata.origin == SavepointOrigin::UserRequest {
        client.trigger_savepoint(&flink_id, &request).await
    } else {
        let stop = StopWithSavepoint {
            target_directory: request.target_directory,
            format: request.format,
            trigger_id: request.trigger_id,
            drain: false,
        };
        client.stop_with_savepoint(&flink_id, &stop).await
    };
    match result {
        Ok(_) => {
            debug!(savepoint = %id, "savepoint triggered");
            x.shared.mark_triggered(id);
            crash::point("savepoint.after_trigger");
            Ok(Effect {
                savepoint: Some((id, SavepointView::InProgress)),
                ..Effect::default()
            })
        }
        Err(e) if e.is_retryable() => Err(e.into()),
        Err(e) => {
            metrics::flink_error("refused");
            Ok(refused(id, e.to_string()))
        }
    }
}

/// Records a STARTED savepoint of this origin and the job's TERMINATING state (the write-ahead
/// intent), sends the stop at once (this pass saw the job RUNNING), then the deployment's status and
/// the event follow: they explain, they are not the intent.
pub(super) async fn stop_with_savepoint(
    x: &Ctx<'_>,
    job: JobId,
    origin: SavepointOrigin,
) -> Result<Effect, Error> {
    let d = x.d();
    let job = x.job(job)?;
    let blob = x.shared.config.blob_storage_uri.as_deref();
    let mut sp = Savepoint::new(
        &d.metadata.namespace,
        d.metadata.id,
        origin,
        SavepointState::Started,
        None,
    );
    let Some(target) = paths::savepoint_target_dir(d, blob, sp.metadata.id) else {
        return status::savepoints_not_configured(x, job.metadata.id, "stop with savepoint").await;
    };
    sp.spec.savepoint_location = Some(target.clone());
    sp.spec.format_type = Some(SavepointFormat::Canonical);
    sp.metadata.job_id = Some(job.metadata.id);
    let spec_version = job.spec_version().unwrap_or_else(|| d.spec_version());
    sp.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), spec_version.to_string());
    x.shared
        .store
        .savepoint_create(&sp)
        .await
        .map_err(Error::Store)?;
    crash::point("stop.after_savepoint_row");
    let job = x
        .write_job(job, |j| {
            j.status.state = JobState::Terminating;
            j.metadata.annotations.remove(STOP_REASON_ANNOTATION);
        })
        .await?;
    crash::point("stop.after_intent");
    // Not answered: the intent is written, and the next pass sends the stop again.
    let mut effect = send(x, &sp, &job).await?;
    effect.wrote = true;
    if !matches!(effect.savepoint, Some((_, SavepointView::InProgress))) {
        // Flink refused: the planner fails the savepoint, and the job, the deployment and the events
        // say so.
        return Ok(effect);
    }
    x.write_deployment(|d| d.status.state = DeploymentState::Transitioning)
        .await?;
    let (name, msg) = match origin {
        SavepointOrigin::Suspend => (
            EventName::CreatingASavepointBeforeSuspension,
            format!(
                "Suspending: stopping job {} with savepoint {} into {target}",
                job.metadata.id, sp.metadata.id
            ),
        ),
        _ => (
            EventName::UsingAnUpgradeStrategy,
            format!(
                "STATEFUL upgrade from spec version {spec_version} to {}: stopping job {} with savepoint {} into {target}",
                d.spec_version(),
                job.metadata.id,
                sp.metadata.id
            ),
        ),
    };
    x.event(name, msg, Some(job.metadata.id), Some(sp.metadata.id))
        .await?;
    Ok(effect)
}

pub(super) async fn complete(
    x: &Ctx<'_>,
    id: SavepointId,
    location: String,
) -> Result<Effect, Error> {
    let sp = x.savepoint(id)?;
    x.write_savepoint(sp, |s| {
        s.spec.savepoint_location = Some(location.clone());
        s.status.state = SavepointState::Completed;
        s.status.failure = None;
    })
    .await?;
    crash::point("savepoint.after_completed");
    let took = (now() - sp.metadata.created_at).num_milliseconds();
    metrics::savepoint_finished(
        sp.metadata.origin.as_str(),
        "completed",
        took as f64 / 1000.0,
    );
    let job = sp.metadata.job_id;
    let of_job = job.map(|j| format!(" of job {j}")).unwrap_or_default();
    x.event(
        EventName::SavepointCompleted,
        format!(
            "Savepoint {} ({}){of_job} completed at {location} in {took} ms",
            sp.metadata.id, sp.metadata.origin
        ),
        job,
        Some(sp.metadata.id),
    )
    .await?;
    if sp.metadata.origin != SavepointOrigin::UserRequest {
        x.event(
            EventName::FoundACompletedSavepointReadyForSuspension,
            format!(
                "Waiting for job {} to finish after savepoint {}",
                job.map(|j| j.to_string()).unwrap_or_default(),
                sp.metadata.id
            ),
            job,
            Some(sp.metadata.id),
        )
        .await?;
    }
    Ok(Effect::wrote())
}

/// Records a failed savepoint: the savepoint FAILED and its event, then for a stop's savepoint the
/// job STARTED again (Flink keeps it running) and, last, the attempt counted on the deployment (the
/// suspend or upgrade is retried within maxSavepointCreationAttempts, never turned into a stop without
/// state). Whoever sees the deployment's count sees the savepoint FAILED and the events.
pub(super) async fn fail(
    x: &Ctx<'_>,
    id: SavepointId,
    cause: String,
    stop: Option<StopFailed>,
) -> Result<Effect, Error> {
    let sp = x.savepoint(id)?;
    let job_id = sp.metadata.job_id;
    x.write_savepoint(sp, |s| {
        s.status.state = SavepointState::Failed;
        s.status.failure = Some(FailureReason::SavepointFailed.failure(cause.clone()));
    })
    .await?;
    let took = (now() - sp.metadata.created_at).num_milliseconds();
    metrics::savepoint_finished(sp.metadata.origin.as_str(), "failed", took as f64 / 1000.0);
    x.event(
        EventName::AnUnrecoverableFailureWhileTakingASavepoint,
        format!(
            "Savepoint {} ({}) failed: {cause}",
            sp.metadata.id, sp.metadata.origin
        ),
        job_id,
        Some(sp.metadata.id),
    )
    .await?;
    let Some(stop) = stop else {
        return Ok(Effect::wrote());
    };
    if let Some(job) = stop.take_back {
        x.write_job(x.job(job)?, |j| j.status.state = JobState::Started)
            .await?;
    }
    let operation = stop.operation;
    if stop.gives_up {
        x.event(
            EventName::TooManyFailedSuspensionAttempts,
            format!(
                "Gave up the {operation} after {} failed savepoints; job {} keeps running. Last error: {cause}",
                x.d().transition().savepoint_attempts + 1,
                job_id.map(|j| j.to_string()).unwrap_or_default()
            ),
            job_id,
            Some(sp.metadata.id),
        )
        .await?;
    }
    x.write_deployment(|d| {
        let gave_up = count_attempt(d, true);
        d.status.state = DeploymentState::Running;
        let words = if gave_up {
            "giving up; the job keeps running"
        } else {
            "will retry; the job keeps running"
        };
        d.status.failure = Some(FailureReason::SavepointFailed.failure(format!(
            "{operation} failed: savepoint {id} failed: {cause}; {words}"
        )));
    })
    .await?;
    Ok(Effect::wrote())
}
