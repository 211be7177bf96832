//! Rolling back a failed stateful upgrade (planned by `stateplane_model::plan::rollback`): the
//! rollback is recorded on the deployment before anything is sent to Flink, and the job that runs
//! the previous template again is recorded (STARTING, its id the Flink job id) before it is
//! submitted, as every start is ([`super::start`]).
//!
//! Durable order: the `UPGRADE_ROLLED_BACK` event, then `status.rollback` (the intent; from here the
//! planner cancels a failed job Flink still runs and starts no job of the failed spec version), then
//! — once no job runs — the new Job row with the previous job's template and spec version, then the
//! submission. A crash after any of these leaves rows from which the next pass plans the rest: the
//! record without a job starts one; the row without a submission is submitted under its own id (so
//! Flink runs it once at most).

use stateplane_model::plan::rollback::{UpgradeRollback, ROLLBACK_OF_ANNOTATION};
use stateplane_model::restore::RestoreDecision;
use stateplane_model::{
    now, DeploymentState, EventName, Job, JobId, JobSpec, SavepointId, SPEC_VERSION_ANNOTATION,
};

use super::context::{Ctx, Effect};
use crate::crash;
use crate::error::Error;

/// Records the rollback of the deployment's spec version (see the module docs).
pub(super) async fn roll_back(
    x: &Ctx<'_>,
    job: JobId,
    previous: JobId,
    savepoint: SavepointId,
    cause: String,
) -> Result<Effect, Error> {
    let d = x.d();
    let sp = x.savepoint(savepoint)?;
    let previous_spec_version = sp.spec_version().unwrap_or(0);
    let record = UpgradeRollback {
        failed_spec_version: d.spec_version(),
        failed_job_id: job,
        previous_job_id: previous,
        previous_spec_version,
        savepoint_id: savepoint,
        cause: cause.clone(),
        rolled_back_at: now(),
    };
    x.event(
        EventName::UpgradeRolledBack,
        format!(
            "Rolling back the upgrade to spec version {}: {cause}. Starting the template of spec \
             version {previous_spec_version} (job {previous}) again from savepoint {savepoint}; \
             spec version {} is not tried again until the deployment changes",
            d.spec_version(),
            d.spec_version()
        ),
        Some(job),
        Some(savepoint),
    )
    .await?;
    x.write_deployment(|d| {
        d.status.rollback = Some(record);
        d.status.state = DeploymentState::Transitioning;
        d.status.running = None;
        // Attempts and a give-up were about the failed template; the rollback starts afresh.
        d.status.transition = None;
        d.status.failure = None;
    })
    .await?;
    crash::point("rollback.after_record");
    Ok(Effect::job_changed())
}

/// Records and submits a job of the `previous` job's template (its artifact, Flink configuration,
/// parallelism and spec version), restoring `restore`.
pub(super) async fn start_previous(
    x: &Ctx<'_>,
    previous: JobId,
    restore: RestoreDecision,
) -> Result<Effect, Error> {
    let d = x.d();
    let client = x.client()?;
    let prev = match x.rows.job(previous) {
        Some(j) => j.clone(),
        None => (x.shared.store)
            .job_get(&d.metadata.namespace, previous)
            .await
            .map_err(Error::Store)?,
    };
    let failed = d.spec_version();
    let version = prev.spec_version().unwrap_or(0);
    let spec = JobSpec {
        artifact: prev.spec.artifact.clone(),
        flink_configuration: prev.spec.flink_configuration.clone(),
        parallelism: prev.spec.parallelism,
        savepoint_location: restore.savepoint_location.clone(),
        savepoint_id: restore.savepoint_id,
        allow_non_restored_state: prev.spec.allow_non_restored_state,
        deployment_target_name: Some(
            (d.spec.deployment_target_name.clone()).unwrap_or_else(|| "default".into()),
        ),
    };
    let mut job = Job::new(&d.metadata.namespace, d.metadata.id, &d.metadata.name, spec);
    let annotations = &mut job.metadata.annotations;
    // The template this job really runs: its savepoints carry this spec version.
    annotations.insert(SPEC_VERSION_ANNOTATION.into(), version.to_string());
    annotations.insert(ROLLBACK_OF_ANNOTATION.into(), failed.to_string());
    x.shared
        .store
        .job_create(&job)
        .await
        .map_err(Error::Store)?;
    crash::point("rollback.after_job_row");
    let restoring = match (&restore.savepoint_id, &restore.savepoint_location) {
        (Some(id), Some(loc)) => format!("restoring from savepoint {id} at {loc}"),
        _ => format!("without state ({})", restore.reason),
    };
    x.event(
        EventName::CreatingANewJob,
        format!(
            "Creating job {} with the template of spec version {version} (job {previous}), rolling \
             back the upgrade to spec version {failed}, {restoring}",
            job.metadata.id
        ),
        Some(job.metadata.id),
        restore.savepoint_id,
    )
    .await?;
    super::start::submit_new(x, client, &job).await
}
