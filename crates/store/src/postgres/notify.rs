//! Change notifications between replicas: `pg_notify` on write, one `LISTEN`ing connection per store.
//!
//! # Sending
//! Every write calls `pg_notify('stateplane_changes', payload)` in the statement or transaction that
//! writes (see `announced` and `notify_in` in the parent module), so PostgreSQL delivers it to every
//! listener exactly when the write commits and never when it rolls back. The payload is a small JSON
//! object: the [`Change`] plus the writing store's `origin` (a random id per [`super::PostgresStore`]).
//! Explicit calls rather than triggers, so the notifications are exactly the ones the SQLite store sends
//! (one per resource written, none for the children a cascade deletes, none for the jar cache).
//!
//! # Receiving
//! A task per store holds a dedicated connection (`application_name = stateplane-listener`) that
//! `LISTEN`s on the channel and re-broadcasts every change whose origin is another store into the local
//! channel that [`crate::Store::changes`] hands out. Changes of its own origin are skipped: they were
//! announced locally right after their commit, before the write returned.
//!
//! # A lost listener connection, and what subscribers get instead of the missed changes
//! Notifications sent while the listener is disconnected are lost for good: PostgreSQL keeps no
//! history. The task therefore checks its connection end to end: every [`PING_EVERY`] it notifies
//! itself through the main pool, and when a ping has gone unanswered for [`PING_TIMEOUT`] (or the
//! connection reports an error) it drops the connection, reconnects with backoff and `LISTEN`s again.
//!
//! Then it re-announces, as ordinary changes, what subscribers watch and may have missed: every
//! deployment (the controller spawns or nudges its worker, deployment long-polls re-read), every
//! deployment target (the target observer re-observes it), and every savepoint that is in flight now or
//! was at the listener's last check before the loss (savepoint long-polls wait for those to finish). The
//! state is read after `LISTEN` succeeded, so a change is either in that read or notified afterwards.
//!
//! Why not make receivers see `RecvError::Lagged` by sending more than the channel holds: a receiver
//! that is waiting in `recv` (the normal state of the controller and of long-polls) is woken by the
//! first send and drains the channel while it fills, so it never lags (tested, it happens most of the
//! time). Re-announcing is deterministic and needs nothing new from subscribers. If there are more
//! re-announcements than the channel holds, slow receivers do lag, and re-read everything, as the
//! [`crate::Store::changes`] contract says. Not covered: a savepoint created and finished entirely
//! inside the blind window (a long-poll on it ends at its timeout, with the resource as it is then).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use stateplane_model::DeploymentId;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::backend;
use crate::{Change, ResourceKind, Result};

/// The channel every stateplane replica of a database notifies and listens on.
pub const CHANNEL: &str = "stateplane_changes";

/// How often the listener checks its connection by notifying itself.
pub const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a ping may go unanswered before the connection is considered dead.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// What travels in a notification's payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
enum Message {
    Change {
        origin: Uuid,
        kind: String,
        namespace: String,
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployment_id: Option<DeploymentId>,
    },
    Ping {
        origin: Uuid,
        nonce: u64,
    },
}

/// The payload announcing `change`, written by the store `origin`.
pub(crate) fn payload(origin: Uuid, change: &Change) -> String {
    let m = Message::Change {
        origin,
        kind: kind_name(change.kind).to_string(),
        namespace: change.namespace.clone(),
        id: change.id.clone(),
        deployment_id: change.deployment_id,
    };
    // A struct of strings and a uuid always serialises.
    serde_json::to_string(&m).unwrap_or_default()
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Namespace => "Namespace",
        ResourceKind::DeploymentDefaults => "DeploymentDefaults",
        ResourceKind::Deployment => "Deployment",
        ResourceKind::DeploymentTarget => "DeploymentTarget",
        ResourceKind::Savepoint => "Savepoint",
        ResourceKind::Job => "Job",
        ResourceKind::Event => "Event",
        ResourceKind::SecretValue => "SecretValue",
    }
}

