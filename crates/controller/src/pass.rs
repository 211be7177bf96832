//! One reconcile pass of one deployment: read the rows, plan, and then answer what the planner asks,
//! wait as the schedule says, or perform the action it decides — planning again after each step,
//! until the planner has nothing to do right now.
//!
//! Why a loop and not one action per pass: most steps only add an answer (Flink's view of the job, a
//! savepoint's status) and re-reading every row for each would cost more than the step. So a pass
//! keeps its [`Answers`] and reads the rows again only after it wrote some. What the pass guarantees:
//!
//! - every decision is the planner's; observing only reads; execution only performs;
//! - a row that changed under the pass (a conflict) ends it with [`Error::Conflict`]: the worker
//!   plans again from fresh rows, never re-applies a decision taken on stale ones;
//! - a change to the deployment (a nudge) during a wait ends the pass at once ([`Outcome::Again`]);
//! - a pass is bounded: at most [`MAX_STEPS`] steps and [`MAX_PASS`] of time, then the worker starts
//!   a fresh one; a wait the schedule wants longer than [`schedule::HAND_BACK_AFTER`] is the worker's.
//! - Flink's view of the job seen less than [`SEEN_FRESH_FOR`] ago by the previous pass, with nothing
//!   done to the job and no change to the deployment by anyone else since, is where the next pass
//!   starts: the pass that follows the announcement of this worker's own write (a savepoint's
//!   COMPLETED row) does not ask the JobManager again what it was just told. A pass that follows a
//!   wait of the schedule asks afresh.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use stateplane_model::plan::{
    self, Action, Answers, FlinkView, Observed, Operation, Poll, PollAsk,
};
use stateplane_model::{now, paths, DeploymentId, JobId, SavepointId, SavepointState};
use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::error::Error;
use crate::execute::{self, Ctx, Effect};
use crate::metrics;
use crate::observe::{self, Clients, Rows};
use crate::schedule::{self, History};
use crate::shared::Shared;

/// Steps of one pass at most (a deployment needs about ten for a whole suspend).
const MAX_STEPS: usize = 64;
/// One pass at most runs this long (a long savepoint is then followed by a fresh pass).
const MAX_PASS: Duration = Duration::from_secs(60);
/// How long Flink's view of a job seen by one pass is where the next pass starts (see the module docs).
/// It covers the change announcements of the pass's own writes: they arrive within milliseconds on a
/// quiet machine, but a busy one (a slow commit, a starved worker) has taken over half a second.
/// Younger than the look a steady deployment gets ([`crate::ControllerConfig::resync_interval`], 3 s),
/// so a view reused is never older than the one a steady job is judged by.
const SEEN_FRESH_FOR: Duration = Duration::from_secs(2);

/// What the worker does after a pass.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The deployment no longer exists.
    Gone,
    /// Plan again at once, from fresh rows (nudged during a wait, or the pass used its steps).
    Again,
    /// Sleep until `until` (unless nudged), then a fresh pass.
    Sleep { until: Instant },
    /// Nothing to do (`job_running`: there is a job to look at now and then).
    Steady { job_running: bool },
}

/// What a worker keeps between passes.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// How long this deployment's operations take.
    pub history: History,
    /// The wait the previous step was in, and when its operation was last seen still under way, to
    /// learn how long the operation took once it ends.
    pub waiting: Option<(Poll, DateTime<Utc>)>,
    /// The next pass follows a wait of the schedule: its first question to Flink is a poll and
    /// takes a permit of the cluster's budget.
    pub polled: bool,
    /// Flink's view of the job, last seen (see the module docs).
    pub seen: Option<Seen>,
}

/// Flink's view of one job (the job row's id and version, and the deployment row's version, it was
/// seen for), and when it was asked.
#[derive(Debug)]
pub(crate) struct Seen {
    job: JobId,
    version: i64,
    deployment_version: i64,
    view: FlinkView,
    at: Instant,
}

impl Memory {
    /// Notes Flink's view of the current job, asked at `at`.
    fn saw(&mut self, rows: &Rows, view: &FlinkView, at: Instant) {
        self.seen = match (rows.current_job(), view) {
            (Some(job), FlinkView::Job { .. }) => Some(Seen {
                job: job.metadata.id,
                version: job.metadata.resource_version,
                deployment_version: rows.deployment.metadata.resource_version,
                view: view.clone(),
                at,
            }),
            _ => None,
        };
    }

