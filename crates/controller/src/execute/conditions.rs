//! The running deployment's conditions (`status.running.conditions`): one event per condition whose
//! status or reason changed, then the status that shows them (events first, as for every failure, so
//! whoever sees a condition finds its explanation). The planner decided the new list; this only
//! writes it, for the job it was planned for.

use stateplane_model::conditions::DeploymentCondition;
use stateplane_model::EventName;

use super::context::{Ctx, Effect};
use crate::error::Error;

pub(super) async fn set(
    x: &Ctx<'_>,
    conditions: Vec<DeploymentCondition>,
) -> Result<Effect, Error> {
    let Some(running) = x.d().status.running.clone() else {
        return Ok(Effect::default());
    };
    for c in conditions
        .iter()
        .filter(|c| !running.conditions.contains(c))
    {
        x.event(
            EventName::DeploymentConditionChanged,
            format!(
                "{} is {}{}: {}",
                c.kind,
                c.status,
                c.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                c.message.as_deref().unwrap_or("")
            ),
            Some(running.job_id),
            None,
        )
        .await?;
    }
    x.write_deployment(|d| {
        if let Some(r) = d
            .status
            .running
            .as_mut()
            .filter(|r| r.job_id == running.job_id)
        {
            r.conditions = conditions;
        }
    })
    .await?;
    Ok(Effect::wrote())
}
