//! Starting jobs: the Job row first (its id is the Flink job id), then the submission; a refused
//! submission comes back to the planner; a job whose tasks all run is marked STARTED.

use std::collections::BTreeMap;

use stateplane_flink::{ClaimMode, FlinkClient, FlinkError, RunJarRequest};
use stateplane_model::plan::{FailureReason, Refusal};
use stateplane_model::restore::RestoreDecision;
use stateplane_model::{
    now, paths, ArtifactKind, DeploymentState, DeploymentStatusRunning, EventName, Job, JobId,
    JobSpec, JobState, JobStatusStarted, SPEC_VERSION_ANNOTATION,
};
use tracing::{info, warn};

use super::context::{count_attempt, give_up, Ctx, Effect};
use crate::error::Error;
use crate::observe::flink_job_id;
use crate::{artifacts, crash};

/// The Flink configuration a new job of this deployment runs with: the template's, plus the
/// directories derived from blob storage where the template sets none.
pub(super) fn job_configuration(x: &Ctx<'_>) -> BTreeMap<String, String> {
    let d = x.d();
    let mut conf = d.spec.template.spec.flink_configuration.clone();
    let blob = x.shared.config.blob_storage_uri.as_deref();
    if let Some(ck) = paths::derived_checkpoint_dir(d, blob) {
        if !conf.contains_key("execution.checkpointing.dir")
            && !conf.contains_key("state.checkpoints.dir")
        {
            conf.insert("execution.checkpointing.dir".into(), ck);
            conf.entry("execution.checkpointing.externalized-checkpoint-retention".into())
                .or_insert_with(|| "RETAIN_ON_CANCELLATION".into());
        }
    }
    if d.configured_savepoint_dir().is_none() {
        if let Some(sp) = paths::savepoint_base_dir(d, blob) {
            conf.insert("execution.checkpointing.savepoint-dir".into(), sp);
        }
    }
    conf
}

pub(super) async fn start_job(x: &Ctx<'_>, restore: RestoreDecision) -> Result<Effect, Error> {
    let d = x.d();
    let client = x.client()?;
    let target = d
        .spec
        .deployment_target_name
        .clone()
        .unwrap_or_else(|| "default".into());
    let spec = JobSpec {
        artifact: d.spec.template.spec.artifact.clone(),
        flink_configuration: job_configuration(x),
        parallelism: d.spec.template.spec.parallelism,
        savepoint_location: restore.savepoint_location.clone(),
        savepoint_id: restore.savepoint_id,
        allow_non_restored_state: d.spec.restore_strategy.allow_non_restored_state,
        deployment_target_name: Some(target),
    };
    let mut job = Job::new(&d.metadata.namespace, d.metadata.id, &d.metadata.name, spec);
    job.metadata
        .annotations
        .insert(SPEC_VERSION_ANNOTATION.into(), d.spec_version().to_string());
    // Write-ahead: the row (and so the Flink job id) exists before Flink hears of it.
    x.shared
        .store
        .job_create(&job)
        .await
        .map_err(Error::Store)?;
    crash::point("start.after_job_row");
    let restore_words = match (&restore.savepoint_id, &restore.savepoint_location) {
        (Some(id), Some(loc)) => format!(
            "restoring from savepoint {id} at {loc} ({})",
            restore.reason
        ),
        _ => format!("without state ({})", restore.reason),
    };
    x.event(
        EventName::CreatingANewJob,
        format!(
            "Creating job {} (spec version {}) {restore_words}",
            job.metadata.id,
            d.spec_version()
        ),
        Some(job.metadata.id),
        restore.savepoint_id,
    )
    .await?;
    submit_new(x, client, &job).await
}

/// The tail of every start of a new job (its row and event written): the deployment says
/// TRANSITIONING, then the job is submitted.
pub(super) async fn submit_new(
    x: &Ctx<'_>,
    client: &FlinkClient,
    job: &Job,
) -> Result<Effect, Error> {
    if x.d().status.state != DeploymentState::Transitioning {
        x.write_deployment(|d| {
            d.status.state = DeploymentState::Transitioning;
            d.status.running = None;
        })
        .await?;
    }
    let mut effect = submit(x, client, job).await?;
    effect.wrote = true;
    Ok(effect)
}

