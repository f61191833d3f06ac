//! Disputes in SQLite: a payment's sub-resource, written only inside a
//! [`crate::domain::store::events::Commit`] and read by payment or by the gateway's
//! own dispute reference.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::codec::text_enum;
use super::exec;
use crate::domain::store::StoreError;
use crate::domain::store::events::{Dispute, DisputeStatus};

const COLS: &str = "id, payment_id, gateway, provider_reference, status, amount, currency, \
     reason, created_at, updated_at";

fn dispute_row(r: &Row<'_>) -> rusqlite::Result<Dispute> {
    Ok(Dispute {
        id: r.get(0)?,
        payment_id: r.get(1)?,
        gateway: r.get(2)?,
        provider_reference: r.get(3)?,
        status: text_enum(r, 4, DisputeStatus::parse)?,
        amount: r.get(5)?,
        currency: r.get(6)?,
        reason: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// Inserts, or updates status, amount, reason and updated_at of the dispute
/// with this id (a gateway may revise the disputed amount). The merchant is
/// copied from the payment; no such payment is `NotFound`, and a second id
/// for one `(gateway, provider_reference)` is `Conflict`.
pub(super) fn upsert(conn: &Connection, d: &Dispute) -> Result<(), StoreError> {
    // The WHERE keeps SQLite from reading `ON CONFLICT` as a join constraint.
    let written = exec(
        conn,
        &format!(
            "INSERT INTO disputes ({COLS}, merchant_id)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, merchant_id
             FROM payments WHERE id = ?2
             ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                 amount = excluded.amount, reason = excluded.reason,
                 updated_at = excluded.updated_at"
        ),
        params![
            d.id,
            d.payment_id,
            d.gateway,
            d.provider_reference,
            d.status.as_str(),
            d.amount,
            d.currency,
            d.reason,
            d.created_at,
            d.updated_at,
        ],
    )?;
    if written == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Oldest first.
pub(super) fn list(conn: &Connection, payment_id: &str) -> Result<Vec<Dispute>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM disputes WHERE payment_id = ?1 ORDER BY created_at, rowid"
    ))?;
    let rows = stmt.query_map([payment_id], dispute_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn find_by_provider_reference(
    conn: &Connection,
    gateway: &str,
    provider_reference: &str,
) -> Result<Option<Dispute>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {COLS} FROM disputes WHERE gateway = ?1 AND provider_reference = ?2"),
            [gateway, provider_reference],
            dispute_row,
        )
        .optional()?;
    Ok(found)
}