    /// The pass wrote rows (not touching the job in Flink): a view of its current job stays true of
    /// the rows as now read.
    fn wrote(&mut self, rows: &Rows) {
        match (self.seen.as_mut(), rows.current_job()) {
            (Some(seen), Some(job)) if seen.job == job.metadata.id => {
                seen.version = job.metadata.resource_version;
                seen.deployment_version = rows.deployment.metadata.resource_version;
            }
            _ => self.seen = None,
        }
    }

    /// The view the previous pass saw of this very job row, if fresh and nobody changed the
    /// deployment since (a user's change is always planned from a fresh look at the job). It stays
    /// remembered, with the time it was asked: a pass that starts from it and writes again is followed
    /// by one that may start from it too, while it is fresh.
    fn fresh_view(&mut self, rows: &Rows) -> Option<FlinkView> {
        let seen = self.seen.as_ref()?;
        let job = rows.current_job()?;
        let same = seen.job == job.metadata.id
            && seen.version == job.metadata.resource_version
            && seen.deployment_version == rows.deployment.metadata.resource_version;
        if !same || seen.at.elapsed() >= SEEN_FRESH_FOR {
            self.seen = None;
            return None;
        }
        Some(seen.view.clone())
    }
}

/// Runs one pass (see the module docs).
pub(crate) async fn run(
    shared: &Shared,
    namespace: &str,
    id: DeploymentId,
    memory: &mut Memory,
    nudge: &Notify,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let Some(mut rows) = observe::rows(shared, namespace, id).await? else {
        return Ok(Outcome::Gone);
    };
    memory.history.seed(&rows.savepoints);
    let mut answers = Answers::default();
    let mut clients = Clients::default();
    let mut current = current_job(&rows);
    let mut budgeted = std::mem::take(&mut memory.polled);
    if let Some(view) = memory.fresh_view(&rows).filter(|_| !budgeted) {
        answers.job = view;
    }
    let mut observed_in_a_row = 0;
    for _ in 0..MAX_STEPS {
        if started.elapsed() > MAX_PASS || shared.cancel.is_cancelled() {
            return Ok(Outcome::Again);
        }
        let triggered = triggered(shared, &rows);
        let action = plan::plan(&observed(shared, &rows, &answers, &triggered));
        debug!(?action, "planned");
        learn(memory, &action);
        metrics::action(action.name());
        match action {
            Action::Observe { ask } => {
                observed_in_a_row += 1;
                if observed_in_a_row > 8 {
                    // The planner keeps asking what was answered: a bug; do not spin on it.
                    warn!(
                        ?ask,
                        "the planner asks the same questions again; looking again later"
                    );
                    return Ok(sleep(Duration::from_secs(1)));
                }
                let at = Instant::now();
                observe::answer(shared, &rows, &mut clients, &ask, &mut answers, budgeted).await?;
                budgeted = false;
                if ask.job {
                    memory.saw(&rows, &answers.job, at);
                }
                if let FlinkView::Unreachable { .. } = &answers.job {
                    metrics::flink_error("unreachable");
                }
                continue;
            }
            Action::Steady => {
                return Ok(Outcome::Steady {
                    job_running: rows.current_job().is_some(),
                })
            }
            Action::Backoff { until } => {
                let wait = (until - now()).to_std().unwrap_or(Duration::ZERO);
                return Ok(sleep(wait.min(Duration::from_secs(60))));
            }
            Action::Wait { reason, poll } => {
                debug!(%reason, "waiting");
                let Some(poll) = poll else {
                    memory.polled = true;
                    return Ok(sleep(schedule::MAX_PERIOD));
                };
                let operation = poll.operation;
                let elapsed = (now() - poll.since).to_std().unwrap_or(Duration::ZERO);
                let wait = schedule::next_question(
                    operation,
                    memory.history.expected(operation),
                    elapsed,
                    schedule::jitter(),
                );
                if wait >= schedule::HAND_BACK_AFTER {
                    memory.polled = true;
                    return Ok(sleep(wait));
                }
                tokio::select! {
                    _ = nudge.notified() => return Ok(Outcome::Again),
                    _ = shared.cancel.cancelled() => return Ok(Outcome::Again),
                    _ = tokio::time::sleep(wait) => {}
                }
                let at = Instant::now();
                observe::poll(shared, &rows, &mut clients, poll.ask, &mut answers).await?;
                observed_in_a_row = 0;
                if matches!(poll.ask, PollAsk::Job | PollAsk::Tasks) {
                    memory.saw(&rows, &answers.job, at);
                }
                continue;
            }
            action => {
                observed_in_a_row = 0;
                if touches_job(&action) {
                    memory.seen = None;
                }
                let client = match client_for(shared, &rows, &mut clients, &action).await? {
                    Ok(c) => c,
                    Err(error) => {
                        // The job's target went away: that is what Flink's view of it now says.
                        answers.job = FlinkView::Unreachable { error };
                        continue;
                    }
                };
                let ctx = Ctx {
                    shared,
                    rows: &rows,
                    client: client.as_ref(),
                };
                let effect = execute::perform(&ctx, action).await?;
                if effect.steady {
                    return Ok(Outcome::Steady {
                        job_running: rows.current_job().is_some(),
                    });
                }
                if effect.wrote {
                    // A nudge already waiting is most likely about this write, which the rows read
                    // next include; one arriving later ends the next wait, which is only a fresh pass.
                    use futures::FutureExt;
                    let _ = nudge.notified().now_or_never();
                    let Some(r) = observe::rows(shared, namespace, id).await? else {
                        return Ok(Outcome::Gone);
                    };
                    rows = r;
                    memory.wrote(&rows);
                    let now_current = current_job(&rows);
                    if now_current != current {
                        // Another job: what was asked about the previous one says nothing about it.
                        let target = answers.target.take();
                        answers = Answers {
                            target,
                            ..Answers::default()
                        };
                        clients.forget_job();
                        current = now_current;
                    }
                }
                apply(&mut answers, effect);
            }
        }
    }
    Ok(Outcome::Again)
}