/// A STARTING job Flink does not know: submit it again, under its own id.
pub(super) async fn submit_recorded(x: &Ctx<'_>, job: JobId) -> Result<Effect, Error> {
    let job = x.job(job)?;
    if job.status.started.is_some() {
        info!(job = %job.metadata.id, "a submitted job is unknown to Flink; submitting it again with the same id");
    }
    submit(x, x.client()?, job).await
}

/// Submits a recorded job with its own id as the Flink job id. A refusal (by Flink, or a jar that
/// cannot be had) is the effect's; a Flink that does not answer is an error (the pass is retried, and
/// the same id makes a repeat at most once).
pub(super) async fn submit(x: &Ctx<'_>, client: &FlinkClient, job: &Job) -> Result<Effect, Error> {
    let refused_as = |reason: String, permanent: bool| Effect {
        submission_refused: Some((job.metadata.id, Refusal { reason, permanent })),
        ..Effect::default()
    };
    let refused = |reason: String| refused_as(reason, false);
    let sql = job.spec.artifact.kind == ArtifactKind::SqlScript;
    // `${NAME}` resolved here, for this request only: the job row keeps the references.
    let resolved = match crate::secret_refs::resolve(x, &job.metadata.namespace, &job.spec).await {
        Ok(r) => r,
        // Nothing changes by trying again: the secret value must be created, or the reference changed.
        Err(crate::secret_refs::Unresolved::Refused(reason)) => {
            return Ok(refused_as(reason, true))
        }
        Err(crate::secret_refs::Unresolved::Retry(e)) => return Err(e),
    };
    let mut artifact = job.spec.artifact.clone();
    artifact.jar_uri = resolved.jar_uri;
    let mut request = RunJarRequest {
        parallelism: job.spec.parallelism,
        savepoint_path: job.spec.savepoint_location.clone(),
        allow_non_restored_state: Some(job.spec.allow_non_restored_state),
        claim_mode: job
            .spec
            .savepoint_location
            .as_ref()
            .map(|_| ClaimMode::NoClaim),
        job_id: Some(flink_job_id(job)),
        flink_configuration: resolved.flink_configuration,
        ..RunJarRequest::default()
    };
    if request.savepoint_path.is_none() {
        request.allow_non_restored_state = None;
    }
    let mut stale = false;
    loop {
        let program = match artifacts::program(x.shared, client, &artifact, stale).await {
            Ok(p) => p,
            Err(Error::Artifact(e)) => return Ok(refused(e.to_string())),
            Err(e) => return Err(e),
        };
        request.entry_class = program.entry_class;
        request.program_args = program.args;
        match client.run_jar(&program.jar_id, &request).await {
            Ok(_) => break,
            // The cluster lost the jar (e.g. it restarted): upload it again, once.
            Err(FlinkError::NotFound { .. }) if !stale => stale = true,
            // Flink already has a job with this id: an earlier submission (before a crash) got
            // through while Flink did not list the job yet. That job is this row's: adopt it.
            Err(e) if e.is_duplicate_submission() => {
                info!(job = %job.metadata.id, "Flink already has this job (submitted before a restart); adopting it");
                break;
            }
            Err(e) if e.is_retryable() => {
                warn!(error = %e, "job submission did not get an answer; checking Flink again");
                return Err(e.into());
            }
            Err(e) => {
                let permanent = sql && e.is_script_statement_error();
                return Ok(refused_as(e.to_string(), permanent));
            }
        }
    }
    crash::point("start.after_submit");
    let flink_id = flink_job_id(job).to_string();
    x.write_job(job, |j| {
        j.status.started = Some(JobStatusStarted {
            flink_job_id: flink_id.clone(),
            started_at: now(),
            observed_flink_job_status: None,
            last_update_time: Some(now()),
        });
    })
    .await?;
    x.event(
        EventName::AwaitingAJobToStart,
        format!("Submitted job {} to Flink as {}", job.metadata.id, flink_id),
        Some(job.metadata.id),
        None,
    )
    .await?;
    Ok(Effect::job_changed())
}

