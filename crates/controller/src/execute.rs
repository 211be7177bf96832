//! One reconcile pass: observe, plan, and perform the planned action.
//!
//! The write-ahead rule, action by action:
//! - start: the Job row (STARTING, its id = the Flink job id) is committed before `POST /jars/…/run`
//!   with that id; after a crash the row is matched against `GET /jobs/<id>`: adopted if Flink has it,
//!   submitted again (same id, so at most once) if not.
//! - savepoints: the Savepoint row (STARTED, its id = the Flink trigger id, its target directory) is
//!   committed before Flink is asked; each pass first asks Flink about the trigger id and triggers only
//!   when Flink does not know it, so a repeated trigger is the same operation.
//! - stop: the Job row is marked TERMINATING (with the reason) before the stop is sent; a TERMINATING
//!   job is stopped again until Flink reports it ended.
//! - retained checkpoints are recorded before the job row is marked terminal, and never twice for one
//!   location.

use chrono::{DateTime, Utc};
use stateplane_flink::{
    ClaimMode, FlinkClient, FlinkError, RunJarRequest, SavepointStatus, SavepointTrigger,
    StopWithSavepoint, TriggerId,
};
use stateplane_model::plan::{
    self, Action, FlinkJobState, FlinkView, Observed, StopReason, STOP_REASON_ANNOTATION,
};
use stateplane_model::restore::RestoreDecision;
use stateplane_model::{
    now, paths, Deployment, DeploymentId, DeploymentState, DeploymentStatusRunning, DesiredState,
    Event, EventName, Failure, Job, JobId, JobSpec, JobState, JobStatusStarted, Savepoint,
    SavepointFormat, SavepointId, SavepointOrigin, SavepointState, SPEC_VERSION_ANNOTATION,
};
use stateplane_store::{SavepointFilter, StoreError};
use tracing::{debug, info, warn};

use crate::observe::{self, flink_job_id, World};
use crate::{artifacts, cas, crash, metrics, retained, Shared};

mod storage;

/// What the worker should do after a pass.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The deployment no longer exists.
    Gone,
    /// Something changed: plan again at once.
    Progressed,
    /// Flink is working on something of ours: look again soon.
    Waiting,
    /// Nothing to do before this time.
    Until(DateTime<Utc>),
    /// Nothing to do.
    Steady { job_running: bool },
}

/// Why a pass could not finish; the worker retries with a back-off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    /// The store failed or a row changed under us.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type R<T> = Result<T, ReconcileError>;

/// What `plan` looks at, from one observation.
fn observed<'w>(shared: &Shared, world: &'w World) -> Observed<'w> {
    let blob = shared.config.blob_storage_uri.as_deref();
    Observed {
        deployment: &world.deployment,
        current_job: world.current_job(),
        last_job: world.jobs.first(),
        flink: world.flink.clone(),
        savepoints: &world.savepoints,
        savepoints_configured: paths::savepoint_base_dir(&world.deployment, blob).is_some(),
        now: now(),
    }
}

/// The current job when it is STARTING and Flink runs it with some tasks not running yet.
fn deploying_job(world: &World) -> Option<&Job> {
    let job = world.current_job()?;
    let deploying = job.status.state == JobState::Starting
        && world.flink
            == FlinkView::Job {
                state: FlinkJobState::Running,
                all_tasks_running: false,
            };
    deploying.then_some(job)
}

