//! Deployment targets and their Flink version: the observer that writes each target's `status`, and
//! the gate that keeps a job from starting on a cluster of another Flink release line.
//!
//! The observer asks every target's cluster `GET /overview` every few seconds and whenever a target
//! changes, and writes `status` (Flink version, reachable, message) only when it changed or is a
//! minute old: a target write wakes every deployment worker, so it must stay rare. Every observation
//! also refreshes the Flink client's cached version, which decides the REST dialect of submissions.
//!
//! The gate runs in the reconcile pass of a deployment that would start a job (desired RUNNING, no
//! current job): when the deployment declares `spec.template.spec.artifact.flinkVersion` and its
//! target's cluster runs another release line (major.minor), the deployment becomes FAILED with
//! failure [`VERSION_MISMATCH`] and a `FAILED_CREATING_A_NEW_JOB` event, before anything reaches
//! Flink. The API refuses such a deployment already when it knows the target's version; this covers
//! the version learned later (a target created, upgraded or reachable only after the deployment).
//! The gate is level-triggered: a deployment it failed starts by itself once the versions agree
//! (the cluster now runs the declared release, or the deployment names another target or version).
//!
//! Nothing here is durable besides the target status and the deployment status it writes.

use std::sync::Arc;
use std::time::Duration;

use stateplane_flink::FlinkError;
use stateplane_model::{
    now, Deployment, DeploymentState, DeploymentTarget, DeploymentTargetStatus, DesiredState,
    Event, EventName, Failure,
};
use stateplane_store::{ResourceKind, StoreError};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::Shared;

/// How often every target is asked when nothing changes.
const OBSERVE_EVERY: Duration = Duration::from_secs(5);
/// An unchanged status is written again (new `observedAt`) when it is older than this.
const REFRESH_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// Per-call timeout of an observation: a slow cluster must not delay the others' next round.
const OVERVIEW_TIMEOUT: Duration = Duration::from_secs(3);
/// `status.failure.reason` of a deployment the gate failed.
pub(crate) const VERSION_MISMATCH: &str = "FLINK_VERSION_MISMATCH";