/// Records a refused submission: the events first (whoever sees the deployment FAILED sees why), then
/// the attempt is counted on the deployment (so a conflict there repeats the submission rather than
/// losing the count), then the job is FAILED.
pub(super) async fn fail_job_creation(
    x: &Ctx<'_>,
    job: JobId,
    reason: String,
    gives_up: bool,
) -> Result<Effect, Error> {
    let job = x.job(job)?;
    let d = x.d();
    let attempt = d.transition().job_attempts + 1;
    x.event(
        EventName::FailedCreatingANewJob,
        format!(
            "Creating job {} failed (attempt {attempt} of {}): {reason}",
            job.metadata.id, d.spec.max_job_creation_attempts
        ),
        Some(job.metadata.id),
        None,
    )
    .await?;
    if gives_up {
        let why = if attempt < d.spec.max_job_creation_attempts {
            "Not trying again (the same submission would be refused the same way)".to_string()
        } else {
            format!("Gave up after {attempt} failed attempts to create a job")
        };
        x.event(
            EventName::TooManyFailedJobCreationAttempts,
            format!(
                "{why}; the deployment is FAILED. Last error: {reason}. Change the deployment to try again."
            ),
            Some(job.metadata.id),
            None,
        )
        .await?;
    }
    x.write_deployment(|d| {
        // The planner decides when to give up (the last attempt, or a permanent refusal).
        if count_attempt(d, false) || gives_up {
            give_up(d);
            d.status.state = DeploymentState::Failed;
            d.status.running = None;
        }
        d.status.failure = Some(FailureReason::JobSubmissionFailed.failure(reason.clone()));
    })
    .await?;
    x.write_job(job, |j| {
        j.status.state = JobState::Failed;
        j.status.failure = Some(FailureReason::JobSubmissionFailed.failure(reason.clone()));
        j.metadata.terminated_at = Some(now());
    })
    .await?;
    Ok(Effect::wrote())
}

pub(super) async fn mark_job_started(x: &Ctx<'_>, job: JobId) -> Result<Effect, Error> {
    let job = x.job(job)?;
    x.write_job(job, |j| {
        j.status.state = JobState::Started;
        if let Some(s) = j.status.started.as_mut() {
            s.observed_flink_job_status = Some("RUNNING".into());
            s.last_update_time = Some(now());
        } else {
            j.status.started = Some(JobStatusStarted {
                flink_job_id: flink_job_id(j).to_string(),
                started_at: now(),
                observed_flink_job_status: Some("RUNNING".into()),
                last_update_time: Some(now()),
            });
        }
    })
    .await?;
    let id = job.metadata.id;
    let from = x.d().status.state;
    let runs_spec = job.spec_version() == Some(x.d().spec_version());
    x.write_deployment(|d| {
        // An upgrade that worked ends the record of an earlier one's rollback.
        if runs_spec {
            d.status.rollback = None;
        }
        d.status.state = DeploymentState::Running;
        d.status.running = Some(DeploymentStatusRunning {
            job_id: id,
            transition_time: now(),
            conditions: vec![],
        });
        d.status.failure = None;
    })
    .await?;
    let restored = match &job.spec.savepoint_location {
        Some(l) => format!("restored from {l}"),
        None => "started without state".into(),
    };
    x.event(
        EventName::JobSuccessfullyStarted,
        format!("Job {id} is running ({restored})"),
        Some(id),
        job.spec.savepoint_id,
    )
    .await?;
    x.event(
        EventName::StateTransitionIsCompleted,
        format!("Deployment is RUNNING (was {from}) with job {id}"),
        Some(id),
        None,
    )
    .await?;
    Ok(Effect::wrote())
}