fn kind_from_name(name: &str) -> Option<ResourceKind> {
    Some(match name {
        "Namespace" => ResourceKind::Namespace,
        "DeploymentDefaults" => ResourceKind::DeploymentDefaults,
        "Deployment" => ResourceKind::Deployment,
        "DeploymentTarget" => ResourceKind::DeploymentTarget,
        "Savepoint" => ResourceKind::Savepoint,
        "Job" => ResourceKind::Job,
        "Event" => ResourceKind::Event,
        "SecretValue" => ResourceKind::SecretValue,
        _ => return None,
    })
}

/// Resources whose changes subscribers may have missed, to announce again after a reconnect.
#[derive(Debug, Default)]
struct Watched {
    changes: Vec<Change>,
}

impl Watched {
    /// Savepoints in flight now.
    async fn savepoints_in_flight(pool: &PgPool) -> std::result::Result<Watched, sqlx::Error> {
        let rows = sqlx::query_as::<_, (String, String, String)>(
            "SELECT namespace, id, deployment_id FROM savepoints
             WHERE state IN ('STARTED', 'PENDING_DELETION', 'DELETING')",
        )
        .fetch_all(pool)
        .await?;
        Ok(Watched {
            changes: rows
                .into_iter()
                .map(|(namespace, id, d)| Change {
                    kind: ResourceKind::Savepoint,
                    namespace,
                    id,
                    deployment_id: d.parse().ok(),
                })
                .collect(),
        })
    }

    /// Every deployment and deployment target, oldest first, and the savepoints in flight now.
    async fn everything(pool: &PgPool) -> std::result::Result<Watched, sqlx::Error> {
        let deployments = sqlx::query_as::<_, (String, String)>(
            "SELECT namespace, id FROM deployments ORDER BY created_at, id",
        )
        .fetch_all(pool)
        .await?;
        let targets = sqlx::query_as::<_, (String, String)>(
            "SELECT namespace, name FROM deployment_targets ORDER BY namespace, name",
        )
        .fetch_all(pool)
        .await?;
        let mut changes: Vec<Change> = deployments
            .into_iter()
            .map(|(namespace, id)| Change {
                kind: ResourceKind::Deployment,
                namespace,
                deployment_id: id.parse().ok(),
                id,
            })
            .collect();
        changes.extend(targets.into_iter().map(|(namespace, name)| Change {
            kind: ResourceKind::DeploymentTarget,
            namespace,
            id: name,
            deployment_id: None,
        }));
        changes.extend(Self::savepoints_in_flight(pool).await?.changes);
        Ok(Watched { changes })
    }

    /// Announces `self`, then those of `before` not in `self`.
    fn announce(self, before: &Watched, to: &broadcast::Sender<Change>) -> usize {
        let mut sent = 0;
        for c in self
            .changes
            .iter()
            .chain(before.changes.iter().filter(|b| !self.changes.contains(b)))
        {
            let _ = to.send(c.clone());
            sent += 1;
        }
        sent
    }
}

/// The listening task of one store (and its clones); aborted when dropped.
#[derive(Debug)]
pub(crate) struct ListenerTask {
    handle: JoinHandle<()>,
}

impl ListenerTask {
    /// Connects and `LISTEN`s (failing if that fails), then keeps listening in a task.
    pub(crate) async fn start(
        options: PgConnectOptions,
        pool: PgPool,
        origin: Uuid,
        changes: broadcast::Sender<Change>,
    ) -> Result<ListenerTask> {
        let first = listen(&options)
            .await
            .map_err(|e| backend("listen for changes", e))?;
        let handle = tokio::spawn(run(first, options, pool, origin, changes));
        Ok(ListenerTask { handle })
    }

