//! Observation: reads only. One deployment's rows from the store, and the answers to the questions
//! the planner asks ([`Ask`]) or a wait polls ([`PollAsk`]) from Flink, storage and the deployment
//! targets. Nothing here writes a row, triggers or stops anything: a transient failure to read the
//! store is an [`Error`] (the pass is retried), and whatever Flink or storage answer — including not
//! answering — is an answer for the planner (`FlinkView::Unreachable`, `SavepointView::Unreachable`,
//! ...), never a decision.

mod rescale;
mod retained;

use stateplane_flink::{FlinkClient, FlinkError, FlinkJobId, SavepointStatus, TriggerId};
use stateplane_model::plan::{
    Answers, Ask, CheckpointsView, FlinkJobState, FlinkView, PollAsk, SavepointView, TargetView,
};
use stateplane_model::{
    normalize_location, Deployment, DeploymentId, Job, JobState, Savepoint, SavepointId,
};
use stateplane_store::{JobFilter, SavepointFilter, StoreError};

use crate::error::Error;
use crate::shared::Shared;

/// One deployment's rows, as read at the start of a pass (and again after each write).
pub(crate) struct Rows {
    pub deployment: Deployment,
    /// Newest first; the first non-terminal one is the current job.
    pub jobs: Vec<Job>,
    pub savepoints: Vec<Savepoint>,
}

impl Rows {
    pub fn current_job(&self) -> Option<&Job> {
        self.jobs.iter().find(|j| !j.status.state.is_terminal())
    }

    pub fn job(&self, id: stateplane_model::JobId) -> Option<&Job> {
        self.jobs.iter().find(|j| j.metadata.id == id)
    }

    pub fn savepoint(&self, id: SavepointId) -> Option<&Savepoint> {
        self.savepoints.iter().find(|s| s.metadata.id == id)
    }
}

/// Reads the deployment (None when it is gone), its jobs and savepoints.
pub(crate) async fn rows(
    shared: &Shared,
    namespace: &str,
    id: DeploymentId,
) -> Result<Option<Rows>, Error> {
    let store = &shared.store;
    // Three independent reads, at the same time (the store serves reads in parallel).
    let job_filter = JobFilter {
        deployment_id: Some(id),
        limit: Some(8),
    };
    let savepoint_filter = SavepointFilter {
        deployment_id: Some(id),
        ..Default::default()
    };
    let (deployment, jobs, savepoints) = tokio::join!(
        store.deployment_get(namespace, id),
        store.job_list(namespace, &job_filter),
        store.savepoint_list(namespace, &savepoint_filter),
    );
    let deployment = match deployment {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(Error::Store(e)),
    };
    Ok(Some(Rows {
        deployment,
        jobs: jobs.map_err(Error::Store)?,
        savepoints: savepoints.map_err(Error::Store)?,
    }))
}

pub(crate) fn flink_job_id(job: &Job) -> FlinkJobId {
    FlinkJobId::from_uuid(job.metadata.id.uuid())
}

/// The Flink clients a pass talks to, looked up once per pass.
#[derive(Default)]
pub(crate) struct Clients {
    /// The client of the current job's target, or why there is none.
    job: Option<Result<FlinkClient, String>>,
    /// The client of the target a new job starts on (known once the target was observed).
    pub start: Option<FlinkClient>,
}

impl Clients {
    /// The client of the target `job` was started on, or a sentence saying why there is none. A store
    /// failure reading the target is an error, not a missing target.
    pub async fn job(
        &mut self,
        shared: &Shared,
        job: &Job,
    ) -> Result<Result<FlinkClient, String>, Error> {
        if let Some(c) = &self.job {
            return Ok(c.clone());
        }
        let name = job
            .spec
            .deployment_target_name
            .as_deref()
            .unwrap_or("default");
        let ns = &job.metadata.namespace;
        let c = match shared.store.target_get(ns, name).await {
            Ok(t) => shared
                .flink(&t.spec.flink_session_cluster.rest_url)
                .map_err(|e| e.to_string()),
            Err(StoreError::NotFound { .. }) => Err(format!(
                "deployment target '{name}' of job {} does not exist in namespace '{ns}'",
                job.metadata.id
            )),
            Err(e) => return Err(Error::Store(e)),
        };
        self.job = Some(c.clone());
        Ok(c)
    }

    /// Forgets the job's client (the current job changed).
    pub fn forget_job(&mut self) {
        self.job = None;
    }
}

