//! Coordination between replicas: leadership of singleton background roles
//! (session advisory locks on a connection of their own) and short leases
//! on single payments (rows of `payment_locks`).
//!
//! Leadership lives as long as its connection: the server releases a
//! session lock when the session ends, so a replica that dies or loses the
//! server hands the role on without any timeout of ours. The connection is
//! kept outside the pool, where recycling would hand the lock to unrelated
//! work or drop it silently.

use std::collections::HashSet;

use deadpool_postgres::{Client as PooledClient, GenericClient};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_postgres::Client;

use super::codec::col;
use super::connect::{Target, connect_one};
use super::steps::{CONFLICT, Step};
use super::{OP_TIMEOUT, timed_out};
use crate::domain::store::{PaymentLease, StoreError};

/// The leadership connection and the role keys it holds.
#[derive(Default)]
pub(super) struct Leadership {
    conn: Option<LeadConn>,
}

struct LeadConn {
    client: Client,
    task: JoinHandle<()>,
    held: HashSet<i64>,
    /// The server process of the session, which tests terminate.
    #[cfg_attr(not(test), allow(dead_code))]
    pid: i32,
}

impl Drop for LeadConn {
    /// Closing the socket ends the session, which releases its locks.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// True while this store holds `key`. A held lock is confirmed by a round
/// trip on its session; if that fails the session (and so the lock) is
/// gone: the connection is dropped, the answer is false, and the next call
/// connects afresh and tries again. `pg_try_advisory_lock` is never
/// repeated for a held key, as session locks stack.
pub(super) async fn try_lead(
    state: &Mutex<Leadership>,
    target: &Target,
    key: i64,
) -> Result<bool, StoreError> {
    let mut state = state.lock().await;
    if let Some(conn) = &state.conn
        && conn.held.contains(&key)
    {
        let alive = !conn.client.is_closed()
            && matches!(
                timeout(OP_TIMEOUT, conn.client.simple_query("SELECT 1")).await,
                Ok(Ok(_))
            );
        if !alive {
            tracing::warn!("leadership session lost; leadership given up");
            state.conn = None;
        }
        return Ok(alive);
    }
    if state.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
        state.conn = None;
        state.conn = Some(open_session(target).await?);
    }
    let Some(conn) = state.conn.as_mut() else {
        return Ok(false);
    };
    let attempt = timeout(
        OP_TIMEOUT,
        conn.client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key]),
    )
    .await;
    match attempt {
        Ok(Ok(row)) => {
            let got: bool = col(&row, 0)?;
            if got {
                conn.held.insert(key);
            }
            Ok(got)
        }
        Ok(Err(e)) => {
            state.conn = None;
            Err(e.into())
        }
        Err(_) => {
            state.conn = None;
            Err(timed_out())
        }
    }
}

async fn open_session(target: &Target) -> Result<LeadConn, StoreError> {
    let (client, task) = timeout(OP_TIMEOUT, connect_one(target))
        .await
        .map_err(|_| timed_out())??;
    let pid = match timeout(OP_TIMEOUT, client.query_one("SELECT pg_backend_pid()", &[])).await {
        Ok(Ok(row)) => col(&row, 0),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(timed_out()),
    };
    match pid {
        Ok(pid) => Ok(LeadConn {
            client,
            task,
            held: HashSet::new(),
            pid,
        }),
        Err(e) => {
            task.abort();
            Err(e)
        }
    }
}

/// The server pid of the leadership session, if one is open.
#[cfg(test)]
pub(super) async fn session_pid(state: &Mutex<Leadership>) -> Option<i32> {
    state.lock().await.conn.as_ref().map(|c| c.pid)
}

/// The lease upsert (`$1` payment, `$2` holder, `$3` until, `$4` now): it
/// replaces the row only when it is this holder's or has expired; a
/// concurrent taker waits for the row lock and then sees the winner's row,
/// so one holder wins.
const TAKE: &str = "INSERT INTO payment_locks (payment_id, holder, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (payment_id) DO UPDATE
         SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE payment_locks.holder = EXCLUDED.holder
            OR payment_locks.expires_at < $4::bigint";

const END: &str = "DELETE FROM payment_locks WHERE payment_id = $1 AND holder = $2";

/// Takes or renews the lease on `payment_id` until `now + ttl_secs`: true
/// if `holder` has it now.
pub(super) async fn lock_payment(
    c: &PooledClient,
    payment_id: &str,
    holder: &str,
    now: i64,
    ttl_secs: i64,
) -> Result<bool, StoreError> {
    let stmt = c.prepare_cached(TAKE).await?;
    let until = now.saturating_add(ttl_secs);
    let written = c
        .execute(&stmt, &[&payment_id, &holder, &until, &now])
        .await?;
    Ok(written == 1)
}

/// Ends `holder`'s lease; another holder's lease is left alone.
pub(super) async fn unlock_payment(
    c: &PooledClient,
    payment_id: &str,
    holder: &str,
) -> Result<(), StoreError> {
    let stmt = c.prepare_cached(END).await?;
    c.execute(&stmt, &[&payment_id, &holder]).await?;
    Ok(())
}

/// [`lock_payment`] as a step of a unit, which it aborts with `Conflict`
/// while another holder's lease runs.
pub(super) fn take_step(lease: &PaymentLease, now: i64) -> Step<'_> {
    Step::new(TAKE)
        .or_raise(CONFLICT, "the payment is leased by another writer")
        .arg(lease.payment_id.as_str())
        .arg(lease.holder.as_str())
        .arg(lease.until)
        .arg(now)
}

/// [`unlock_payment`] as a step of a unit.
pub(super) fn end_step(lease: &PaymentLease) -> Step<'_> {
    Step::new(END)
        .arg(lease.payment_id.as_str())
        .arg(lease.holder.as_str())
}
