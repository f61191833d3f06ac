//! Inbound gateway events in SQLite (design §6, reliability B8): stored
//! before the ack under a unique `(gateway_id, provider_event_id)`, then
//! claimed under a lease by the apply workers. The lease lives in the row,
//! so it holds across connections and processes, and a worker that dies
//! mid-apply only delays its events until the lease runs out.

use rusqlite::{Connection, Row, params};

use super::exec;

use super::codec::text_enum;
use crate::domain::store::StoreError;
use crate::domain::store::events::{InboundEvent, InboundStatus};

const COLS: &str = "id, gateway_id, provider_event_id, payload, status, note, received_at";

fn event_row(r: &Row<'_>) -> rusqlite::Result<InboundEvent> {
    Ok(InboundEvent {
        id: r.get(0)?,
        gateway_id: r.get(1)?,
        provider_event_id: r.get(2)?,
        payload: r.get(3)?,
        status: text_enum(r, 4, InboundStatus::parse)?,
        note: r.get(5)?,
        received_at: r.get(6)?,
    })
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// One unit of work for the batch (an Adyen request carries several items):
/// the ack then covers all of them or none. A repeated
/// `(gateway_id, provider_event_id)`, in the batch or already stored, is
/// `false`; a clash on `id` alone is a caller bug and surfaces as `Conflict`.
pub(super) fn insert(
    conn: &Connection,
    events: &[InboundEvent],
    lease_secs: i64,
) -> Result<Vec<bool>, StoreError> {
    let mut fresh = Vec::with_capacity(events.len());
    {
        let mut stmt = conn.prepare_cached(&format!(
            "INSERT INTO inbound_events ({COLS}, lease_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (gateway_id, provider_event_id) DO NOTHING"
        ))?;
        for e in events {
            let lease_until = (lease_secs > 0).then(|| e.received_at.saturating_add(lease_secs));
            let n = stmt.execute(params![
                e.id,
                e.gateway_id,
                e.provider_event_id,
                e.payload,
                e.status.as_str(),
                e.note,
                e.received_at,
                lease_until,
            ])?;
            fresh.push(n == 1);
        }
    }
    Ok(fresh)
}

/// Selects and leases in one unit of work (an IMMEDIATE transaction), so two claimers (even
/// in two processes) never both take an event while its lease runs.
pub(super) fn claim(
    conn: &Connection,
    now: i64,
    limit: usize,
    lease_secs: i64,
) -> Result<Vec<InboundEvent>, StoreError> {
    let events = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM inbound_events
             WHERE status = 'received' AND (lease_until IS NULL OR lease_until <= ?1)
             ORDER BY received_at, rowid LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now, sql_limit(limit)], event_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    {
        let mut lease =
            conn.prepare_cached("UPDATE inbound_events SET lease_until = ?2 WHERE id = ?1")?;
        for e in &events {
            lease.execute(params![e.id, now.saturating_add(lease_secs)])?;
        }
    }
    Ok(events)
}

/// Oldest first, leased or not.
pub(super) fn list(
    conn: &Connection,
    status: InboundStatus,
    limit: usize,
) -> Result<Vec<InboundEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM inbound_events WHERE status = ?1
         ORDER BY received_at, rowid LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![status.as_str(), sql_limit(limit)], event_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Whether [`claim`] at `now` would find an event: a read, so that an idle
/// loop asks the writer for nothing.
pub(super) fn any_claimable(conn: &Connection, now: i64) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM inbound_events
         WHERE status = 'received' AND (lease_until IS NULL OR lease_until <= ?1))",
    )?;
    Ok(stmt.query_row([now], |r| r.get(0))?)
}

/// Whether [`requeue_orphans`] would move anything.
pub(super) fn any_orphans(conn: &Connection, older_than: i64) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM inbound_events
         WHERE status = 'orphan' AND COALESCE(processed_at, received_at) < ?1)",
    )?;
    Ok(stmt.query_row([older_than], |r| r.get(0))?)
}

/// Whether any `received` event is leased.
pub(super) fn any_leased(conn: &Connection) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM inbound_events
         WHERE status = 'received' AND lease_until IS NOT NULL)",
    )?;
    Ok(stmt.query_row([], |r| r.get(0))?)
}

/// Every lease on a `received` event: only at startup, when no worker of
/// this file's one process is running yet.
pub(super) fn release_leases(conn: &Connection) -> Result<usize, StoreError> {
    exec(
        conn,
        "UPDATE inbound_events SET lease_until = NULL
         WHERE status = 'received' AND lease_until IS NOT NULL",
        [],
    )
}

/// Orphans judged before `older_than` (by `processed_at`; `received_at` for
/// one stored as an orphan outright) go back to
/// `received`, so a payment that got its provider reference since is found
/// on the next pass, while a fresh orphan is not retried at once.
pub(super) fn requeue_orphans(conn: &Connection, older_than: i64) -> Result<usize, StoreError> {
    let n = exec(
        conn,
        "UPDATE inbound_events SET status = 'received', lease_until = NULL
         WHERE status = 'orphan' AND COALESCE(processed_at, received_at) < ?1",
        [older_than],
    )?;
    Ok(n)
}

/// Settles a `received` event. One already settled (say by a second worker
/// that claimed it after this one's lease ran out) is `Conflict`, so the [`crate::domain::store::events::Commit`] around it rolls back
/// and an event is applied at most once; a missing one is `NotFound`.
pub(super) fn mark(
    conn: &Connection,
    id: &str,
    status: InboundStatus,
    note: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let changed = exec(
        conn,
        "UPDATE inbound_events SET status = ?2, note = ?3, processed_at = ?4, lease_until = NULL
         WHERE id = ?1 AND status = 'received'",
        params![id, status.as_str(), note, now],
    )?;
    if changed == 1 {
        return Ok(());
    }
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM inbound_events WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))?;
    if exists {
        Err(StoreError::Conflict(format!(
            "inbound event {id} was already processed"
        )))
    } else {
        Err(StoreError::NotFound)
    }
}
