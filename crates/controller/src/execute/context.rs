//! What every action needs: the rows it was planned from, the Flink client it talks to, writes with
//! compare-and-swap, events; and the [`Effect`] it hands back to the pass.

use chrono::{DateTime, Utc};
use stateplane_flink::FlinkClient;
use stateplane_model::plan::{Refusal, SavepointView};
use stateplane_model::{now, Deployment, Event, EventName, Job, JobId, Savepoint, SavepointId};
use tracing::info;

use crate::error::Error;
use crate::observe::Rows;
use crate::shared::Shared;

/// What an action changed that the next planning step must know (beyond the rows it wrote).
#[derive(Debug, Default)]
pub(crate) struct Effect {
    /// Rows were written: read them again before planning.
    pub wrote: bool,
    /// What Flink said to the trigger (or stop) this action sent.
    pub savepoint: Option<(SavepointId, SavepointView)>,
    /// The submission this action made was refused (by Flink, or the jar could not be had).
    pub submission_refused: Option<(JobId, Refusal)>,
    /// This action changed the job in Flink (submitted, cancelled): its view must be asked again.
    pub job_changed: bool,
    /// This action sent the job's cancel.
    pub cancel_sent: Option<JobId>,
    /// Flink refused the resource requirements this action sent.
    pub rescale_refused: Option<(JobId, String)>,
    /// This action sent resource requirements: Flink's rescale view must be asked again.
    pub rescale_sent: bool,
    /// Flink's answer to planning the template of this spec version.
    pub preflight: Option<(u64, stateplane_model::plan::PreflightView)>,
    /// Nothing more to do in this pass.
    pub steady: bool,
}

impl Effect {
    pub fn wrote() -> Self {
        Self {
            wrote: true,
            ..Self::default()
        }
    }

    /// Wrote rows, and the job Flink runs (or will run) is another, or in another state.
    pub fn job_changed() -> Self {
        Self {
            job_changed: true,
            ..Self::wrote()
        }
    }
}

/// One action's view of the world: the rows it was planned from and the Flink client it talks to
/// (the current job's target's; for a start, the target's it starts on).
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    pub rows: &'a Rows,
    pub client: Option<&'a FlinkClient>,
}

impl Ctx<'_> {
    pub fn d(&self) -> &Deployment {
        &self.rows.deployment
    }

    /// A job the plan named (it is in the rows it was planned from).
    pub fn job(&self, id: JobId) -> Result<&Job, Error> {
        self.rows
            .job(id)
            .ok_or_else(|| Error::Conflict(format!("job {id} is not among the rows read")))
    }

    /// A savepoint the plan named.
    pub fn savepoint(&self, id: SavepointId) -> Result<&Savepoint, Error> {
        self.rows
            .savepoint(id)
            .ok_or_else(|| Error::Conflict(format!("savepoint {id} is not among the rows read")))
    }

    /// The Flink client of the action (the pass gives one to every action that talks to Flink).
    pub fn client(&self) -> Result<&FlinkClient, Error> {
        self.client.ok_or(Error::NoClient)
    }

    pub async fn event(
        &self,
        name: EventName,
        message: String,
        job: Option<JobId>,
        sp: Option<SavepointId>,
    ) -> Result<(), Error> {
        let d = self.d();
        info!(event = %name, job = ?job, savepoint = ?sp, "{message}");
        let mut e = Event::new(&d.metadata.namespace, d.metadata.id, name, message);
        e.metadata.job_id = job;
        e.metadata.savepoint_id = sp;
        self.shared
            .store
            .event_append(&e)
            .await
            .map_err(Error::Store)?;
        Ok(())
    }

    /// Writes the deployment's status as planned, on the version read (an attempts record about
    /// another desired state or spec version is dropped first). `f` only touches `status`.
    pub async fn write_deployment(
        &self,
        f: impl FnOnce(&mut Deployment),
    ) -> Result<Deployment, Error> {
        let mut d = self.d().clone();
        d.forget_stale_transition();
        f(&mut d);
        Ok(self.shared.store.deployment_update(&d).await?)
    }

    pub async fn write_job(&self, job: &Job, f: impl FnOnce(&mut Job)) -> Result<Job, Error> {
        let mut j = job.clone();
        f(&mut j);
        Ok(self.shared.store.job_update(&j).await?)
    }

    pub async fn write_savepoint(
        &self,
        sp: &Savepoint,
        f: impl FnOnce(&mut Savepoint),
    ) -> Result<Savepoint, Error> {
        let mut s = sp.clone();
        f(&mut s);
        Ok(self.shared.store.savepoint_update(&s).await?)
    }
}

/// Records a failed attempt of the current transition; returns whether the controller gives up.
pub(crate) fn count_attempt(d: &mut Deployment, savepoint: bool) -> bool {
    let mut t = d.transition();
    let (attempts, max) = if savepoint {
        t.savepoint_attempts += 1;
        (t.savepoint_attempts, d.spec.max_savepoint_creation_attempts)
    } else {
        t.job_attempts += 1;
        (t.job_attempts, d.spec.max_job_creation_attempts)
    };
    t.last_attempt_at = Some(now());
    t.gave_up = attempts >= max;
    let gave_up = t.gave_up;
    d.status.transition = Some(t);
    gave_up
}

/// Marks the current transition given up.
pub(crate) fn give_up(d: &mut Deployment) {
    let mut t = d.transition();
    t.gave_up = true;
    t.last_attempt_at = Some(now());
    d.status.transition = Some(t);
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
