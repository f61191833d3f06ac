//! Disputes in PostgreSQL: a payment's sub-resource, written only inside a
//! [`crate::domain::store::events::Commit`] and read by payment or by the gateway's
//! own dispute reference.

use deadpool_postgres::Client;
use tokio_postgres::Row;

use super::codec::{col, text_enum};
use super::steps::{NOT_FOUND, Step};
use crate::domain::store::StoreError;
use crate::domain::store::events::{Dispute, DisputeStatus};

const COLS: &str = "id, payment_id, gateway, provider_reference, status, amount, currency, \
     reason, created_at, updated_at";

fn dispute_row(r: &Row) -> Result<Dispute, StoreError> {
    Ok(Dispute {
        id: col(r, 0)?,
        payment_id: col(r, 1)?,
        gateway: col(r, 2)?,
        provider_reference: col(r, 3)?,
        status: text_enum(r, 4, DisputeStatus::parse)?,
        amount: col(r, 5)?,
        currency: col(r, 6)?,
        reason: col(r, 7)?,
        created_at: col(r, 8)?,
        updated_at: col(r, 9)?,
    })
}

/// Inserts, or updates status, amount, reason and updated_at of the dispute
/// with this id (a gateway may revise the disputed amount). The merchant is
/// copied from the payment; no such payment is `NotFound`, and a second id
/// for one `(gateway, provider_reference)` is `Conflict`.
pub(super) fn upsert_step(d: &Dispute) -> Step<'_> {
    let sql = format!(
        "INSERT INTO disputes ({COLS}, merchant_id)
             SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::text,
                    $8::text, $9::text, $10::text, merchant_id
             FROM payments WHERE id = $2::text
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                 amount = EXCLUDED.amount, reason = EXCLUDED.reason,
                 updated_at = EXCLUDED.updated_at"
    );
    Step::new(sql)
        .or_raise(NOT_FOUND, "no such payment")
        .arg(&d.id)
        .arg(&d.payment_id)
        .arg(&d.gateway)
        .arg(&d.provider_reference)
        .arg(d.status.as_str())
        .arg(d.amount)
        .arg(&d.currency)
        .arg(&d.reason)
        .arg(&d.created_at)
        .arg(&d.updated_at)
}

/// Oldest first.
pub(super) async fn list(c: &Client, payment_id: &str) -> Result<Vec<Dispute>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLS} FROM disputes WHERE payment_id = $1 ORDER BY created_at, seq"
        ))
        .await?;
    let rows = c.query(&stmt, &[&payment_id]).await?;
    rows.iter().map(dispute_row).collect()
}

pub(super) async fn find_by_provider_reference(
    c: &Client,
    gateway: &str,
    provider_reference: &str,
) -> Result<Option<Dispute>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLS} FROM disputes WHERE gateway = $1 AND provider_reference = $2"
        ))
        .await?;
    c.query_opt(&stmt, &[&gateway, &provider_reference])
        .await?
        .as_ref()
        .map(dispute_row)
        .transpose()
}
