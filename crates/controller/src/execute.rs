//! Execution: performs one planned action, one module per family of actions, each writing the row
//! that names a side effect before performing it:
//!
//! - [`start`]: the Job row (STARTING, its id = the Flink job id) is committed before
//!   `POST /jars/…/run` with that id; after a crash the row is matched against Flink: adopted if Flink
//!   has it, submitted again (same id, so at most once) if not.
//! - [`savepoint`]: the Savepoint row (STARTED, its id = the Flink trigger id, its target directory)
//!   is committed before Flink is asked; a repeated trigger id is the same operation in Flink.
//! - [`stop`]: the Job row is marked TERMINATING (with the reason) before a stop or cancel is sent; a
//!   TERMINATING job is stopped again until Flink reports it ended.
//! - [`retained`]: retained checkpoints are recorded before the job row is marked terminal, and never
//!   twice for one location.
//! - [`storage`]: disposal (DELETING is written before storage is touched), retention, periodic
//!   savepoints.
//! - [`rescale`]: the rescale intent (spec version, per-vertex parallelism) is written on the job row
//!   before the resource requirements are sent; the job takes the new spec version only once Flink
//!   runs every vertex at it.
//! - [`rollback`]: a failed stateful upgrade's rollback is recorded on the deployment before its
//!   job is cancelled, and the job of the previous template is recorded before it is submitted.
//! - [`teardown`]: a deployment whose deletion waited for its snapshots' disposal.
//! - [`preflight`]: before a template change stops a job, Flink plans the new template (and, with
//!   chaining off, every operator of it; [`upgrade_state`] reads the state it would restore); a
//!   refusal keeps the job and is recorded.
//! - [`snapshot`]: a savepoint's summary row is written before the annotation that says it is there.
//! - [`status`]: the deployment's status and the failures that need no Flink.
//! - [`conditions`]: the running deployment's conditions (an event per change, then the status).
//!
//! The executor decides nothing: what Flink answers to a request it sends (a refused trigger or
//! submission) is returned as an [`Effect`] and planned. Each action writes each row at most once,
//! with compare-and-swap on the version it was planned from; a conflict ends the pass
//! ([`crate::error::Error::Conflict`]), and the next pass plans again from fresh rows. The writes of
//! an action are ordered so that stopping after any of them (a conflict, a crash) leaves rows from
//! which planning finds the remaining steps.

mod conditions;
mod context;
pub(crate) mod preflight;
mod rescale;
mod retained;
mod rollback;
mod savepoint;
pub(crate) mod snapshot;
mod start;
mod status;
mod stop;
mod storage;
mod teardown;
mod upgrade_state;

use stateplane_model::plan::Action;

pub(crate) use context::{Ctx, Effect};

use crate::error::Error;

/// Performs `action` (any but the planner's own `Steady`, `Observe`, `Wait` and `Backoff`, which the
/// pass handles).
pub(crate) async fn perform(x: &Ctx<'_>, action: Action) -> Result<Effect, Error> {
    match action {
        Action::Steady | Action::Observe { .. } | Action::Wait { .. } | Action::Backoff { .. } => {
            Ok(Effect::default())
        }
        Action::SetStatus { state } => status::set_status(x, state).await,
        Action::TargetMissing { message } => status::target_missing(x, message).await,
        Action::GateStart { message } => status::gate_start(x, message).await,
        Action::LiftGate { message } => status::lift_gate(x, message).await,
        Action::RefuseStart { decision } => status::refuse_start(x, decision).await,
        Action::SavepointsNotConfigured { job, operation } => {
            status::savepoints_not_configured(x, job, &operation).await
        }
        Action::StartJob { restore } => start::start_job(x, restore).await,
        Action::SubmitJob { job } => start::submit_recorded(x, job).await,
        Action::FailJobCreation {
            job,
            reason,
            gives_up,
        } => start::fail_job_creation(x, job, reason, gives_up).await,
        Action::MarkJobStarted { job } => start::mark_job_started(x, job).await,
        Action::TriggerSavepoint { savepoint } => savepoint::trigger(x, savepoint).await,
        Action::StopWithSavepoint { job, origin } => {
            savepoint::stop_with_savepoint(x, job, origin).await
        }
        Action::CompleteSavepoint {
            savepoint,
            location,
        } => savepoint::complete(x, savepoint, location).await,
        Action::FailSavepoint {
            savepoint,
            reason,
            stop,
        } => savepoint::fail(x, savepoint, reason, stop).await,
        Action::PlanUpgrade { job } => preflight::plan_upgrade(x, job).await,
        Action::UpgradeRefused {
            job,
            reason,
            message,
        } => preflight::upgrade_refused(x, job, reason, message).await,
        Action::MarkJobTerminating { job } => stop::mark_terminating(x, job).await,
        Action::Cancel { job, reason } => stop::cancel(x, job, reason).await,
        Action::JobEnded {
            job,
            flink_state,
            job_state,
            failure,
            retained,
        } => {
            let end = stop::End {
                job_state,
                failure,
                retained,
            };
            stop::job_ended(x, job, flink_state, end).await
        }
        Action::JobVanished {
            job,
            message,
            retained,
        } => stop::job_vanished(x, job, message, retained).await,
        Action::DeploymentEnded {
            job,
            deployment_state,
            failure,
        } => stop::deployment_ended(x, job, deployment_state, failure).await,
        Action::DisposeSavepoint { savepoint } => storage::dispose(x, savepoint).await,
        Action::DeleteDeployment => teardown::delete_deployment(x).await,
        Action::SummarizeSavepoint { savepoint } => snapshot::summarize(x, savepoint).await,
        Action::ExpireSavepoints { expired } => storage::expire(x, expired).await,
        Action::TriggerPeriodicSavepoint { job } => storage::periodic(x, job).await,
        Action::RescaleInPlace { job, parallelism } => rescale::start(x, job, parallelism).await,
        Action::CompleteRescale { job } => rescale::complete(x, job).await,
        Action::RescaleFallback { job, reason } => rescale::fallback(x, job, reason).await,
        Action::SetConditions { conditions } => conditions::set(x, conditions).await,
        Action::RollBack {
            job,
            previous,
            savepoint,
            cause,
        } => rollback::roll_back(x, job, previous, savepoint, cause).await,
        Action::StartPrevious { previous, restore } => {
            rollback::start_previous(x, previous, restore).await
        }
    }
}
