//! Recording a retained checkpoint of an ended job as a savepoint (origin RETAINED_CHECKPOINT, created
//! at the checkpoint's completion, annotated with the spec version the job ran), or saying in an event
//! that there is none. Finding it is the observer's (`observe::retained`); whether it is recorded
//! already, the planner's.

use stateplane_model::plan::Retained;
use stateplane_model::{
    now, EventName, Job, Savepoint, SavepointOrigin, SavepointState, SPEC_VERSION_ANNOTATION,
};

use super::context::{ts, Ctx};
use crate::crash;
use crate::error::Error;

pub(super) async fn record(x: &Ctx<'_>, job: &Job, retained: &Retained) -> Result<(), Error> {
    let d = x.d();
    let (location, completed_at, note) = match retained {
        Retained::NotApplicable | Retained::AlreadyRecorded => return Ok(()),
        Retained::NoneFound { why } => {
            return x
                .event(
                    EventName::NoRetainedCheckpoint,
                    format!(
                        "Job {} left no retained checkpoint ({why})",
                        job.metadata.id
                    ),
                    Some(job.metadata.id),
                    None,
                )
                .await
        }
        Retained::Record {
            location,
            completed_at,
            note,
        } => (location, *completed_at, note),
    };
    let mut sp = Savepoint::new(
        &d.metadata.namespace,
        d.metadata.id,
        SavepointOrigin::RetainedCheckpoint,
        SavepointState::Completed,
        Some(location.clone()),
    );
    sp.metadata.job_id = Some(job.metadata.id);
    sp.metadata.created_at = completed_at.min(now());
    if let Some(v) = job.spec_version() {
        sp.metadata
            .annotations
            .insert(SPEC_VERSION_ANNOTATION.into(), v.to_string());
    }
    x.shared
        .store
        .savepoint_create(&sp)
        .await
        .map_err(Error::Store)?;
    crash::point("end.after_retained_recorded");
    let note = note
        .as_deref()
        .map(|n| format!("; {n}"))
        .unwrap_or_default();
    x.event(
        EventName::RecordedARetainedCheckpoint,
        format!(
            "Recorded retained checkpoint {location} of job {} as savepoint {} (completed {}){note}",
            job.metadata.id,
            sp.metadata.id,
            ts(completed_at)
        ),
        Some(job.metadata.id),
        Some(sp.metadata.id),
    )
    .await
}
