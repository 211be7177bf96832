//! Observation: one deployment's rows from the store and Flink's view of its current job.

use stateplane_flink::{FlinkClient, FlinkError, FlinkJobId};
use stateplane_model::plan::{FlinkJobState, FlinkView};
use stateplane_model::{Deployment, DeploymentId, Job, JobState, Savepoint, SavepointOrigin};
use stateplane_store::{JobFilter, SavepointFilter, StoreError};

use crate::Shared;

/// Owned snapshot of what a pass looks at.
pub(crate) struct World {
    pub deployment: Deployment,
    /// Newest first; the first non-terminal one is the current job.
    pub jobs: Vec<Job>,
    pub savepoints: Vec<Savepoint>,
    pub flink: FlinkView,
}

impl World {
    pub fn current_job(&self) -> Option<&Job> {
        self.jobs.iter().find(|j| !j.status.state.is_terminal())
    }
}

/// Reads the deployment (None when it is gone), its jobs and savepoints, and asks Flink about the
/// current job. Without a current job, first applies the Flink version gate ([`crate::targets`]),
/// which may mark the deployment FAILED before anything would be started.
pub(crate) async fn observe(
    shared: &Shared,
    namespace: &str,
    id: DeploymentId,
) -> Result<Option<World>, StoreError> {
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
        Err(e) => return Err(e),
    };
    let (jobs, savepoints) = (jobs?, savepoints?);
    let mut world = World {
        deployment,
        jobs,
        savepoints,
        flink: FlinkView::NotAsked,
    };
    if world.current_job().is_none() {
        if let Some(d) = crate::targets::gate_start(shared, &world.deployment).await? {
            world.deployment = d;
        }
    }
    if let Some(job) = world.current_job() {
        world.flink = match client_for_job(shared, job).await {
            Ok(client) => {
                let eager = eager_trigger(shared, &world, job);
                let (view, ()) = tokio::join!(
                    flink_view(&client, job),
                    trigger_eagerly(shared, &client, job, eager)
                );
                view
            }
            Err(error) => FlinkView::Unreachable { error },
        };
    }
    Ok(Some(world))
}

/// A savepoint someone asked for of the running job, next in line and not triggered by this process
/// yet: it is triggered while Flink is asked about the job instead of after (a savepoint takes Flink
/// ~100 ms here and the question a few ms). Safe because the row, whose id is the trigger id, is already
/// written, a repeated trigger id is the same operation in Flink, and whatever Flink answers (a job it
/// does not know, a job not running) the pass then plans with Flink's view as always.
fn eager_trigger<'w>(shared: &Shared, world: &'w World, job: &Job) -> Option<&'w Savepoint> {
    if job.status.state != JobState::Started {
        return None;
    }
    let sp = stateplane_model::plan::oldest_started(&world.savepoints, None)?;
    (sp.metadata.origin == SavepointOrigin::UserRequest
        && sp.metadata.job_id == Some(job.metadata.id)
        && !shared.triggered(sp.metadata.id))
    .then_some(sp)
}

async fn trigger_eagerly(shared: &Shared, client: &FlinkClient, job: &Job, sp: Option<&Savepoint>) {
    let Some(sp) = sp else { return };
    let Some(trigger) = crate::execute::savepoint_trigger(sp) else {
        return;
    };
    match client.trigger_savepoint(&flink_job_id(job), &trigger).await {
        Ok(_) => {
            shared.mark_triggered(sp.metadata.id);
            crate::crash::point("savepoint.after_trigger");
        }
        Err(e) => {
            tracing::debug!(error = %e, savepoint = %sp.metadata.id, "eager trigger not accepted")
        }
    }
}

/// The Flink client of the target a job was started on.
pub(crate) async fn client_for_job(shared: &Shared, job: &Job) -> Result<FlinkClient, String> {
    let target = job
        .spec
        .deployment_target_name
        .as_deref()
        .unwrap_or("default");
    client_for_target(shared, &job.metadata.namespace, target).await
}

/// The Flink client of a deployment target, or a sentence saying why there is none.
pub(crate) async fn client_for_target(
    shared: &Shared,
    namespace: &str,
    target: &str,
) -> Result<FlinkClient, String> {
    let t = match shared.store.target_get(namespace, target).await {
        Ok(t) => t,
        Err(StoreError::NotFound { .. }) => {
            return Err(format!(
                "deployment target '{target}' does not exist in namespace '{namespace}'"
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    shared
        .flink(&t.spec.flink_session_cluster.rest_url)
        .map_err(|e| e.to_string())
}

pub(crate) fn flink_job_id(job: &Job) -> FlinkJobId {
    FlinkJobId::from_uuid(job.metadata.id.uuid())
}

/// Flink's view of a job from the two endpoints the REST server does not cache (`/jobs/<id>/status`,
/// `/jobs/overview`): `/jobs/<id>` lags by up to 3 s, which would add seconds to every start and stop.
async fn flink_view(client: &FlinkClient, job: &Job) -> FlinkView {
    let id = flink_job_id(job);
    // While the job is being started, its tasks are asked about too, at the same time.
    let (status, overview) = if job.status.state == JobState::Starting {
        let (s, o) = tokio::join!(client.job_status(&id), client.jobs_overview());
        (s, Some(o))
    } else {
        (client.job_status(&id).await, None)
    };
    let state = match status {
        Ok(None) | Err(FlinkError::NotFound { .. }) => return FlinkView::Missing,
        Ok(Some(s)) => s,
        Err(e) => {
            return FlinkView::Unreachable {
                error: e.to_string(),
            }
        }
    };
    let mapped = map_state(&state);
    // Whether every task runs matters only while the job is being started.
    let all_tasks_running = match overview {
        Some(Ok(jobs)) => jobs
            .iter()
            .find(|j| j.id == id)
            .is_some_and(|j| j.all_tasks_running()),
        Some(Err(e)) if mapped == FlinkJobState::Running => {
            return FlinkView::Unreachable {
                error: e.to_string(),
            }
        }
        _ => true,
    };
    FlinkView::Job {
        state: mapped,
        all_tasks_running,
    }
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