/// Whether every task of a deploying job runs within [`TASKS_POLL_FOR`], asking Flink's uncached
/// `/jobs/overview` one question at a time, at most every [`TASKS_POLL_EVERY`]. False as soon as the
/// job is no longer RUNNING or Flink does not answer: the next pass looks at it as a whole.
async fn tasks_running_soon(shared: &Shared, job: &Job) -> bool {
    let Ok(client) = observe::client_for_job(shared, job).await else {
        return false;
    };
    let id = flink_job_id(job);
    let until = tokio::time::Instant::now() + TASKS_POLL_FOR;
    let mut tick = tokio::time::interval(TASKS_POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The pass has just asked: the first question waits one period.
    tick.tick().await;
    while tokio::time::Instant::now() < until && !shared.cancel.is_cancelled() {
        tick.tick().await;
        let Ok(jobs) = client.jobs_overview().await else {
            return false;
        };
        match jobs.iter().find(|j| j.id == id) {
            Some(j) if j.all_tasks_running() => return true,
            Some(j) if j.state == stateplane_flink::JobState::Running => continue,
            _ => return false,
        }
    }
    false
}

/// Observes, plans and performs one action for one deployment.
pub(crate) async fn reconcile_once(
    shared: &Shared,
    namespace: &str,
    id: DeploymentId,
) -> R<Outcome> {
    let Some(world) = observe::observe(shared, namespace, id).await? else {
        return Ok(Outcome::Gone);
    };
    let mut world = world;
    let action = loop {
        let action = plan::plan(&observed(shared, &world));
        debug!(?action, "planned");
        // A job that runs in Flink while its tasks are still being deployed: ask Flink about its tasks
        // only, every 1 ms, and plan again as soon as all of them run (a whole pass per question
        // would add a pass's cost to every start).
        if let (Action::Wait { .. }, Some(job)) = (&action, deploying_job(&world)) {
            if tasks_running_soon(shared, job).await {
                world.flink = FlinkView::Job {
                    state: FlinkJobState::Running,
                    all_tasks_running: true,
                };
                continue;
            }
        }
        break action;
    };
    if let FlinkView::Unreachable { .. } = &world.flink {
        metrics::flink_error("unreachable");
    }
    metrics::action(action_name(&action));
    let x = Exec {
        shared,
        world: &world,
    };
    match action {
        Action::Steady => Ok(Outcome::Steady {
            job_running: world.current_job().is_some(),
        }),
        Action::Wait { reason } => {
            debug!(%reason, "waiting");
            Ok(Outcome::Waiting)
        }
        Action::Backoff { until } => Ok(Outcome::Until(until)),
        Action::SetStatus { state } => x.set_status(state).await,
        Action::StartJob { restore } => x.start_job(restore).await,
        Action::RefuseStart { decision } => x.refuse_start(decision).await,
        Action::SubmitJob { job } => x.submit_recorded_job(job).await,
        Action::MarkJobStarted { job } => x.mark_job_started(job).await,
        Action::StopWithSavepoint { job, origin } => x.begin_stop_with_savepoint(job, origin).await,
        Action::AdvanceSavepoint { savepoint } => x.advance_savepoint(savepoint).await,
        Action::Cancel { job, reason } => x.cancel(job, reason).await,
        Action::JobEnded { job, flink_state } => x.job_ended(job, flink_state).await,
        Action::JobVanished { job } => x.job_vanished(job).await,
        Action::SavepointsNotConfigured { job, operation } => {
            x.savepoints_not_configured(job, &operation).await
        }
        Action::FailSavepoint { savepoint, reason } => {
            x.fail_orphaned_savepoint(savepoint, &reason).await
        }
        Action::DisposeSavepoint { savepoint } => x.dispose_savepoint(savepoint).await,
        Action::ExpireSavepoints { expired } => x.expire_savepoints(expired).await,
        Action::TriggerPeriodicSavepoint { job } => x.trigger_periodic_savepoint(job).await,
    }
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Steady => "steady",
        Action::Wait { .. } => "wait",
        Action::Backoff { .. } => "backoff",
        Action::DisposeSavepoint { .. } => "dispose_savepoint",
        Action::ExpireSavepoints { .. } => "expire_savepoints",
        Action::TriggerPeriodicSavepoint { .. } => "trigger_periodic_savepoint",
        Action::FailSavepoint { .. } => "fail_savepoint",
        Action::StartJob { .. } => "start_job",
        Action::RefuseStart { .. } => "refuse_start",
        Action::SubmitJob { .. } => "submit_job",
        Action::MarkJobStarted { .. } => "mark_job_started",
        Action::AdvanceSavepoint { .. } => "advance_savepoint",
        Action::StopWithSavepoint { .. } => "stop_with_savepoint",
        Action::Cancel { .. } => "cancel",
        Action::JobEnded { .. } => "job_ended",
        Action::JobVanished { .. } => "job_vanished",
        Action::SavepointsNotConfigured { .. } => "savepoints_not_configured",
        Action::SetStatus { .. } => "set_status",
    }
}

struct Exec<'a> {
    shared: &'a Shared,
    world: &'a World,
}

/// How often and how long [`Exec::await_savepoint`] asks Flink about a savepoint it is taking.
const SAVEPOINT_POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(1);
const SAVEPOINT_POLL_FOR: std::time::Duration = std::time::Duration::from_millis(1500);

/// How often and how long [`tasks_running_soon`] asks Flink about a starting job's tasks.
const TASKS_POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(1);
const TASKS_POLL_FOR: std::time::Duration = std::time::Duration::from_millis(1500);