/// Answers `ask` about the rows' current job and deployment into `answers`. `budgeted`: the first
/// Flink question takes a poll permit (the pass follows a wait).
pub(crate) async fn answer(
    shared: &Shared,
    rows: &Rows,
    clients: &mut Clients,
    ask: &Ask,
    answers: &mut Answers,
    budgeted: bool,
) -> Result<(), Error> {
    if let Some(name) = &ask.target {
        answers.target = Some(target(shared, &rows.deployment, name, clients).await?);
    }
    let Some(job) = rows.current_job() else {
        return Ok(());
    };
    let client = match clients.job(shared, job).await? {
        Ok(c) => c,
        Err(error) => {
            // Without a client every question about the job has the same answer.
            answers.job = FlinkView::Unreachable { error };
            return Ok(());
        }
    };
    if budgeted && (ask.job || ask.savepoint.is_some() || ask.rescale) {
        client.poll_permit().await;
    }
    let id = flink_job_id(job);
    let job_view = async {
        match ask.job {
            true => Some(flink_view(&client, job).await),
            false => None,
        }
    };
    let savepoint_view = async {
        match ask.savepoint {
            Some(sp) => Some((sp, savepoint_view(&client, &id, sp).await)),
            None => None,
        }
    };
    let (view, sp) = tokio::join!(job_view, savepoint_view);
    if let Some(view) = view {
        answers.job = view;
    }
    if sp.is_some() {
        answers.savepoint = sp;
    }
    if ask.rescale {
        answers.rescale = Some((job.metadata.id, rescale::view(&client, &id).await));
    }
    if ask.failure_cause {
        // One request answers both: the count says whether a new job keeps failing.
        let (failures, cause) = client.job_failures(&id).await.unwrap_or((0, None));
        answers.failure_cause = Some((job.metadata.id, cause));
        answers.failures = Some((job.metadata.id, failures));
    }
    if ask.checkpoints {
        answers.checkpoints = Some((job.metadata.id, checkpoints(shared, &client, job).await));
    }
    if ask.retained {
        let knows_job = matches!(answers.job, FlinkView::Job { .. });
        let found = retained::find(knows_job.then_some(&client), job).await;
        answers.retained = Some((job.metadata.id, found));
    }
    if let Some(sp_id) = ask.stop_savepoint_written {
        match stop_savepoint_written(&client, &id, rows.savepoint(sp_id)).await {
            Ok(written) => answers.stop_savepoint_written = Some((sp_id, written)),
            Err(e) => {
                answers.savepoint = Some((
                    sp_id,
                    SavepointView::Unreachable {
                        error: e.to_string(),
                    },
                ))
            }
        }
    }
    Ok(())
}

/// Asks the one question a wait polls (after a poll permit of the cluster's budget).
pub(crate) async fn poll(
    shared: &Shared,
    rows: &Rows,
    clients: &mut Clients,
    ask: PollAsk,
    answers: &mut Answers,
) -> Result<(), Error> {
    let Some(job) = rows.current_job() else {
        return Ok(());
    };
    let client = match clients.job(shared, job).await? {
        Ok(c) => c,
        Err(error) => {
            answers.job = FlinkView::Unreachable { error };
            return Ok(());
        }
    };
    client.poll_permit().await;
    let id = flink_job_id(job);
    // A new view of the job: the failures counted before may have grown.
    answers.failures = None;
    match ask {
        PollAsk::Job => answers.job = job_state(&client, &id).await,
        PollAsk::Tasks => {
            // `/jobs/overview` has the job's state and tasks in one uncached answer; a job it does not
            // list yet is asked about as a whole in the next step.
            answers.job = match client.jobs_overview().await {
                Ok(jobs) => match jobs.iter().find(|j| j.id == id) {
                    Some(j) => FlinkView::Job {
                        state: map_state(&j.state),
                        all_tasks_running: j.all_tasks_running(),
                    },
                    None => FlinkView::NotAsked,
                },
                Err(e) => FlinkView::Unreachable {
                    error: e.to_string(),
                },
            }
        }
        PollAsk::Savepoint(sp) => {
            answers.savepoint = Some((sp, savepoint_view(&client, &id, sp).await));
        }
        PollAsk::Rescale => {
            answers.rescale = Some((job.metadata.id, rescale::view(&client, &id).await));
        }
    }
    Ok(())
}

/// The deployment target a new job starts on, and its cluster's Flink version: the client's (cached,
/// refreshed by the target observer, asked with `GET /overview` when unknown), else the target's
/// recorded status.
async fn target(
    shared: &Shared,
    d: &Deployment,
    name: &str,
    clients: &mut Clients,
) -> Result<TargetView, Error> {
    let target = match shared.store.target_get(&d.metadata.namespace, name).await {
        Ok(t) => t,
        Err(StoreError::NotFound { .. }) => {
            return Ok(TargetView::Missing {
                name: name.to_string(),
            })
        }
        Err(e) => return Err(Error::Store(e)),
    };
    let client = match shared.flink(&target.spec.flink_session_cluster.rest_url) {
        Ok(c) => c,
        Err(e) => {
            return Ok(TargetView::Unusable {
                name: name.to_string(),
                error: e.to_string(),
            })
        }
    };
    let cluster_version = match client.flink_version().await {
        Ok(v) => Some(v.to_string()),
        Err(e) => {
            tracing::debug!(error = %e, "cannot ask the deployment target for its Flink version; using its status");
            target.reported_flink_version().map(str::to_owned)
        }
    };
    clients.start = Some(client);
    Ok(TargetView::Found {
        target: Box::new(target),
        cluster_version,
    })
}

