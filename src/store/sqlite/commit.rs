//! Applies a [`Commit`] in one IMMEDIATE transaction: a webhook's state
//! change, the merchant events it causes and the settling of the inbound
//! event that carried it land together or not at all, so a crash can
//! neither lose a merchant event nor apply an inbound one twice.

use rusqlite::{Connection, TransactionBehavior};

use super::{deliveries, disputes, idempotency, inbound, journal, records};
use crate::store::events::Commit;
use crate::store::{IdemClaim, StoreError};

/// Any failing part (a missing payment, an event already settled, a
/// duplicate delivery id) rolls back every part, as the transaction drops
/// uncommitted on the early return.
pub(super) fn apply(conn: &mut Connection, c: &Commit, now: i64) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    apply_in(&tx, c, now)?;
    tx.commit()?;
    Ok(())
}

/// The claim, then (only when it is `Claimed`) the commit, in one
/// transaction: any other claim returns with nothing written.
pub(super) fn claim_and_apply(
    conn: &mut Connection,
    key: &idempotency::OwnedKey,
    c: &Commit,
    now: i64,
) -> Result<IdemClaim, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claim = idempotency::claim_in(&tx, key, now)?;
    if claim != IdemClaim::Claimed {
        return Ok(claim);
    }
    apply_in(&tx, c, now)?;
    tx.commit()?;
    Ok(claim)
}

/// Every part of `c` inside a write transaction the caller owns.
pub(super) fn apply_in(tx: &Connection, c: &Commit, now: i64) -> Result<(), StoreError> {
    if let Some(p) = &c.new_payment {
        records::insert_payment(tx, p)?;
    }
    if let Some(p) = &c.payment {
        records::update_payment(tx, p)?;
    }
    for r in &c.refunds {
        records::upsert_refund(tx, r)?;
    }
    for f in &c.finished_attempts {
        journal::finish_attempt(tx, f)?;
    }
    for a in &c.new_attempts {
        journal::insert_attempt(tx, a)?;
    }
    for d in &c.disputes {
        disputes::upsert(tx, d)?;
    }
    for d in &c.deliveries {
        deliveries::insert(tx, d)?;
    }
    if let Some((id, status, note)) = &c.inbound {
        inbound::mark(tx, id, *status, note.as_deref(), now)?;
    }
    if let Some(r) = &c.response {
        match idempotency::complete(tx, &r.merchant_id, &r.key, r.status, &r.body) {
            Err(StoreError::NotFound) => {
                tracing::warn!("idempotency key no longer in flight; its response is not stored");
            }
            other => other?,
        }
    }
    if let Some(entry) = &c.audit {
        journal::append_audit(tx, entry)?;
    }
    Ok(())
}