/// Whether an action changes what Flink would say about the job (a savepoint trigger does not, nor
/// does a write to the store or to storage).
fn touches_job(action: &Action) -> bool {
    matches!(
        action,
        Action::StartJob { .. }
            | Action::SubmitJob { .. }
            | Action::StopWithSavepoint { .. }
            | Action::Cancel { .. }
            | Action::RescaleInPlace { .. }
    )
}

fn sleep(wait: Duration) -> Outcome {
    Outcome::Sleep {
        until: Instant::now() + wait,
    }
}

fn current_job(rows: &Rows) -> Option<JobId> {
    rows.current_job().map(|j| j.metadata.id)
}

/// The savepoints of this deployment that this process has triggered and are still STARTED.
fn triggered(shared: &Shared, rows: &Rows) -> Vec<SavepointId> {
    rows.savepoints
        .iter()
        .filter(|s| s.status.state == SavepointState::Started && shared.triggered(s.metadata.id))
        .map(|s| s.metadata.id)
        .collect()
}

/// What `plan` looks at.
fn observed<'a>(
    shared: &Shared,
    rows: &'a Rows,
    answers: &'a Answers,
    triggered: &'a [SavepointId],
) -> Observed<'a> {
    let blob = shared.config.blob_storage_uri.as_deref();
    Observed {
        deployment: &rows.deployment,
        current_job: rows.current_job(),
        last_job: rows.jobs.first(),
        savepoints: &rows.savepoints,
        savepoints_configured: paths::savepoint_base_dir(&rows.deployment, blob).is_some(),
        triggered,
        answers,
        now: now(),
    }
}

/// The Flink client an action talks to: a start's target's, or the current job's. `Ok(Err)`: the
/// job's target cannot be used.
async fn client_for(
    shared: &Shared,
    rows: &Rows,
    clients: &mut Clients,
    action: &Action,
) -> Result<Result<Option<stateplane_flink::FlinkClient>, String>, Error> {
    let needs_job_client = matches!(
        action,
        Action::TriggerSavepoint { .. }
            | Action::StopWithSavepoint { .. }
            | Action::Cancel { .. }
            | Action::SubmitJob { .. }
            | Action::RescaleInPlace { .. }
            | Action::PlanUpgrade { .. }
    );
    if matches!(
        action,
        Action::StartJob { .. } | Action::StartPrevious { .. }
    ) {
        return Ok(Ok(clients.start.clone()));
    }
    match (needs_job_client, rows.current_job()) {
        (true, Some(job)) => Ok(clients.job(shared, job).await?.map(Some)),
        _ => Ok(Ok(None)),
    }
}

