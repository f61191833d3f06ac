//! The outbound delivery queue in SQLite (design §6): merchant events
//! enqueued inside a [`crate::domain::store::events::Commit`], claimed when due and
//! updated after each try. A claim leases a delivery by pushing its
//! `next_attempt_at` forward, so the queue needs no lock table: a sender
//! that crashes mid-send leaves the row due again when the lease ends
//! (at least once), and no two senders hold it at the same time.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::exec;

use super::codec::text_enum;
use crate::domain::store::StoreError;
use crate::domain::store::events::{Delivery, DeliveryStatus};

const COLS: &str = "id, event_id, merchant_id, event_type, payload, status, attempts, \
     next_attempt_at, last_error, last_status, created_at, updated_at";

fn delivery_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        event_id: r.get(1)?,
        merchant_id: r.get(2)?,
        event_type: r.get(3)?,
        payload: r.get(4)?,
        status: text_enum(r, 5, DeliveryStatus::parse)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        last_error: r.get(8)?,
        last_status: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A duplicate id is `Conflict`.
pub(super) fn insert(conn: &Connection, d: &Delivery) -> Result<(), StoreError> {
    exec(
        conn,
        &format!(
            "INSERT INTO outbound_deliveries ({COLS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            d.id,
            d.event_id,
            d.merchant_id,
            d.event_type,
            d.payload,
            d.status.as_str(),
            d.attempts,
            d.next_attempt_at,
            d.last_error,
            d.last_status,
            d.created_at,
            d.updated_at,
        ],
    )?;
    Ok(())
}

/// Whether [`claim_due`] at `now` would find a delivery: a read, so that
/// an idle loop asks the writer for nothing.
pub(super) fn any_due(conn: &Connection, now: i64) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbound_deliveries
         WHERE status = 'pending' AND next_attempt_at <= ?1)",
    )?;
    Ok(stmt.query_row([now], |r| r.get(0))?)
}

/// Most overdue first. The returned deliveries carry the leased
/// `next_attempt_at`, as stored.
pub(super) fn claim_due(
    conn: &Connection,
    now: i64,
    limit: usize,
    lease_secs: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let mut due = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM outbound_deliveries
             WHERE status = 'pending' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, created_at, rowid LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now, sql_limit(limit)], delivery_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let until = now.saturating_add(lease_secs);
    {
        let mut lease = conn
            .prepare_cached("UPDATE outbound_deliveries SET next_attempt_at = ?2 WHERE id = ?1")?;
        for d in &mut due {
            lease.execute(params![d.id, until])?;
            d.next_attempt_at = until;
        }
    }
    Ok(due)
}

/// Writes the outcome of a try: status, attempts, next try, last error and
/// HTTP status, updated_at. The event itself (ids, type, payload) is fixed.
pub(super) fn update(conn: &Connection, d: &Delivery) -> Result<(), StoreError> {
    let changed = exec(
        conn,
        "UPDATE outbound_deliveries SET status = ?2, attempts = ?3, next_attempt_at = ?4,
             last_error = ?5, last_status = ?6, updated_at = ?7
         WHERE id = ?1",
        params![
            d.id,
            d.status.as_str(),
            d.attempts,
            d.next_attempt_at,
            d.last_error,
            d.last_status,
            d.updated_at,
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<Delivery>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {COLS} FROM outbound_deliveries WHERE id = ?1"),
            [id],
            delivery_row,
        )
        .optional()?;
    Ok(found)
}

/// Newest first, optionally of one status.
pub(super) fn list(
    conn: &Connection,
    status: Option<DeliveryStatus>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    // Two statements rather than `?1 IS NULL OR ...`, which no index serves.
    let filter = if status.is_some() {
        "status = ?1"
    } else {
        "?1 IS NULL"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM outbound_deliveries WHERE {filter}
         ORDER BY created_at DESC, rowid DESC LIMIT ?2"
    ))?;
    let status = status.map(DeliveryStatus::as_str);
    let rows = stmt.query_map(params![status, sql_limit(limit)], delivery_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
