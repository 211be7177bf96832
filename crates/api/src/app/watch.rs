//! Long-polls: answer as soon as a resource reaches one of the awaited states, or at the timeout with
//! the resource as it is then.
//!
//! The subscription to the store's change feed is taken *before* the first read, so a change committed
//! between the read and the wait cannot be missed. Only changes of the watched resource trigger a
//! re-read; a lagging receiver (changes dropped) re-reads too.

use std::future::Future;
use std::time::Duration;

use stateplane_store::{Change, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{sleep_until, Instant};

use crate::error::ApiResult;
use crate::Draining;

/// Reads with `read` until `done` holds, `timeout` passes or the server shuts down; returns the last read.
pub async fn until<T, R, Fut>(
    store: &dyn Store,
    relevant: impl Fn(&Change) -> bool,
    read: R,
    done: impl Fn(&T) -> bool,
    timeout: Duration,
    draining: Option<Draining>,
) -> ApiResult<T>
where
    R: Fn() -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    let mut changes = store.changes();
    let deadline = Instant::now() + timeout;
    let mut current = read().await?;
    let stop = async move {
        match draining {
            Some(d) => d.started().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    loop {
        if done(&current) {
            return Ok(current);
        }
        tokio::select! {
            change = changes.recv() => match change {
                Ok(c) if relevant(&c) => current = read().await?,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => current = read().await?,
                Err(RecvError::Closed) => {
                    sleep_until(deadline).await;
                    return read().await;
                }
            },
            _ = sleep_until(deadline) => return read().await,
            _ = &mut stop => return read().await,
        }
    }
}
