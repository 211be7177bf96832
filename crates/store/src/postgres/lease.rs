//! The leader lease: of several stateplane replicas on one database, exactly one runs the controller.
//!
//! # Why an advisory lock
//! The lease is a PostgreSQL *session* advisory lock ([`CONTROLLER_LOCK_KEY`]) held on a dedicated
//! connection, not a lease row with an expiry:
//! - it is released by the server the moment the holder's session ends. A leader killed with `kill -9`
//!   (or crashing) has its socket closed by the kernel, the server ends the session at once, and a waiting
//!   replica, which retries every [`RETRY_EVERY`], gets the lock within about a second and starts the
//!   controller [`TAKEOVER_GRACE`] later: no expiry to wait for, nobody's clock to trust;
//! - holding it costs one `SELECT 1` per [`HEARTBEAT_EVERY`] on a connection that does nothing else.
//!
//! What a lock tied to a session needs is that both sides notice a session that died silently:
//! - this side: the heartbeat. When a `SELECT 1` fails or takes longer than [`HEARTBEAT_TIMEOUT`], the
//!   lease counts as lost *at once*: the controller's cancellation token is cancelled before anything
//!   else, the connection is dropped, and the replica goes back to waiting. It never runs a controller
//!   without a live session that holds the lock.
//! - the server side: the session sets TCP keepalives (a vanished host is dropped after about
//!   [`SERVER_DROPS_DEAD_CLIENT_AFTER`]) and `idle_session_timeout` (PostgreSQL 14+), so a leader that is
//!   frozen (stopped, paused VM) loses the lock after that long even though its kernel still answers
//!   keepalives. Both are longer than this side's detection, so a live leader always stops its controller
//!   before the server lets another replica take over.
//! - the one case where the server ends a session first is on purpose (an administrator's
//!   `pg_terminate_backend`, a server restart): the old leader's next heartbeat fails at once, at most
//!   [`HEARTBEAT_EVERY`] later, and the new leader waits [`TAKEOVER_GRACE`] (three heartbeats) after
//!   getting the lock before it starts the controller, so the old one has been told to stop by then.
//!
//! Cancelling the controller stops every deployment worker at its next step; a pass already under way
//! (one Flink call, one store write) finishes. If another replica takes over meanwhile, the two may
//! overlap by that one pass, which is safe for the same reason a `kill -9` is: every side effect is named
//! by a committed row first, Flink calls are idempotent by id (job id, savepoint trigger id), and every
//! store write is a compare-and-swap, so the slower of two writers gets a conflict and re-reads.
//!
//! Not for PgBouncer-style transaction pooling: a session lock needs a real session.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{Result, StoreError};

/// The advisory lock key of the controller lease ("statepln" in ASCII). Advisory locks are per
/// database, so each stateplane database has its own leader.
pub const CONTROLLER_LOCK_KEY: i64 = 0x7374_6174_6570_6c6e;

/// How often a replica that is not leader tries for the lease.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How often the leader checks that its session (and so the lock) is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
/// A heartbeat slower than this counts as a lost lease.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a new leader waits, heartbeating, before it starts the controller: three heartbeats of a
/// previous leader whose session the server ended (see the module docs).
pub const TAKEOVER_GRACE: Duration = Duration::from_millis(1500);
/// Roughly when the server ends the session of a leader that stopped talking (keepalives and
/// `idle_session_timeout`).
pub const SERVER_DROPS_DEAD_CLIENT_AFTER: Duration = Duration::from_secs(10);

/// Competes for the controller lease and runs a leader function while it holds it.
#[derive(Debug, Clone)]
pub struct LeaderLease {
    options: PgConnectOptions,
}

