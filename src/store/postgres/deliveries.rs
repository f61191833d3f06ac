//! The outbound delivery queue in PostgreSQL (design §6): merchant events
//! enqueued inside a [`crate::domain::store::events::Commit`], claimed when due and
//! updated after each try. A claim leases a delivery by pushing its
//! `next_attempt_at` forward, taking rows with `FOR UPDATE SKIP LOCKED`, so
//! senders on every replica share the queue without ever holding the same
//! delivery at once, and a sender that dies leaves it due again later.

use deadpool_postgres::Client;
use tokio_postgres::Row;

use super::codec::{Param, big, col, int, int_opt, text_enum};
use super::steps::Step;
use crate::domain::store::StoreError;
use crate::domain::store::events::{Delivery, DeliveryStatus};

const COLS: &str = "id, event_id, merchant_id, event_type, payload, status, attempts, \
     next_attempt_at, last_error, last_status, created_at, updated_at";

fn delivery_row(r: &Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: col(r, 0)?,
        event_id: col(r, 1)?,
        merchant_id: col(r, 2)?,
        event_type: col(r, 3)?,
        payload: col(r, 4)?,
        status: text_enum(r, 5, DeliveryStatus::parse)?,
        attempts: int::<i64, u32>(r, 6)?,
        next_attempt_at: col(r, 7)?,
        last_error: col(r, 8)?,
        last_status: int_opt::<i32, u16>(r, 9)?,
        created_at: col(r, 10)?,
        updated_at: col(r, 11)?,
    })
}

/// A duplicate id is `Conflict`.
pub(super) fn insert_step(d: &Delivery) -> Step<'_> {
    let sql = format!(
        "INSERT INTO outbound_deliveries ({COLS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    Step::new(sql)
        .arg(&d.id)
        .arg(&d.event_id)
        .arg(&d.merchant_id)
        .arg(&d.event_type)
        .arg(&d.payload)
        .arg(d.status.as_str())
        .arg(i64::from(d.attempts))
        .arg(d.next_attempt_at)
        .arg(&d.last_error)
        .arg(d.last_status.map(i32::from))
        .arg(&d.created_at)
        .arg(&d.updated_at)
}

/// Most overdue first. The returned deliveries carry the leased
/// `next_attempt_at`, as stored; the CTE keeps the due time they were
/// claimed by, for the order.
pub(super) async fn claim_due(
    c: &Client,
    now: i64,
    limit: usize,
    lease_secs: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "WITH due AS (
                 SELECT id, next_attempt_at AS due_at FROM outbound_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, created_at, seq
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             UPDATE outbound_deliveries d SET next_attempt_at = $2
             FROM due WHERE d.id = due.id
             RETURNING {}, due.due_at, d.seq",
            qualified("d")
        ))
        .await?;
    let until = now.saturating_add(lease_secs);
    let rows = c.query(&stmt, &[&now, &until, &big(limit)]).await?;
    let mut keyed = rows
        .iter()
        .map(|r| {
            let d = delivery_row(r)?;
            Ok((
                (col::<i64>(r, 12)?, d.created_at.clone(), col::<i64>(r, 13)?),
                d,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    keyed.sort_by(|(a, _), (b, _)| a.cmp(b));
    Ok(keyed.into_iter().map(|(_, d)| d).collect())
}

/// `COLS` with each name prefixed by a table alias.
fn qualified(alias: &str) -> String {
    COLS.split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes the outcome of a try: status, attempts, next try, last error and
/// HTTP status, updated_at. The event itself (ids, type, payload) is fixed.
pub(super) async fn update(c: &Client, d: &Delivery) -> Result<(), StoreError> {
    let stmt = c
        .prepare_cached(
            "UPDATE outbound_deliveries SET status = $2, attempts = $3, next_attempt_at = $4,
                 last_error = $5, last_status = $6, updated_at = $7
             WHERE id = $1",
        )
        .await?;
    let (attempts, last_status) = (i64::from(d.attempts), d.last_status.map(i32::from));
    let params: [Param<'_>; 7] = [
        &d.id,
        &d.status.as_str(),
        &attempts,
        &d.next_attempt_at,
        &d.last_error,
        &last_status,
        &d.updated_at,
    ];
    if c.execute(&stmt, &params).await? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn get(c: &Client, id: &str) -> Result<Option<Delivery>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLS} FROM outbound_deliveries WHERE id = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(delivery_row)
        .transpose()
}

/// Newest first, optionally of one status.
pub(super) async fn list(
    c: &Client,
    status: Option<DeliveryStatus>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    // Two statements rather than `$1 IS NULL OR ...`, which no index serves.
    let filter = if status.is_some() {
        "status = $1"
    } else {
        "$1::text IS NULL"
    };
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLS} FROM outbound_deliveries WHERE {filter}
             ORDER BY created_at DESC, seq DESC LIMIT $2"
        ))
        .await?;
    let status = status.map(DeliveryStatus::as_str);
    let rows = c.query(&stmt, &[&status, &big(limit)]).await?;
    rows.iter().map(delivery_row).collect()
}
