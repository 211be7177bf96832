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
//! # A lost listener connection, and the resync signal
//! Notifications sent while the listener is disconnected are lost for good: PostgreSQL keeps no
//! history. The task therefore checks its connection end to end: every [`PING_EVERY`] it notifies
//! itself through the main pool, and when a ping has gone unanswered for [`PING_TIMEOUT`] (or the
//! connection reports an error) it drops the connection, reconnects with backoff, `LISTEN`s again and
//! only then tells subscribers that they may have missed changes.
//!
//! It tells them through the contract they already follow: a receiver that falls behind sees
//! `RecvError::Lagged` and re-reads everything it watches. The task sends `CHANGE_CAPACITY + 1` copies
//! of a *wildcard* change (kind [`ResourceKind::DeploymentTarget`], empty namespace and id, no
//! deployment), which overflows every receiver that was not reading at that instant: its next `recv` is
//! `Lagged`. The channel is not replaced (receivers would see `Closed`, which stops the controller). A
//! receiver that happens to be draining the channel while the copies are sent may keep up and see the
//! copies instead of `Lagged`; the wildcard is chosen so that this still does the right thing for the
//! controller (a deployment-target change nudges every deployment worker), and every consumer is
//! level-triggered with a timer of its own (the controller re-lists deployments every 30 s, long-polls
//! end at their timeout), so a missed change costs latency, never correctness.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use stateplane_model::DeploymentId;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{backend, CHANGE_CAPACITY};
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
        _ => return None,
    })
}

/// The change subscribers receive when changes may have been missed (see the module docs).
pub fn wildcard() -> Change {
    Change {
        kind: ResourceKind::DeploymentTarget,
        namespace: String::new(),
        id: String::new(),
        deployment_id: None,
    }
}

/// Makes every receiver that is not reading right now see `Lagged` (see the module docs).
fn resync(changes: &broadcast::Sender<Change>) {
    let w = wildcard();
    for _ in 0..=CHANGE_CAPACITY {
        let _ = changes.send(w.clone());
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
    loop {
        serve(&mut listener, &pool, origin, &changes, &mut nonce).await;
        drop(listener);
        let mut wait = RECONNECT_MIN;
        listener = loop {
            match listen(&options).await {
                Ok(l) => break l,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot listen for other replicas' changes");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RECONNECT_MAX);
                }
            }
        };
        tracing::info!(
            "listening for other replicas' changes again; subscribers re-read everything"
        );
        resync(&changes);
    }
}

/// Forwards notifications until the connection is lost or stops answering pings.
async fn serve(
    listener: &mut PgListener,
    pool: &PgPool,
    origin: Uuid,
    changes: &broadcast::Sender<Change>,
    nonce: &mut u64,
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

    #[tokio::test]
    async fn resync_makes_an_idle_receiver_lag() {
        let (tx, mut rx) = broadcast::channel(CHANGE_CAPACITY);
        resync(&tx);
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        assert_eq!(rx.recv().await.unwrap(), wildcard());
    }
}
