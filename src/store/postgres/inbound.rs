//! Inbound gateway events in PostgreSQL (design §6, reliability B8): stored
//! before the ack under a unique `(gateway_id, provider_event_id)`, then
//! claimed under a lease by the apply workers of every replica. The claim
//! takes rows with `FOR UPDATE SKIP LOCKED`, so two replicas claiming at
//! once never take the same event, and neither waits for the other.

use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::Row;

use super::codec::{Param, big, col, text_enum};
use super::steps::{CONFLICT, NOT_FOUND, Step};
use crate::domain::store::StoreError;
use crate::domain::store::events::{InboundEvent, InboundStatus};

const COLS: &str = "id, gateway_id, provider_event_id, payload, status, note, received_at";

fn event_row(r: &Row) -> Result<InboundEvent, StoreError> {
    Ok(InboundEvent {
        id: col(r, 0)?,
        gateway_id: col(r, 1)?,
        provider_event_id: col(r, 2)?,
        payload: col(r, 3)?,
        status: text_enum(r, 4, InboundStatus::parse)?,
        note: col(r, 5)?,
        received_at: col(r, 6)?,
    })
}

/// One transaction for the batch (an Adyen request carries several items):
/// the ack then covers all of them or none. A repeated
/// `(gateway_id, provider_event_id)`, in the batch or already stored (even
/// by another replica a moment ago: the insert waits for its commit), is
/// `false`; a clash on `id` alone is a caller bug and surfaces as `Conflict`.
pub(super) async fn insert(
    c: &mut Client,
    events: &[InboundEvent],
    lease_secs: i64,
) -> Result<Vec<bool>, StoreError> {
    let tx = c.transaction().await?;
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO inbound_events ({COLS}, lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (gateway_id, provider_event_id) DO NOTHING"
        ))
        .await?;
    let mut fresh = Vec::with_capacity(events.len());
    for e in events {
        let lease_until = (lease_secs > 0).then(|| e.received_at.saturating_add(lease_secs));
        let params: [Param<'_>; 8] = [
            &e.id,
            &e.gateway_id,
            &e.provider_event_id,
            &e.payload,
            &e.status.as_str(),
            &e.note,
            &e.received_at,
            &lease_until,
        ];
        fresh.push(tx.execute(&stmt, &params).await? == 1);
    }
    tx.commit().await?;
    Ok(fresh)
}

/// Selects and leases in one statement; rows another claimer holds locked
/// are skipped, and a row it leased and committed meanwhile is re-checked
/// against the lease condition before it is taken. Oldest first.
pub(super) async fn claim(
    c: &Client,
    now: i64,
    limit: usize,
    lease_secs: i64,
) -> Result<Vec<InboundEvent>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "UPDATE inbound_events SET lease_until = $2
             WHERE id IN (
                 SELECT id FROM inbound_events
                 WHERE status = 'received' AND (lease_until IS NULL OR lease_until <= $1)
                 ORDER BY received_at, seq
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING {COLS}, seq"
        ))
        .await?;
    let until = now.saturating_add(lease_secs);
    let rows = c.query(&stmt, &[&now, &until, &big(limit)]).await?;
    // RETURNING follows no order: restore the claim's.
    let mut keyed = rows
        .iter()
        .map(|r| Ok(((col::<i64>(r, 6)?, col::<i64>(r, 7)?), event_row(r)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    keyed.sort_by_key(|(k, _)| *k);
    Ok(keyed.into_iter().map(|(_, e)| e).collect())
}

/// Oldest first, leased or not.
pub(super) async fn list(
    c: &Client,
    status: InboundStatus,
    limit: usize,
) -> Result<Vec<InboundEvent>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLS} FROM inbound_events WHERE status = $1
             ORDER BY received_at, seq LIMIT $2"
        ))
        .await?;
    let rows = c.query(&stmt, &[&status.as_str(), &big(limit)]).await?;
    rows.iter().map(event_row).collect()
}

/// Orphans judged before `older_than` (by `processed_at`; `received_at` for
/// one stored as an orphan outright) go back to `received`, so a payment
/// that got its provider reference since is found on the next pass, while
/// a fresh orphan is not retried at once.
pub(super) async fn requeue_orphans(c: &Client, older_than: i64) -> Result<usize, StoreError> {
    let stmt = c
        .prepare_cached(
            "UPDATE inbound_events SET status = 'received', lease_until = NULL
             WHERE status = 'orphan' AND COALESCE(processed_at, received_at) < $1",
        )
        .await?;
    let n = c.execute(&stmt, &[&older_than]).await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Settles a `received` event. One already settled (say by a second worker
/// that claimed it after this one's lease ran out) is `Conflict`, so the
/// [`crate::domain::store::events::Commit`] around it rolls back and an event is
/// applied at most once; a missing one is `NotFound`. Both are raised in
/// the statement, so the unit's transaction aborts at once. A concurrent
/// settle waits for the row lock, then sees the new status and matches
/// nothing, while the statement's snapshot still shows the row exists.
pub(super) fn mark_step<'a>(
    id: &'a str,
    status: InboundStatus,
    note: Option<&'a str>,
    now: i64,
) -> Step<'a> {
    let sql = "UPDATE inbound_events
         SET status = $2, note = $3, processed_at = $4, lease_until = NULL
         WHERE id = $1 AND status = 'received'";
    let check = format!(
        "payroute_assert({{changed}} > 0,
             CASE WHEN EXISTS (SELECT 1 FROM inbound_events WHERE id = $1::text)
                  THEN '{CONFLICT}' ELSE '{NOT_FOUND}' END,
             'inbound event ' || $1::text || ' was already processed')"
    );
    Step::new(sql)
        .checked(check)
        .arg(id)
        .arg(status.as_str())
        .arg(note)
        .arg(now)
}
