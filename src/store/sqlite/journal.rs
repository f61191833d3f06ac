//! Attempts and the audit log in SQLite: the append-mostly records. An
//! attempt is inserted as `started` before its gateway call and finished
//! after (design §5); rows still `started` or `ambiguous` are what the
//! reconciler settles.

use rusqlite::{Connection, Row, params};

use super::codec::{latency_from_sql, latency_to_sql, text_enum};
use super::exec;
use crate::domain::model::{Attempt, AttemptOutcome};
use crate::domain::store::{AttemptFinish, AuditEntry, StoreError};

const ATTEMPT_COLS: &str = "id, payment_id, gateway, operation, gateway_idempotency_key, amount, \
     outcome, provider_reference, error_code, latency_ms, created_at, updated_at";

/// A duplicate gateway idempotency key or an unknown payment is `Conflict`.
pub(super) fn insert_attempt(conn: &Connection, a: &Attempt) -> Result<(), StoreError> {
    exec(
        conn,
        &format!(
            "INSERT INTO attempts ({ATTEMPT_COLS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            a.id,
            a.payment_id,
            a.gateway,
            a.operation,
            a.gateway_idempotency_key,
            a.amount,
            a.outcome.as_str(),
            a.provider_reference,
            a.error_code,
            a.latency_ms.map(latency_to_sql),
            a.created_at,
            a.updated_at,
        ],
    )?;
    Ok(())
}

/// A provider reference learnt earlier (say, on a first ambiguous try) is
/// kept when this call did not return one. `at` (the store's clock, RFC
/// 3339) is the new `updated_at`.
pub(super) fn finish_attempt(
    conn: &Connection,
    f: &AttemptFinish,
    at: &str,
) -> Result<(), StoreError> {
    let changed = exec(
        conn,
        "UPDATE attempts SET outcome = ?2,
             provider_reference = COALESCE(?3, provider_reference),
             error_code = ?4, latency_ms = ?5, updated_at = ?6
         WHERE id = ?1",
        params![
            f.id,
            f.outcome.as_str(),
            f.provider_reference,
            f.error_code,
            latency_to_sql(f.latency_ms),
            at,
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn attempt_row(r: &Row<'_>) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        id: r.get(0)?,
        payment_id: r.get(1)?,
        gateway: r.get(2)?,
        operation: r.get(3)?,
        gateway_idempotency_key: r.get(4)?,
        amount: r.get(5)?,
        outcome: text_enum(r, 6, AttemptOutcome::parse)?,
        provider_reference: r.get(7)?,
        error_code: r.get(8)?,
        latency_ms: latency_from_sql(r, 9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

/// Oldest first, in insertion order when timestamps tie.
pub(super) fn list_attempts(
    conn: &Connection,
    payment_id: &str,
) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ATTEMPT_COLS} FROM attempts WHERE payment_id = ?1 ORDER BY created_at, rowid"
    ))?;
    let rows = stmt.query_map([payment_id], attempt_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// `at` is the store's clock, RFC 3339.
pub(super) fn append_audit(conn: &Connection, e: &AuditEntry, at: &str) -> Result<(), StoreError> {
    exec(
        conn,
        "INSERT INTO audit_log (at, kind, detail) VALUES (?3, ?1, ?2)",
        params![e.kind, super::codec::to_json(&e.detail)?, at],
    )?;
    Ok(())
}

/// The `limit` most recent entries, newest first.
pub(super) fn list_audit(conn: &Connection, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt =
        conn.prepare_cached("SELECT kind, detail FROM audit_log ORDER BY id DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit], |r| {
        Ok(AuditEntry {
            kind: r.get(0)?,
            detail: super::codec::json(r, 1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
