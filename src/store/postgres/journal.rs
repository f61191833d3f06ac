//! Attempts and the audit log in PostgreSQL: the append-mostly records. An
//! attempt is inserted as `started` before its gateway call and finished
//! after (design §5); rows still `started` or `ambiguous` are what the
//! reconciler settles.

use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::Row;

use super::codec::{big, col, int_opt, json, text_enum, to_json};
use super::steps::{NOT_FOUND, Step};
use crate::domain::model::{Attempt, AttemptOutcome};
use crate::domain::store::{AttemptFinish, AuditEntry, StoreError};

const ATTEMPT_COLS: &str = "id, payment_id, gateway, operation, gateway_idempotency_key, amount, \
     outcome, provider_reference, error_code, latency_ms, created_at, updated_at";

/// A duplicate gateway idempotency key or an unknown payment is `Conflict`.
pub(super) async fn insert_attempt(c: &impl GenericClient, a: &Attempt) -> Result<(), StoreError> {
    insert_attempt_step(a).execute(c).await?;
    Ok(())
}

pub(super) fn insert_attempt_step(a: &Attempt) -> Step<'_> {
    let sql = format!(
        "INSERT INTO attempts ({ATTEMPT_COLS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    Step::new(sql)
        .arg(&a.id)
        .arg(&a.payment_id)
        .arg(&a.gateway)
        .arg(&a.operation)
        .arg(&a.gateway_idempotency_key)
        .arg(a.amount)
        .arg(a.outcome.as_str())
        .arg(&a.provider_reference)
        .arg(&a.error_code)
        .arg(a.latency_ms.map(big))
        .arg(&a.created_at)
        .arg(&a.updated_at)
}

/// No such attempt is `NotFound`.
/// `at` (the store's clock, RFC 3339) is the new `updated_at`.
pub(super) async fn finish_attempt(
    c: &impl GenericClient,
    f: &AttemptFinish,
    at: String,
) -> Result<(), StoreError> {
    finish_attempt_step(f, at).execute(c).await?;
    Ok(())
}

/// A provider reference learnt earlier (say, on a first ambiguous try) is
/// kept when this call did not return one. Raises `NotFound` in the
/// statement, so a unit with it writes nothing.
pub(super) fn finish_attempt_step(f: &AttemptFinish, at: String) -> Step<'_> {
    let sql = "UPDATE attempts SET outcome = $2,
             provider_reference = COALESCE($3, provider_reference),
             error_code = $4, latency_ms = $5, updated_at = $6
         WHERE id = $1";
    Step::new(sql)
        .or_raise(NOT_FOUND, "no such attempt")
        .arg(&f.id)
        .arg(f.outcome.as_str())
        .arg(&f.provider_reference)
        .arg(&f.error_code)
        .arg(big(f.latency_ms))
        .arg(at)
}

fn attempt_row(r: &Row) -> Result<Attempt, StoreError> {
    Ok(Attempt {
        id: col(r, 0)?,
        payment_id: col(r, 1)?,
        gateway: col(r, 2)?,
        operation: col(r, 3)?,
        gateway_idempotency_key: col(r, 4)?,
        amount: col(r, 5)?,
        outcome: text_enum(r, 6, AttemptOutcome::parse)?,
        provider_reference: col(r, 7)?,
        error_code: col(r, 8)?,
        latency_ms: int_opt::<i64, u64>(r, 9)?,
        created_at: col(r, 10)?,
        updated_at: col(r, 11)?,
    })
}

/// Oldest first, in insertion order when timestamps tie.
pub(super) async fn list_attempts(
    c: &Client,
    payment_id: &str,
) -> Result<Vec<Attempt>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ATTEMPT_COLS} FROM attempts WHERE payment_id = $1 ORDER BY created_at, seq"
        ))
        .await?;
    let rows = c.query(&stmt, &[&payment_id]).await?;
    rows.iter().map(attempt_row).collect()
}

/// `at` is the store's clock, RFC 3339.
pub(super) async fn append_audit(
    c: &impl GenericClient,
    e: &AuditEntry,
    at: String,
) -> Result<(), StoreError> {
    append_audit_step(e, at)?.execute(c).await?;
    Ok(())
}

pub(super) fn append_audit_step(e: &AuditEntry, at: String) -> Result<Step<'_>, StoreError> {
    let sql = "INSERT INTO audit_log (at, kind, detail) VALUES ($3, $1, $2)";
    Ok(Step::new(sql).arg(&e.kind).arg(to_json(&e.detail)?).arg(at))
}

/// The `limit` most recent entries, newest first.
pub(super) async fn list_audit(c: &Client, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    let stmt = c
        .prepare_cached("SELECT kind, detail FROM audit_log ORDER BY id DESC LIMIT $1")
        .await?;
    let rows = c.query(&stmt, &[&big(limit)]).await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                kind: col(r, 0)?,
                detail: json(r, 1)?,
            })
        })
        .collect()
}