/// Adds what an action's effect tells to the pass's answers.
fn apply(answers: &mut Answers, effect: Effect) {
    if effect.job_changed {
        answers.job = FlinkView::NotAsked;
    }
    if let Some(s) = effect.savepoint {
        answers.savepoint = Some(s);
    }
    if let Some(r) = effect.submission_refused {
        answers.submission_refused = Some(r);
    }
    if let Some(p) = effect.preflight {
        answers.preflight = Some(p);
    }
    if let Some(j) = effect.cancel_sent {
        answers.cancel_sent = Some(j);
    }
    if effect.rescale_sent {
        answers.rescale = None;
    }
    if let Some(r) = effect.rescale_refused {
        answers.rescale_refused = Some(r);
    }
}

/// Learns how long an operation took when the wait for it ends in an action (not a failure).
///
/// The end is only known to lie between the last answer that said "still under way" and the one
/// that said "done"; the midpoint is learned. (Learning the "done" answer's time would feed the
/// schedule's own lateness back into it: a first question asked too late makes the next one later.)
fn learn(memory: &mut Memory, action: &Action) {
    let now = now();
    match action {
        Action::Wait { poll: Some(p), .. } if p.operation != Operation::Flink => {
            // Planned from an answer that said "under way", just now.
            memory.waiting = Some((*p, now));
        }
        // Housekeeping (or a condition) between two answers about an operation says nothing about
        // its duration.
        Action::Observe { .. }
        | Action::Wait { .. }
        | Action::SummarizeSavepoint { .. }
        | Action::SetConditions { .. } => {}
        // A failure says nothing about how long the operation takes when it works.
        Action::FailSavepoint { .. }
        | Action::FailJobCreation { .. }
        | Action::JobVanished { .. }
        | Action::RescaleFallback { .. } => {
            memory.waiting = None;
        }
        _ => {
            if let Some((p, under_way)) = memory.waiting.take() {
                let end = under_way + (now - under_way) / 2;
                if let Ok(took) = (end - p.since).to_std() {
                    memory.history.record(p.operation, took);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplane_model::plan::FlinkJobState;
    use stateplane_model::{Deployment, Job, JobSpec};

    fn rows() -> Rows {
        let spec = serde_json::from_value(serde_json::json!({
            "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}}}
        }))
        .unwrap();
        let deployment = Deployment::new("default", "d", spec);
        let job_spec: JobSpec = serde_json::from_value(serde_json::json!({
            "artifact": {"kind": "JAR", "jarUri": "file:///a.jar"}
        }))
        .unwrap();
        let job = Job::new("default", deployment.metadata.id, "d", job_spec);
        Rows {
            deployment,
            jobs: vec![job],
            savepoints: vec![],
        }
    }

    fn running() -> FlinkView {
        FlinkView::Job {
            state: FlinkJobState::Running,
            all_tasks_running: true,
        }
    }

    #[test]
    fn a_view_is_reused_by_every_pass_while_fresh_and_nothing_changed() {
        let rows = rows();
        let mut m = Memory::default();
        m.saw(&rows, &running(), Instant::now());
        assert_eq!(m.fresh_view(&rows), Some(running()));
        // A pass that started from it and did not ask again leaves it for the next one.
        assert_eq!(m.fresh_view(&rows), Some(running()));
    }

    #[test]
    fn the_passes_own_writes_keep_the_view_and_anyone_elses_forget_it() {
        let mut rows = rows();
        let mut m = Memory::default();
        m.saw(&rows, &running(), Instant::now());
        // The pass wrote the job and the deployment (its status), then read them again.
        rows.jobs[0].metadata.resource_version += 1;
        rows.deployment.metadata.resource_version += 1;
        m.wrote(&rows);
        assert_eq!(m.fresh_view(&rows), Some(running()));
        // A user changed the deployment before the next pass: plan from a fresh look.
        rows.deployment.metadata.resource_version += 1;
        assert_eq!(m.fresh_view(&rows), None);
        assert!(m.seen.is_none(), "forgotten, not only skipped");
        // Nor is a view of the job reused once its row changed under the pass.
        let mut rows = self::rows();
        m.saw(&rows, &running(), Instant::now());
        rows.jobs[0].metadata.resource_version += 1;
        assert_eq!(m.fresh_view(&rows), None);
    }

    #[test]
    fn an_old_view_is_not_reused() {
        let rows = rows();
        let mut m = Memory::default();
        let long_ago = Instant::now()
            .checked_sub(SEEN_FRESH_FOR)
            .expect("a clock that has run longer than the freshness window");
        m.saw(&rows, &running(), long_ago);
        assert_eq!(m.fresh_view(&rows), None);
    }
}