impl LeaderLease {
    /// A lease on the database at `url` (the same URL the store connects to).
    pub fn new(url: &str) -> Result<LeaderLease> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
        Ok(Self::with_options(options))
    }

    pub fn with_options(options: PgConnectOptions) -> LeaderLease {
        let keepalive_idle = (SERVER_DROPS_DEAD_CLIENT_AFTER.as_secs() / 2).to_string();
        let options = options.application_name("stateplane-leader").options([
            ("tcp_keepalives_idle", keepalive_idle.as_str()),
            ("tcp_keepalives_interval", "1"),
            ("tcp_keepalives_count", "5"),
        ]);
        LeaderLease { options }
    }

    /// Until `shutdown` is cancelled: waits for the lease, and while holding it runs `lead` with a
    /// token that is cancelled when the lease is lost (or at shutdown). `lead`'s future must end soon
    /// after its token is cancelled; then the lease is released (or, if lost, given up) and, unless
    /// shutting down, competed for again.
    pub async fn run<F, Fut>(&self, shutdown: CancellationToken, mut lead: F)
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut conn: Option<PgConnection> = None;
        let mut said_waiting = false;
        while !shutdown.is_cancelled() {
            match self.try_acquire(&mut conn).await {
                Ok(true) => {
                    said_waiting = false;
                    if let Some(c) = conn.as_mut() {
                        info!(grace = ?TAKEOVER_GRACE, "leader lease acquired");
                        // A previous leader whose session the server ended has noticed by the end of
                        // the grace (its next heartbeat fails) and stopped its controller.
                        let graced = tokio::select! {
                            _ = shutdown.cancelled() => break,
                            r = heartbeat(c, Some(TAKEOVER_GRACE)) => r,
                        };
                        match graced {
                            Ok(()) => {
                                info!("this replica runs the controller");
                                if let Some(reason) = lead_while_held(c, &shutdown, &mut lead).await
                                {
                                    warn!(%reason, "leader lease lost: controller stopped");
                                    conn = None;
                                } else {
                                    release(conn.take()).await;
                                    if !shutdown.is_cancelled() {
                                        warn!("the controller ended on its own; leader lease released");
                                    }
                                }
                            }
                            Err(reason) => {
                                warn!(%reason, "leader lease lost before the controller started");
                                conn = None;
                            }
                        }
                    }
                }
                Ok(false) => {
                    if !said_waiting {
                        info!("another replica holds the leader lease: this one serves the API and waits");
                        said_waiting = true;
                    }
                }
                Err(e) => {
                    warn!(error = %e, retry_in = ?RETRY_EVERY, "cannot try for the leader lease");
                    conn = None;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(RETRY_EVERY) => {}
            }
        }
        release(conn).await;
    }

    /// Tries once; connects first if needed. `Ok(true)`: this session holds the lock now.
    async fn try_acquire(&self, conn: &mut Option<PgConnection>) -> Result<bool, String> {
        if conn.is_none() {
            let mut c = tokio::time::timeout(HEARTBEAT_TIMEOUT * 3, self.options.connect())
                .await
                .map_err(|_| "connecting timed out".to_string())?
                .map_err(|e| e.to_string())?;
            let idle = format!(
                "SET idle_session_timeout = '{}s'",
                SERVER_DROPS_DEAD_CLIENT_AFTER.as_secs()
            );
            if let Err(e) = sqlx::query(&idle).execute(&mut c).await {
                // PostgreSQL before 14: the keepalives alone protect against a dead leader.
                tracing::debug!(error = %e, "idle_session_timeout not available");
            }
            *conn = Some(c);
        }
        let Some(c) = conn.as_mut() else {
            return Ok(false);
        };
        let locked = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(CONTROLLER_LOCK_KEY)
            .fetch_one(c);
        match tokio::time::timeout(HEARTBEAT_TIMEOUT, locked).await {
            Ok(Ok(locked)) => Ok(locked),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("trying for the lock timed out".into()),
        }
    }
}

/// Runs the leader until it ends (shutdown: `None`) or the lease is lost (`Some(why)`, after the
/// leader, cancelled first thing, has ended).
async fn lead_while_held<F, Fut>(
    conn: &mut PgConnection,
    shutdown: &CancellationToken,
    lead: &mut F,
) -> Option<String>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    let token = shutdown.child_token();
    let led = lead(token.clone());
    tokio::pin!(led);
    let lost = tokio::select! {
        _ = &mut led => return None,
        r = heartbeat(conn, None) => r.err(),
    };
    token.cancel();
    led.await;
    lost
}

/// Checks the session every [`HEARTBEAT_EVERY`]: `Err(why)` as soon as it can no longer be trusted to
/// be alive, `Ok` once `limit` has passed with every check good (never without a limit).
async fn heartbeat(conn: &mut PgConnection, limit: Option<Duration>) -> Result<(), String> {
    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        match tokio::time::timeout(
            HEARTBEAT_TIMEOUT,
            sqlx::query("SELECT 1").execute(&mut *conn),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("heartbeat failed: {e}")),
            Err(_) => return Err(format!("heartbeat took longer than {HEARTBEAT_TIMEOUT:?}")),
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            return Ok(());
        }
    }
}

/// Unlocks and closes politely, within a bound; dropping the connection releases the lock anyway.
async fn release(conn: Option<PgConnection>) {
    let Some(mut c) = conn else { return };
    let polite = async {
        let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut c)
            .await;
        let _ = c.close().await;
    };
    let _ = tokio::time::timeout(HEARTBEAT_TIMEOUT, polite).await;
}