/// Flink's trigger request for a savepoint row (its id is the trigger id) that leaves the job running
/// (a stop sends the same fields in its own request); None without a target directory.
pub(crate) fn savepoint_trigger(sp: &Savepoint) -> Option<SavepointTrigger> {
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

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Exec<'_> {
    fn d(&self) -> &Deployment {
        &self.world.deployment
    }

    fn job(&self, id: JobId) -> Option<&Job> {
        self.world.jobs.iter().find(|j| j.metadata.id == id)
    }

    fn savepoint(&self, id: SavepointId) -> Option<&Savepoint> {
        self.world.savepoints.iter().find(|s| s.metadata.id == id)
    }

    async fn event(
        &self,
        name: EventName,
        message: String,
        job: Option<JobId>,
        sp: Option<SavepointId>,
    ) -> R<()> {
        let d = self.d();
        info!(event = %name, job = ?job, savepoint = ?sp, "{message}");
        let mut e = Event::new(&d.metadata.namespace, d.metadata.id, name, message);
        e.metadata.job_id = job;
        e.metadata.savepoint_id = sp;
        self.shared.store.event_append(&e).await?;
        Ok(())
    }

    /// Changes the deployment's status with compare-and-swap, re-reading on conflicts (the API may be
    /// changing the spec at the same time). `f` must only touch `status`.
    async fn update_deployment(&self, f: impl Fn(&mut Deployment)) -> R<Deployment> {
        Ok(cas::write(self.shared.store.as_ref(), self.d(), |d| {
            d.forget_stale_transition();
            f(d);
        })
        .await?)
    }

    async fn update_job(&self, job: &Job, f: impl Fn(&mut Job)) -> R<Job> {
        Ok(cas::write(self.shared.store.as_ref(), job, f).await?)
    }

    /// Updates a savepoint if it is still in `expected` state (a concurrent change wins otherwise).
    async fn update_savepoint(
        &self,
        sp: &Savepoint,
        expected: SavepointState,
        f: impl Fn(&mut Savepoint),
    ) -> R<bool> {
        let written = cas::write_if(self.shared.store.as_ref(), sp, |s| {
            let applies = s.status.state == expected;
            if applies {
                f(s);
            }
            applies
        })
        .await;
        match written {
            Ok(w) => Ok(w.is_some()),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a failed attempt of the current transition; returns whether the controller gives up.
    fn count_attempt(d: &mut Deployment, savepoint: bool) -> bool {
        let mut t = d.transition();
        if savepoint {
            t.savepoint_attempts += 1;
        } else {
            t.job_attempts += 1;
        }
        t.last_attempt_at = Some(now());
        let max = if savepoint {
            d.spec.max_savepoint_creation_attempts
        } else {
            d.spec.max_job_creation_attempts
        };
        let attempts = if savepoint {
            t.savepoint_attempts
        } else {
            t.job_attempts
        };
        t.gave_up = attempts >= max;
        let gave_up = t.gave_up;
        d.status.transition = Some(t);
        gave_up
    }

    fn give_up(d: &mut Deployment) {
        let mut t = d.transition();
        t.gave_up = true;
        t.last_attempt_at = Some(now());
        d.status.transition = Some(t);
    }

    // ---- status ------------------------------------------------------------------------------------

    async fn set_status(&self, state: DeploymentState) -> R<Outcome> {
        let job = self.world.current_job().map(|j| j.metadata.id);
        let from = self.d().status.state;
        self.update_deployment(|d| {
            d.status.state = state;
            d.status.running = match (state, job) {
                (DeploymentState::Running, Some(j)) => Some(DeploymentStatusRunning {
                    job_id: j,
                    transition_time: d
                        .status
                        .running
                        .as_ref()
                        .filter(|r| r.job_id == j)
                        .map_or_else(now, |r| r.transition_time),
                    conditions: vec![],
                }),
                _ => None,
            };
            if state != DeploymentState::Running {
                d.status.failure = None;
            }
        })
        .await?;
        if from != state {
            self.event(
                EventName::StateTransitionIsCompleted,
                format!("Deployment is {state} (was {from})"),
                job,
                None,
            )
            .await?;
        }
        Ok(Outcome::Progressed)
    }

    // ---- starting jobs -----------------------------------------------------------------------------

    /// The Flink configuration a new job of this deployment runs with: the template's, plus the
    /// directories derived from blob storage where the template sets none.
    fn job_configuration(&self) -> std::collections::BTreeMap<String, String> {
        let d = self.d();
        let mut conf = d.spec.template.spec.flink_configuration.clone();
        let blob = self.shared.config.blob_storage_uri.as_deref();
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

    async fn start_job(&self, restore: RestoreDecision) -> R<Outcome> {
        let d = self.d();
        let target = d
            .spec
            .deployment_target_name
            .clone()
            .unwrap_or_else(|| "default".into());
        let client =
            match observe::client_for_target(self.shared, &d.metadata.namespace, &target).await {
                Ok(c) => c,
                Err(reason) => {
                    // Not an attempt: the target may be created any moment, and creating one wakes us.
                    let msg = format!("cannot start a job: {reason}");
                    if d.status.failure.as_ref().map(|f| f.message.as_str()) != Some(msg.as_str()) {
                        self.update_deployment(|d| {
                            d.status.failure =
                                Some(Failure::new("DEPLOYMENT_TARGET_MISSING", msg.clone()))
                        })
                        .await?;
                        self.event(
                            EventName::ReferencedDeploymentTargetDoesNotExist,
                            msg,
                            None,
                            None,
                        )
                        .await?;
                    }
                    return Ok(Outcome::Steady { job_running: false });
                }
            };
        let spec = JobSpec {
            artifact: d.spec.template.spec.artifact.clone(),
            flink_configuration: self.job_configuration(),
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
        self.shared.store.job_create(&job).await?;
        crash::point("start.after_job_row");
        let restore_words = match (&restore.savepoint_id, &restore.savepoint_location) {
            (Some(id), Some(loc)) => format!(
                "restoring from savepoint {id} at {loc} ({})",
                restore.reason
            ),
            _ => format!("without state ({})", restore.reason),
        };
        self.event(
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
        if d.status.state != DeploymentState::Transitioning {
            self.update_deployment(|d| {
                d.status.state = DeploymentState::Transitioning;
                d.status.running = None;
            })
            .await?;
        }
        self.submit(&client, &job).await
    }

    async fn submit_recorded_job(&self, job: JobId) -> R<Outcome> {
        let Some(job) = self.job(job) else {
            return Ok(Outcome::Progressed);
        };
        let client = match observe::client_for_job(self.shared, job).await {
            Ok(c) => c,
            Err(_) => return Ok(Outcome::Waiting),
        };
        if job.status.started.is_some() {
            info!(job = %job.metadata.id, "a submitted job is unknown to Flink; submitting it again with the same id");
        }
        self.submit(&client, job).await
    }

    /// Submits a recorded job with its own id as the Flink job id.
    async fn submit(&self, client: &FlinkClient, job: &Job) -> R<Outcome> {
        let jar = match artifacts::fetch(self.shared, &job.spec.artifact).await {
            Ok(j) => j,
            Err(reason) => return self.job_creation_failed(job, reason).await,
        };
        let mut request = RunJarRequest {
            entry_class: job.spec.artifact.entry_class.clone(),
            program_args: job.spec.artifact.program_args(),
            parallelism: job.spec.parallelism,
            savepoint_path: job.spec.savepoint_location.clone(),
            allow_non_restored_state: Some(job.spec.allow_non_restored_state),
            claim_mode: job
                .spec
                .savepoint_location
                .as_ref()
                .map(|_| ClaimMode::NoClaim),
            job_id: Some(flink_job_id(job)),
            flink_configuration: job.spec.flink_configuration.clone(),
        };
        if request.savepoint_path.is_none() {
            request.allow_non_restored_state = None;
        }
        let mut stale = false;
        let result = loop {
            let jar_id = match artifacts::ensure_uploaded(self.shared, client, &jar, stale).await {
                Ok(id) => id,
                Err(reason) => break Err(reason),
            };
            match client.run_jar(&jar_id, &request).await {
                Ok(_) => break Ok(()),
                // The cluster lost the jar (e.g. it restarted): upload it again, once.
                Err(FlinkError::NotFound { .. }) if !stale => stale = true,
                // Flink already has a job with this id: an earlier submission (before a crash) got
                // through while Flink did not list the job yet. That job is this row's: adopt it.
                Err(e) if e.is_duplicate_submission() => {
                    info!(job = %job.metadata.id, "Flink already has this job (submitted before a restart); adopting it");
                    break Ok(());
                }
                Err(e) if e.is_retryable() => {
                    warn!(error = %e, "job submission did not get an answer; checking Flink again");
                    return Ok(Outcome::Waiting);
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        match result {
            Ok(()) => {
                crash::point("start.after_submit");
                let flink_id = flink_job_id(job).to_string();
                self.update_job(job, |j| {
                    j.status.started = Some(JobStatusStarted {
                        flink_job_id: flink_id.clone(),
                        started_at: now(),
                        observed_flink_job_status: None,
                        last_update_time: Some(now()),
                    });
                })
                .await?;
                self.event(
                    EventName::AwaitingAJobToStart,
                    format!("Submitted job {} to Flink as {}", job.metadata.id, flink_id),
                    Some(job.metadata.id),
                    None,
                )
                .await?;
                Ok(Outcome::Waiting)
            }
            Err(reason) => self.job_creation_failed(job, reason).await,
        }
    }

    async fn job_creation_failed(&self, job: &Job, reason: String) -> R<Outcome> {
        self.update_job(job, |j| {
            j.status.state = JobState::Failed;
            j.status.failure = Some(Failure::new("JOB_SUBMISSION_FAILED", reason.clone()));
            j.metadata.terminated_at = Some(now());
        })
        .await?;
        let stored = self
            .update_deployment(|d| {
                let g = Self::count_attempt(d, false);
                if g {
                    d.status.state = DeploymentState::Failed;
                    d.status.running = None;
                }
                d.status.failure = Some(Failure::new("JOB_SUBMISSION_FAILED", reason.clone()));
            })
            .await?;
        let t = stored.transition();
        let gave_up = t.gave_up;
        self.event(
            EventName::FailedCreatingANewJob,
            format!(
                "Creating job {} failed (attempt {} of {}): {reason}",
                job.metadata.id, t.job_attempts, stored.spec.max_job_creation_attempts
            ),
            Some(job.metadata.id),
            None,
        )
        .await?;
        if gave_up {
            self.event(
                EventName::TooManyFailedJobCreationAttempts,
                format!(
                    "Gave up after {} failed attempts to create a job; the deployment is FAILED. Last error: {reason}. Change the deployment to try again.",
                    t.job_attempts
                ),
                Some(job.metadata.id),
                None,
            )
            .await?;
        }
        Ok(Outcome::Progressed)
    }

    async fn refuse_start(&self, decision: RestoreDecision) -> R<Outcome> {
        let msg = format!("Refusing to start without state: {}", decision.reason);
        self.update_deployment(|d| {
            Self::give_up(d);
            d.status.state = DeploymentState::Failed;
            d.status.running = None;
            d.status.failure = Some(Failure::new("NO_SNAPSHOT_TO_RESTORE_FROM", msg.clone()));
        })
        .await?;
        let skipped: Vec<String> = decision
            .skipped
            .iter()
            .map(|s| format!("{} ({})", s.savepoint_id, s.reason))
            .collect();
        let detail = if skipped.is_empty() {
            String::new()
        } else {
            format!(" Skipped: {}.", skipped.join("; "))
        };
        self.event(
            EventName::NoSnapshotToRestoreFrom,
            format!("{msg}.{detail}"),
            None,
            None,
        )
        .await?;
        Ok(Outcome::Progressed)
    }

    async fn mark_job_started(&self, job: JobId) -> R<Outcome> {
        let Some(job) = self.job(job) else {
            return Ok(Outcome::Progressed);
        };
        self.update_job(job, |j| {
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
        let from = self.d().status.state;
        self.update_deployment(|d| {
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
        self.event(
            EventName::JobSuccessfullyStarted,
            format!("Job {id} is running ({restored})"),
            Some(id),
            job.spec.savepoint_id,
        )
        .await?;
        self.event(
            EventName::StateTransitionIsCompleted,
            format!("Deployment is RUNNING (was {from}) with job {id}"),
            Some(id),
            None,
        )
        .await?;
        Ok(Outcome::Progressed)
    }

    // ---- savepoints --------------------------------------------------------------------------------

    async fn begin_stop_with_savepoint(&self, job: JobId, origin: SavepointOrigin) -> R<Outcome> {
        let d = self.d();
        let Some(job) = self.job(job) else {
            return Ok(Outcome::Progressed);
        };
        let blob = self.shared.config.blob_storage_uri.as_deref();
        let mut sp = Savepoint::new(
            &d.metadata.namespace,
            d.metadata.id,
            origin,
            SavepointState::Started,
            None,
        );
        let Some(target) = paths::savepoint_target_dir(d, blob, sp.metadata.id) else {
            return self
                .savepoints_not_configured(job.metadata.id, "stop with savepoint")
                .await;
        };
        sp.spec.savepoint_location = Some(target.clone());
        sp.spec.format_type = Some(SavepointFormat::Canonical);
        sp.metadata.job_id = Some(job.metadata.id);
        let spec_version = job.spec_version().unwrap_or_else(|| d.spec_version());
        sp.metadata
            .annotations
            .insert(SPEC_VERSION_ANNOTATION.into(), spec_version.to_string());
        // Write-ahead: the savepoint (whose id is the trigger id) and the job's new state first.
        self.shared.store.savepoint_create(&sp).await?;
        crash::point("stop.after_savepoint_row");
        self.update_job(job, |j| {
            j.status.state = JobState::Terminating;
            j.metadata.annotations.remove(STOP_REASON_ANNOTATION);
        })
        .await?;
        crash::point("stop.after_intent");
        // The intent is written: stop the job now (this pass saw it RUNNING in Flink), without a
        // second observation. The deployment's status and the event follow; they explain, they are
        // not the intent.
        let client = observe::client_for_job(self.shared, job).await.ok();
        let outcome = match &client {
            Some(c) => self.trigger_savepoint(c, &sp, job).await?,
            None => Outcome::Waiting,
        };
        if !matches!(outcome, Outcome::Waiting) {
            // Flink refused: the savepoint failed, and the job, the deployment and the events say so.
            return Ok(outcome);
        }
        self.update_deployment(|d| d.status.state = DeploymentState::Transitioning)
            .await?;
        let (name, msg) = match origin {
            SavepointOrigin::Suspend => (
                EventName::CreatingASavepointBeforeSuspension,
                format!("Suspending: stopping job {} with savepoint {} into {target}", job.metadata.id, sp.metadata.id),
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
        self.event(name, msg, Some(job.metadata.id), Some(sp.metadata.id))
            .await?;
        match client {
            Some(c) if self.shared.triggered(sp.metadata.id) => {
                self.await_savepoint(&c, &sp, job).await
            }
            _ => Ok(Outcome::Waiting),
        }
    }

    /// Asks Flink about a STARTED savepoint, triggering it first when Flink does not know its trigger.
    async fn advance_savepoint(&self, id: SavepointId) -> R<Outcome> {
        let Some(sp) = self.savepoint(id) else {
            return Ok(Outcome::Progressed);
        };
        let Some(job) = sp.metadata.job_id.and_then(|j| self.job(j)) else {
            return self.fail_savepoint(sp, "its job is unknown".into()).await;
        };
        let client = match observe::client_for_job(self.shared, job).await {
            Ok(c) => c,
            Err(_) => return Ok(Outcome::Waiting),
        };
        let flink_id = flink_job_id(job);
        let trigger = TriggerId::from_uuid(sp.metadata.id.uuid());
        // A savepoint this process has not triggered yet, of a job Flink runs: trigger at once (the
        // trigger id makes a repeat the same operation, so this is safe after a crash too) instead of
        // asking about it first.
        let fresh = !self.shared.triggered(sp.metadata.id)
            && matches!(
                self.world.flink,
                FlinkView::Job {
                    state: FlinkJobState::Running,
                    ..
                }
            );
        let status = if fresh {
            Err(FlinkError::NotFound {
                resource: "not triggered by this process yet".into(),
            })
        } else {
            client.savepoint_status(&flink_id, &trigger).await
        };
        match status {
            Ok(SavepointStatus::InProgress) => self.await_savepoint(&client, sp, job).await,
            Ok(SavepointStatus::Completed { location }) => {
                self.complete_savepoint(sp, job, location).await
            }
            Ok(SavepointStatus::Failed { root_cause }) => self.fail_savepoint(sp, root_cause).await,
            Err(FlinkError::NotFound { .. }) => {
                let outcome = self.trigger_savepoint(&client, sp, job).await?;
                match outcome {
                    Outcome::Waiting if self.shared.triggered(sp.metadata.id) => {
                        self.await_savepoint(&client, sp, job).await
                    }
                    other => Ok(other),
                }
            }
            Err(e) => {
                debug!(error = %e, "cannot ask Flink about savepoint {}", sp.metadata.id);
                Ok(Outcome::Waiting)
            }
        }
    }

    /// Polls a savepoint Flink is taking for a short while, asking only about the savepoint (a whole
    /// pass would also re-read the store and the job): Flink takes one in ~100 ms, and each poll of a
    /// pass would add its own cost to that. One question at a time, at most one every
    /// [`SAVEPOINT_POLL_EVERY`] (overlapping questions were measured to slow Flink's savepoint down
    /// more than they gain on two cores). Longer savepoints go back to the worker's polling.
    async fn await_savepoint(&self, client: &FlinkClient, sp: &Savepoint, job: &Job) -> R<Outcome> {
        let flink_id = flink_job_id(job);
        let trigger = TriggerId::from_uuid(sp.metadata.id.uuid());
        let until = tokio::time::Instant::now() + SAVEPOINT_POLL_FOR;
        let mut tick = tokio::time::interval(SAVEPOINT_POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The caller has just triggered the savepoint or asked about it: the first question waits one
        // period (an interval's first tick is immediate).
        tick.tick().await;
        while tokio::time::Instant::now() < until && !self.shared.cancel.is_cancelled() {
            tick.tick().await;
            match client.savepoint_status(&flink_id, &trigger).await {
                Ok(SavepointStatus::InProgress) => continue,
                Ok(SavepointStatus::Completed { location }) => {
                    return self.complete_savepoint(sp, job, location).await
                }
                Ok(SavepointStatus::Failed { root_cause }) => {
                    return self.fail_savepoint(sp, root_cause).await
                }
                Err(_) => break,
            }
        }
        Ok(Outcome::Waiting)
    }

    async fn trigger_savepoint(
        &self,
        client: &FlinkClient,
        sp: &Savepoint,
        job: &Job,
    ) -> R<Outcome> {
        let flink_id = flink_job_id(job);
        let stop = sp.metadata.origin != SavepointOrigin::UserRequest;
        let Some(request) = savepoint_trigger(sp) else {
            return self
                .fail_savepoint(sp, "it has no target directory".into())
                .await;
        };
        let seen_running = matches!(
            self.world.flink,
            FlinkView::Job {
                state: FlinkJobState::Running,
                ..
            }
        );
        // A stop-with-savepoint whose result Flink forgot (restart, expiry) may have finished the job:
        // Flink's checkpoint statistics then name the savepoint it wrote into our target directory.
        // (Not when this pass saw the job running: then it has not finished.)
        if stop && !seen_running {
            if let Ok(Some(state)) = client.job_status(&flink_id).await {
                if state.is_globally_terminal() {
                    let written = client
                        .checkpoints(&flink_id)
                        .await
                        .ok()
                        .and_then(|c| c.latest_savepoint)
                        .and_then(|s| s.external_path)
                        .filter(|p| {
                            stateplane_model::normalize_location(p).starts_with(
                                &stateplane_model::normalize_location(&request.target_directory),
                            )
                        });
                    return match written {
                        Some(location) => self.complete_savepoint(sp, job, location).await,
                        None => {
                            self.fail_savepoint(
                                sp,
                                format!(
                                    "job {} ended ({}) before the savepoint was taken",
                                    job.metadata.id, state
                                ),
                            )
                            .await
                        }
                    };
                }
            }
        }
        let result = if stop {
            client
                .stop_with_savepoint(
                    &flink_id,
                    &StopWithSavepoint {
                        target_directory: request.target_directory,
                        format: request.format,
                        trigger_id: request.trigger_id,
                        drain: false,
                    },
                )
                .await
        } else {
            client.trigger_savepoint(&flink_id, &request).await
        };
        match result {
            Ok(_) => {
                debug!(savepoint = %sp.metadata.id, "savepoint triggered");
                self.shared.mark_triggered(sp.metadata.id);
                crash::point("savepoint.after_trigger");
                Ok(Outcome::Waiting)
            }
            Err(e) if e.is_retryable() => {
                debug!(error = %e, "savepoint trigger did not get an answer; asking again");
                Ok(Outcome::Waiting)
            }
            Err(e) => {
                metrics::flink_error("refused");
                self.fail_savepoint(sp, e.to_string()).await
            }
        }
    }

    async fn complete_savepoint(&self, sp: &Savepoint, job: &Job, location: String) -> R<Outcome> {
        let done = self
            .update_savepoint(sp, SavepointState::Started, |s| {
                s.spec.savepoint_location = Some(location.clone());
                s.status.state = SavepointState::Completed;
                s.status.failure = None;
            })
            .await?;
        if done {
            crash::point("savepoint.after_completed");
            let took = (now() - sp.metadata.created_at).num_milliseconds();
            metrics::savepoint_finished(
                sp.metadata.origin.as_str(),
                "completed",
                took as f64 / 1000.0,
            );
            self.event(
                EventName::SavepointCompleted,
                format!(
                    "Savepoint {} ({}) of job {} completed at {location} in {took} ms",
                    sp.metadata.id, sp.metadata.origin, job.metadata.id
                ),
                Some(job.metadata.id),
                Some(sp.metadata.id),
            )
            .await?;
            if sp.metadata.origin != SavepointOrigin::UserRequest {
                self.event(
                    EventName::FoundACompletedSavepointReadyForSuspension,
                    format!(
                        "Waiting for job {} to finish after savepoint {}",
                        job.metadata.id, sp.metadata.id
                    ),
                    Some(job.metadata.id),
                    Some(sp.metadata.id),
                )
                .await?;
            }
        }
        Ok(Outcome::Progressed)
    }

    async fn fail_savepoint(&self, sp: &Savepoint, cause: String) -> R<Outcome> {
        let done = self
            .update_savepoint(sp, SavepointState::Started, |s| {
                s.status.state = SavepointState::Failed;
                s.status.failure = Some(Failure::new("SAVEPOINT_FAILED", cause.clone()));
            })
            .await?;
        if !done {
            return Ok(Outcome::Progressed);
        }
        let took = (now() - sp.metadata.created_at).num_milliseconds();
        metrics::savepoint_finished(sp.metadata.origin.as_str(), "failed", took as f64 / 1000.0);
        let job_id = sp.metadata.job_id;
        self.event(
            EventName::AnUnrecoverableFailureWhileTakingASavepoint,
            format!(
                "Savepoint {} ({}) failed: {cause}",
                sp.metadata.id, sp.metadata.origin
            ),
            job_id,
            Some(sp.metadata.id),
        )
        .await?;
        if sp.metadata.origin == SavepointOrigin::UserRequest {
            return Ok(Outcome::Progressed);
        }
        // A failed stop-with-savepoint leaves the job running: it is STARTED again, and the suspend or
        // upgrade is retried within maxSavepointCreationAttempts — never turned into a stop without state.
        if let Some(job) = job_id.and_then(|j| self.job(j)) {
            self.update_job(job, |j| {
                if j.status.state == JobState::Terminating {
                    j.status.state = JobState::Started;
                }
            })
            .await?;
        }
        let operation = if sp.metadata.origin == SavepointOrigin::Suspend {
            "suspend"
        } else {
            "stateful upgrade"
        };
        let stored = self
            .update_deployment(|d| {
                let gave_up = Self::count_attempt(d, true);
                d.status.state = DeploymentState::Running;
                let words = if gave_up {
                    "giving up; the job keeps running"
                } else {
                    "will retry; the job keeps running"
                };
                d.status.failure = Some(Failure::new(
                    "SAVEPOINT_FAILED",
                    format!(
                        "{operation} failed: savepoint {} failed: {cause}; {words}",
                        sp.metadata.id
                    ),
                ));
            })
            .await?;
        let t = stored.transition();
        if t.gave_up {
            self.event(
                EventName::TooManyFailedSuspensionAttempts,
                format!(
                    "Gave up the {operation} after {} failed savepoints; job {} keeps running. Last error: {cause}",
                    t.savepoint_attempts,
                    job_id.map(|j| j.to_string()).unwrap_or_default()
                ),
                job_id,
                Some(sp.metadata.id),
            )
            .await?;
        }
        Ok(Outcome::Progressed)
    }

    async fn fail_orphaned_savepoint(&self, id: SavepointId, reason: &str) -> R<Outcome> {
        match self.savepoint(id) {
            Some(sp) => self.fail_savepoint(sp, reason.to_string()).await,
            None => Ok(Outcome::Progressed),
        }
    }

    async fn savepoints_not_configured(&self, job: JobId, operation: &str) -> R<Outcome> {
        let msg = format!(
            "cannot {operation}: {}; the job keeps running",
            paths::NO_SAVEPOINT_DIR
        );
        self.update_deployment(|d| {
            Self::give_up(d);
            d.status.failure = Some(Failure::new("SAVEPOINTS_NOT_CONFIGURED", msg.clone()));
        })
        .await?;
        self.event(
            EventName::JobIsNotConfiguredWithSavepointSupport,
            msg,
            Some(job),
            None,
        )
        .await?;
        Ok(Outcome::Progressed)
    }

    // ---- stopping and ending -----------------------------------------------------------------------

    async fn cancel(&self, job: JobId, reason: StopReason) -> R<Outcome> {
        let Some(job) = self.job(job) else {
            return Ok(Outcome::Progressed);
        };
        if job.status.state != JobState::Terminating {
            // Write-ahead: the reason is recorded before the cancel is sent.
            self.update_job(job, |j| {
                j.status.state = JobState::Terminating;
                j.metadata
                    .annotations
                    .insert(STOP_REASON_ANNOTATION.into(), reason.as_str().into());
            })
            .await?;
            self.update_deployment(|d| d.status.state = DeploymentState::Transitioning)
                .await?;
            let why = match reason {
                StopReason::Cancel => "the deployment is to be CANCELLED".to_string(),
                StopReason::StatelessUpgrade => format!(
                    "STATELESS upgrade to spec version {}: the new job starts without state",
                    self.d().spec_version()
                ),
            };
            self.event(
                EventName::FoundAJobToTerminate,
                format!("Cancelling job {}: {why}", job.metadata.id),
                Some(job.metadata.id),
                None,
            )
            .await?;
        }
        let client = match observe::client_for_job(self.shared, job).await {
            Ok(c) => c,
            Err(_) => return Ok(Outcome::Waiting),
        };
        crash::point("cancel.before_flink");
        match client.cancel(&flink_job_id(job)).await {
            Ok(()) | Err(FlinkError::AlreadyTerminal { .. }) | Err(FlinkError::NotFound { .. }) => {
                Ok(Outcome::Waiting)
            }
            Err(e) => {
                debug!(error = %e, "cancel was not accepted yet");
                Ok(Outcome::Waiting)
            }
        }
    }

    /// Records a retained checkpoint of the job, once per location. Returns whether one was found.
    async fn record_retained_checkpoint(&self, job: &Job, client: Option<&FlinkClient>) -> R<bool> {
        let Some(found) = retained::find(client, job).await else {
            let retention = job
                .spec
                .flink_configuration
                .get("execution.checkpointing.externalized-checkpoint-retention")
                .map(String::as_str)
                .unwrap_or("not set (Flink's default keeps none)");
            self.event(
                EventName::NoRetainedCheckpoint,
                format!(
                    "Job {} left no retained checkpoint (execution.checkpointing.externalized-checkpoint-retention: {retention})",
                    job.metadata.id
                ),
                Some(job.metadata.id),
                None,
            )
            .await?;
            return Ok(false);
        };
        let key = stateplane_model::normalize_location(&found.location);
        let d = self.d();
        let existing = self
            .shared
            .store
            .savepoint_list(
                &d.metadata.namespace,
                &SavepointFilter {
                    job_id: Some(job.metadata.id),
                    ..Default::default()
                },
            )
            .await?;
        if existing
            .iter()
            .any(|s| s.location_key().as_deref() == Some(key.as_str()))
        {
            return Ok(true);
        }
        let mut sp = Savepoint::new(
            &d.metadata.namespace,
            d.metadata.id,
            SavepointOrigin::RetainedCheckpoint,
            SavepointState::Completed,
            Some(found.location.clone()),
        );
        sp.metadata.job_id = Some(job.metadata.id);
        sp.metadata.created_at = found.completed_at.min(now());
        if let Some(v) = job.spec_version() {
            sp.metadata
                .annotations
                .insert(SPEC_VERSION_ANNOTATION.into(), v.to_string());
        }
        self.shared.store.savepoint_create(&sp).await?;
        crash::point("end.after_retained_recorded");
        self.event(
            EventName::RecordedARetainedCheckpoint,
            format!(
                "Recorded retained checkpoint {} of job {} as savepoint {} (completed {})",
                found.location,
                job.metadata.id,
                sp.metadata.id,
                ts(found.completed_at)
            ),
            Some(job.metadata.id),
            Some(sp.metadata.id),
        )
        .await?;
        Ok(true)
    }

    async fn job_ended(&self, job: JobId, flink_state: FlinkJobState) -> R<Outcome> {
        let Some(job) = self.job(job) else {
            return Ok(Outcome::Progressed);
        };
        let client = observe::client_for_job(self.shared, job).await.ok();
        let stopping = job.status.state == JobState::Terminating;
        let (job_state, failure) = match flink_state {
            FlinkJobState::Finished if stopping => (JobState::Terminated, None),
            FlinkJobState::Finished => (JobState::Finished, None),
            FlinkJobState::Canceled if stopping => (JobState::Terminated, None),
            FlinkJobState::Canceled => (
                JobState::Failed,
                Some(Failure::new(
                    "JOB_CANCELLED_OUTSIDE",
                    "the job was cancelled outside stateplane",
                )),
            ),
            _ => {
                let cause = match &client {
                    Some(c) => c.job_exceptions(&flink_job_id(job)).await.ok().flatten(),
                    None => None,
                };
                let msg = match cause {
                    Some(c) => format!("the job failed in Flink: {c}"),
                    None => "the job failed in Flink".to_string(),
                };
                (JobState::Failed, Some(Failure::new("JOB_FAILED", msg)))
            }
        };
        if matches!(flink_state, FlinkJobState::Canceled | FlinkJobState::Failed) {
            self.record_retained_checkpoint(job, client.as_ref())
                .await?;
        }
        self.update_job(job, |j| {
            j.status.state = job_state;
            j.status.failure = failure.clone();
            j.metadata.terminated_at = Some(now());
            if let Some(s) = j.status.started.as_mut() {
                s.observed_flink_job_status = Some(flink_state.as_str().into());
                s.last_update_time = Some(now());
            }
        })
        .await?;
        crash::point("end.after_job_terminal");
        let id = job.metadata.id;
        let desired = self.d().spec.state;
        let new_state = match (job_state, desired) {
            (_, DesiredState::Cancelled) => DeploymentState::Cancelled,
            (JobState::Terminated, DesiredState::Suspended) => DeploymentState::Suspended,
            (JobState::Terminated, DesiredState::Running) => DeploymentState::Transitioning,
            (JobState::Finished, _) => DeploymentState::Finished,
            _ => DeploymentState::Failed,
        };
        let from = self.d().status.state;
        self.update_deployment(|d| {
            d.status.state = new_state;
            d.status.running = None;
            match new_state {
                DeploymentState::Failed | DeploymentState::Finished => {
                    Self::give_up(d);
                    d.status.failure = failure.clone();
                }
                _ => d.status.failure = None,
            }
        })
        .await?;
        match (job_state, new_state) {
            (JobState::Failed, _) => {
                let why = failure.as_ref().map(|f| f.message.clone()).unwrap_or_default();
                self.event(EventName::JobFailed, format!("Job {id} failed: {why}; the deployment is {new_state}"), Some(id), None)
                    .await?
            }
            (JobState::Finished, _) => {
                self.event(EventName::TransitionedToFinishedState, format!("Job {id} finished; the deployment is FINISHED"), Some(id), None)
                    .await?
            }
            (_, DeploymentState::Transitioning) => {
                self.event(EventName::AwaitingAJobToTerminate, format!("Job {id} stopped; starting the new template"), Some(id), None)
                    .await?
            }
            _ => {
                self.event(
                    EventName::StateTransitionIsCompleted,
                    format!("Job {id} stopped ({flink_state} in Flink); deployment is {new_state} (was {from})"),
                    Some(id),
                    None,
                )
                .await?
            }
        }
        Ok(Outcome::Progressed)
    }

    async fn job_vanished(&self, job: JobId) -> R<Outcome> {
        let Some(job) = self.job(job) else {
            return Ok(Outcome::Progressed);
        };
        let msg = format!(
            "job {} is no longer known to Flink (was the JobManager restarted without high availability?)",
            job.metadata.id
        );
        self.record_retained_checkpoint(job, None).await?;
        self.update_job(job, |j| {
            j.status.state = JobState::Failed;
            j.status.failure = Some(Failure::new("JOB_VANISHED", msg.clone()));
            j.metadata.terminated_at = Some(now());
        })
        .await?;
        let desired = self.d().spec.state;
        let new_state = if desired == DesiredState::Cancelled {
            DeploymentState::Cancelled
        } else {
            DeploymentState::Failed
        };
        self.update_deployment(|d| {
            d.status.state = new_state;
            d.status.running = None;
            if new_state == DeploymentState::Failed {
                Self::give_up(d);
                d.status.failure = Some(Failure::new("JOB_VANISHED", msg.clone()));
            }
        })
        .await?;
        self.event(
            EventName::TransitioningToFailedStateBecauseOfAMissingJob,
            format!("{msg}; the deployment is {new_state}"),
            Some(job.metadata.id),
            None,
        )
        .await?;
        Ok(Outcome::Progressed)
    }
}