    pub(crate) fn stop(&self) {
        self.handle.abort();
    }
}

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// A new connection of its own (a pool of one, so that a hung old connection never blocks the new
/// one) that listens on [`CHANNEL`].
async fn listen(options: &PgConnectOptions) -> std::result::Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    // A lost connection is reported (`Ok(None)`) and replaced here, not silently inside sqlx.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn run(
    mut listener: PgListener,
    options: PgConnectOptions,
    pool: PgPool,
    origin: Uuid,
    changes: broadcast::Sender<Change>,
) {
    let mut nonce = 0u64;
    // Savepoints in flight at the last check, re-announced after a loss even if they finished meanwhile.
    let mut checked = Watched::savepoints_in_flight(&pool)
        .await
        .unwrap_or_default();
    loop {
        serve(
            &mut listener,
            &pool,
            origin,
            &changes,
            &mut nonce,
            &mut checked,
        )
        .await;
        drop(listener);
        let mut wait = RECONNECT_MIN;
        let (l, now) = loop {
            // Listen first, read second: a change is in the read or notified after it.
            let attempt = async {
                let l = listen(&options).await?;
                let now = Watched::everything(&pool).await?;
                Ok::<_, sqlx::Error>((l, now))
            };
            match attempt.await {
                Ok(ok) => break ok,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot listen for other replicas' changes");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RECONNECT_MAX);
                }
            }
        };
        listener = l;
        let sent = now.announce(&checked, &changes);
        tracing::info!(
            re_announced = sent,
            "listening for other replicas' changes again; re-announced what may have been missed"
        );
        checked = Watched::savepoints_in_flight(&pool)
            .await
            .unwrap_or_default();
    }
}

/// Forwards notifications until the connection is lost or stops answering pings.
async fn serve(
    listener: &mut PgListener,
    pool: &PgPool,
    origin: Uuid,
    changes: &broadcast::Sender<Change>,
    nonce: &mut u64,
    checked: &mut Watched,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut unanswered: Option<(u64, Instant)> = None;
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(n)) => match serde_json::from_str::<Message>(n.payload()) {
                    Ok(Message::Change { origin: o, .. }) if o == origin => {}
                    Ok(Message::Change { kind, namespace, id, deployment_id, .. }) => {
                        match kind_from_name(&kind) {
                            Some(kind) => {
                                let _ = changes.send(Change { kind, namespace, id, deployment_id });
                            }
                            None => tracing::warn!(kind, "notification of an unknown kind ignored"),
                        }
                    }
                    Ok(Message::Ping { origin: o, nonce: n }) => {
                        if o == origin && unanswered.is_some_and(|(sent, _)| sent == n) {
                            unanswered = None;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, payload = n.payload(), "unreadable notification ignored"),
                },
                Ok(None) => {
                    tracing::warn!("lost the connection listening for other replicas' changes");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening for other replicas' changes failed");
                    return;
                }
            },
            _ = ping.tick() => {
                if let Some((_, since)) = unanswered {
                    if since.elapsed() >= PING_TIMEOUT {
                        tracing::warn!(after = ?since.elapsed(), "the change listener stopped answering; reconnecting");
                        return;
                    }
                    continue;
                }
                match tokio::time::timeout(PING_TIMEOUT, Watched::savepoints_in_flight(pool)).await {
                    Ok(Ok(now)) => *checked = now,
                    Ok(Err(e)) => tracing::debug!(error = %e, "cannot list savepoints in flight"),
                    Err(_) => tracing::debug!("listing savepoints in flight timed out"),
                }
                *nonce += 1;
                unanswered = Some((*nonce, Instant::now()));
                let m = Message::Ping { origin, nonce: *nonce };
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(serde_json::to_string(&m).unwrap_or_default())
                    .execute(pool);
                match tokio::time::timeout(PING_TIMEOUT, sent).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "cannot send the listener's ping"),
                    Err(_) => tracing::debug!("sending the listener's ping timed out"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_every_kind() {
        let origin = Uuid::new_v4();
        for kind in [
            ResourceKind::Namespace,
            ResourceKind::DeploymentDefaults,
            ResourceKind::Deployment,
            ResourceKind::DeploymentTarget,
            ResourceKind::Savepoint,
            ResourceKind::Job,
            ResourceKind::Event,
            ResourceKind::SecretValue,
        ] {
            for deployment_id in [None, Some(DeploymentId::new())] {
                let c = Change {
                    kind,
                    namespace: "team-a".into(),
                    id: "x".into(),
                    deployment_id,
                };
                let p = payload(origin, &c);
                assert!(p.len() < 8000, "PostgreSQL's payload limit");
                match serde_json::from_str::<Message>(&p).unwrap() {
                    Message::Change {
                        origin: o,
                        kind: k,
                        namespace,
                        id,
                        deployment_id: d,
                    } => {
                        assert_eq!(o, origin);
                        assert_eq!(
                            Change {
                                kind: kind_from_name(&k).unwrap(),
                                namespace,
                                id,
                                deployment_id: d
                            },
                            c
                        );
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
