//! Deployment targets and their Flink version: the observer that writes each target's `status`.
//!
//! It asks every target's cluster `GET /overview` every few seconds and whenever a target changes,
//! and writes `status` (Flink version, reachable, message) only when it changed or is a minute old: a
//! target write wakes every deployment worker, so it must stay rare. Every observation also refreshes
//! the Flink client's cached version, which decides the REST dialect of submissions and which the
//! Flink version gate (`stateplane_model::plan`, without a current job) compares with the
//! deployment's declared version.
//!
//! Nothing here is durable besides the target status it writes.

use std::sync::Arc;
use std::time::Duration;

use stateplane_model::{now, DeploymentTarget, DeploymentTargetStatus};
use stateplane_store::{ResourceKind, StoreError};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::shared::Shared;

/// How often every target is asked when nothing changes.
const OBSERVE_EVERY: Duration = Duration::from_secs(5);
/// An unchanged status is written again (new `observedAt`) when it is older than this.
const REFRESH_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// Per-call timeout of an observation: a slow cluster must not delay the others' next round.
const OVERVIEW_TIMEOUT: Duration = Duration::from_secs(3);

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