/// Flink's view of a job from the two endpoints the REST server does not cache (`/jobs/<id>/status`,
/// `/jobs/overview`): `/jobs/<id>` lags by up to 3 s, which would add seconds to every start and stop.
async fn flink_view(client: &FlinkClient, job: &Job) -> FlinkView {
    let id = flink_job_id(job);
    if job.status.state != JobState::Starting {
        return job_state(client, &id).await;
    }
    // While the job is being started, its tasks are asked about too, at the same time.
    let (state, overview) = tokio::join!(job_state(client, &id), client.jobs_overview());
    match (state, overview) {
        (FlinkView::Job { state, .. }, Ok(jobs)) => FlinkView::Job {
            state,
            all_tasks_running: jobs
                .iter()
                .find(|j| j.id == id)
                .is_some_and(|j| j.all_tasks_running()),
        },
        (
            FlinkView::Job {
                state: FlinkJobState::Running,
                ..
            },
            Err(e),
        ) => FlinkView::Unreachable {
            error: e.to_string(),
        },
        (view, _) => view,
    }
}

/// The job's state (`/jobs/<id>/status`), tasks assumed running.
async fn job_state(client: &FlinkClient, id: &FlinkJobId) -> FlinkView {
    match client.job_status(id).await {
        Ok(None) | Err(FlinkError::NotFound { .. }) => FlinkView::Missing,
        Ok(Some(s)) => FlinkView::Job {
            state: map_state(&s),
            all_tasks_running: true,
        },
        Err(e) => FlinkView::Unreachable {
            error: e.to_string(),
        },
    }
}

async fn savepoint_view(client: &FlinkClient, job: &FlinkJobId, sp: SavepointId) -> SavepointView {
    let trigger = TriggerId::from_uuid(sp.uuid());
    match client.savepoint_status(job, &trigger).await {
        Ok(SavepointStatus::InProgress) => SavepointView::InProgress,
        Ok(SavepointStatus::Completed { location }) => SavepointView::Completed { location },
        Ok(SavepointStatus::Failed { root_cause }) => SavepointView::Failed { cause: root_cause },
        Err(FlinkError::NotFound { .. }) => SavepointView::Unknown,
        Err(e) => SavepointView::Unreachable {
            error: e.to_string(),
        },
    }
}

/// The job's checkpoint statistics for its conditions, from the cache while fresh (see
/// [`Shared::cached_checkpoints`]).
async fn checkpoints(shared: &Shared, client: &FlinkClient, job: &Job) -> CheckpointsView {
    if let Some(v) = shared.cached_checkpoints(job.metadata.id) {
        return v;
    }
    let at = |ms: Option<i64>| ms.and_then(chrono::DateTime::from_timestamp_millis);
    let view = match client.checkpoints(&flink_job_id(job)).await {
        Ok(stats) => CheckpointsView::Stats {
            latest_completed_at: stats
                .latest_completed
                .as_ref()
                .and_then(|c| at(c.latest_ack_timestamp_ms.or(c.trigger_timestamp_ms))),
            failed: stats.counts.failed,
            latest_failure: stats.latest_failed.and_then(|f| f.failure_message),
        },
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the job's checkpoint statistics");
            CheckpointsView::Unreachable
        }
    };
    shared.cache_checkpoints(job.metadata.id, view.clone());
    view
}

/// The savepoint Flink's checkpoint statistics say the job last wrote, when it lies in the savepoint
/// row's target directory (then it is the stop's).
async fn stop_savepoint_written(
    client: &FlinkClient,
    job: &FlinkJobId,
    sp: Option<&Savepoint>,
) -> Result<Option<String>, FlinkError> {
    let Some(target) = sp.and_then(|s| s.spec.savepoint_location.as_deref()) else {
        return Ok(None);
    };
    let stats = client.checkpoints(job).await?;
    let target = normalize_location(target);
    Ok(stats
        .latest_savepoint
        .and_then(|s| s.external_path)
        .filter(|p| normalize_location(p).starts_with(&target)))
}

pub(crate) fn map_state(s: &stateplane_flink::JobState) -> FlinkJobState {
    use stateplane_flink::JobState as F;
    match s {
        F::Initializing => FlinkJobState::Initializing,
        F::Created => FlinkJobState::Created,
        F::Running => FlinkJobState::Running,
        F::Failing => FlinkJobState::Failing,
        F::Failed => FlinkJobState::Failed,
        F::Cancelling => FlinkJobState::Cancelling,
        F::Canceled => FlinkJobState::Canceled,
        F::Finished => FlinkJobState::Finished,
        F::Restarting => FlinkJobState::Restarting,
        F::Suspended => FlinkJobState::Suspended,
        F::Reconciling => FlinkJobState::Reconciling,
        F::Unknown(_) => FlinkJobState::Unknown,
    }
}