/// Observes every target until the controller is cancelled.
pub(crate) async fn run(shared: Arc<Shared>) {
    // Subscribe before the first listing, so no target created in between is missed.
    let mut changes = shared.store.changes();
    let mut tick = tokio::time::interval(OBSERVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let round = async {
            tokio::select! {
                _ = tick.tick() => observe_all(&shared).await,
                change = changes.recv() => match change {
                    Ok(c) if c.kind == ResourceKind::DeploymentTarget => {
                        observe_named(&shared, &c.namespace, &c.id).await
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => observe_all(&shared).await,
                    Err(RecvError::Closed) => return false,
                },
            }
            true
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            go_on = round => if !go_on { break },
        }
    }
    debug!("target observer stopped");
}

async fn observe_all(shared: &Arc<Shared>) {
    let namespaces = match shared.store.namespace_list().await {
        Ok(n) => n,
        Err(e) => return warn!(error = %e, "cannot list namespaces to observe deployment targets"),
    };
    let mut tasks = JoinSet::new();
    for ns in namespaces {
        match shared.store.target_list(&ns.metadata.name).await {
            Ok(targets) => {
                for t in targets {
                    tasks.spawn(observe_target(shared.clone(), t));
                }
            }
            Err(e) => {
                warn!(error = %e, namespace = %ns.metadata.name, "cannot list deployment targets")
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn observe_named(shared: &Arc<Shared>, namespace: &str, name: &str) {
    match shared.store.target_get(namespace, name).await {
        Ok(t) => observe_target(shared.clone(), t).await,
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => warn!(error = %e, target = name, "cannot read deployment target"),
    }
}

/// Asks the target's cluster for its version and records the answer when it is news.
async fn observe_target(shared: Arc<Shared>, target: DeploymentTarget) {
    let previous = target.status.as_ref();
    let answer = match shared.flink(&target.spec.flink_session_cluster.rest_url) {
        Ok(client) => client
            .with_timeout(OVERVIEW_TIMEOUT)
            .overview()
            .await
            .map(|o| o.flink_version),
        Err(e) => Err(e),
    };
    let observed = match answer {
        Ok(version) => DeploymentTargetStatus {
            flink_version: Some(version).filter(|v| !v.trim().is_empty()),
            observed_at: now(),
            reachable: true,
            message: None,
        },
        Err(e) => DeploymentTargetStatus {
            flink_version: previous.and_then(|s| s.flink_version.clone()),
            observed_at: now(),
            reachable: false,
            message: Some(e.to_string()),
        },
    };
    let news = match previous {
        None => true,
        Some(p) => {
            (&p.flink_version, p.reachable, &p.message)
                != (
                    &observed.flink_version,
                    observed.reachable,
                    &observed.message,
                )
                || observed.observed_at - p.observed_at > REFRESH_AFTER
        }
    };
    if !news {
        return;
    }
    if previous.and_then(|p| p.flink_version.as_ref()) != observed.flink_version.as_ref() {
        info!(
            target = %target.metadata.name,
            namespace = %target.metadata.namespace,
            version = observed.flink_version.as_deref().unwrap_or("unknown"),
            "deployment target reports a Flink version"
        );
    }
    let mut t = target.clone();
    t.status = Some(observed);
    match shared.store.target_update(&t).await {
        // A concurrent change (or a deleted target) wins; the next round looks again.
        Ok(_) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => {
            warn!(error = %e, target = %t.metadata.name, "cannot record deployment target status")
        }
    }
}

/// The gate described in the module docs, for a deployment without a current job. Returns the
/// deployment as stored when it changed its status, so the pass plans with it.
pub(crate) async fn gate_start(
    shared: &Shared,
    d: &Deployment,
) -> Result<Option<Deployment>, StoreError> {
    let failed_by_gate = d
        .status
        .failure
        .as_ref()
        .is_some_and(|f| f.reason == VERSION_MISMATCH);
    if d.spec.state != DesiredState::Running || (d.transition().gave_up && !failed_by_gate) {
        return Ok(None);
    }
    let declared = d.spec.template.spec.artifact.flink_version.as_deref();
    if declared.is_none() && !failed_by_gate {
        return Ok(None);
    }
    let name = d
        .spec
        .deployment_target_name
        .as_deref()
        .unwrap_or("default");
    let target = match shared.store.target_get(&d.metadata.namespace, name).await {
        Ok(t) => t,
        // A missing target is the start's own concern (it waits for one to be created).
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // The client's version is the freshest (cached, refreshed by the observer); the stored status
    // is the fallback when the cluster cannot be asked right now.
    let cluster_version = match shared.flink(&target.spec.flink_session_cluster.rest_url) {
        Ok(client) => match client.flink_version().await {
            Ok(v) => Some(v.to_string()),
            Err(e) => {
                log_unknown(&e);
                target.reported_flink_version().map(str::to_owned)
            }
        },
        Err(_) => target.reported_flink_version().map(str::to_owned),
    };
    match target.check_artifact_flink_version(declared, cluster_version.as_deref()) {
        Err(e) => {
            let message = format!("not starting a job: {e}");
            if failed_by_gate
                && d.status.state == DeploymentState::Failed
                && d.status.failure.as_ref().map(|f| &f.message) == Some(&message)
            {
                return Ok(None);
            }
            let stored = update_status(shared, d, |d| {
                let mut t = d.transition();
                t.gave_up = true;
                t.last_attempt_at = Some(now());
                d.status.transition = Some(t);
                d.status.state = DeploymentState::Failed;
                d.status.running = None;
                d.status.failure = Some(Failure::new(VERSION_MISMATCH, message.clone()));
            })
            .await?;
            event(shared, d, EventName::FailedCreatingANewJob, &message).await?;
            Ok(Some(stored))
        }
        // Lifted only on evidence: a version that now agrees, or no version declared any more.
        Ok(()) if failed_by_gate && (cluster_version.is_some() || declared.is_none()) => {
            let message = format!(
                "Flink versions agree now (artifact {}, deployment target '{name}' runs {}): the job can start",
                declared.unwrap_or("not declared"),
                cluster_version.as_deref().unwrap_or("an unknown version")
            );
            let stored = update_status(shared, d, |d| {
                d.status.transition = None;
                d.status.failure = None;
            })
            .await?;
            event(shared, d, EventName::StateTransitionIsNeeded, &message).await?;
            Ok(Some(stored))
        }
        Ok(()) => Ok(None),
    }
}

fn log_unknown(e: &FlinkError) {
    debug!(error = %e, "cannot ask the deployment target for its Flink version; using its status");
}

/// Changes the deployment's status with compare-and-swap, re-reading on conflicts.
async fn update_status(
    shared: &Shared,
    d: &Deployment,
    f: impl Fn(&mut Deployment),
) -> Result<Deployment, StoreError> {
    crate::cas::write(shared.store.as_ref(), d, f).await
}

async fn event(
    shared: &Shared,
    d: &Deployment,
    name: EventName,
    message: &str,
) -> Result<(), StoreError> {
    info!(event = %name, "{message}");
    let e = Event::new(&d.metadata.namespace, d.metadata.id, name, message);
    shared.store.event_append(&e).await?;
    Ok(())
}
