//! The controller: makes Flink match what deployments and savepoints ask for.
//!
//! It is the only writer of *what happened* (deployment status, jobs, events, savepoint completion);
//! the API only records *what should happen*. Each deployment has its own worker task, woken by the
//! store's change feed the moment the API writes (so an API change is acted on within milliseconds),
//! and by its own timer: while Flink works on something of ours, the one polling schedule
//! (`schedule`: adaptive to how long this deployment's operations take, jittered, within the
//! cluster's request budget); a few seconds while a job runs; nothing while idle. One deployment's slow
//! Flink call never blocks another's.
//!
//! Every pass is level-triggered (see `pass`): read the rows → `stateplane_model::plan::plan`
//! (pure) → answer the questions it asks (`observe`, reads only) or perform the one action it
//! decides (`execute`) → plan again. Every side effect is preceded by a committed row naming it, so
//! a controller killed at any line resumes the same work after a restart: it re-polls savepoints by
//! their trigger id, adopts jobs Flink already runs under the id it chose, and never starts a second
//! job. A row that changed under a pass (a resourceVersion conflict) ends the pass; the next one plans
//! again from fresh rows.
//!
//! Modules, each depending only on those listed before it: `error`, `crash`, `metrics`, `schedule`,
//! `shared`, `sql`, `artifacts`, `observe`, `execute`, `pass`, `preview`, `targets`, `worker`.

mod artifacts;
mod crash;
mod error;
mod execute;
pub mod metrics;
mod observe;
mod pass;
mod preview;
mod schedule;
mod secret_refs;
mod shared;
mod sql;
mod targets;
mod worker;

pub use preview::UpgradePreviewer;
pub use shared::ControllerConfig;
pub use stateplane_flink::BudgetConfig;
pub use worker::Controller;
