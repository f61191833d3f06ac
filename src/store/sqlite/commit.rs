//! Applies a [`Commit`] as one unit of work (the writer runs each unit
//! under its own savepoint in an IMMEDIATE transaction): a payment's
//! started attempt and its idempotency claim, or a webhook's state change,
//! the merchant events it causes and the settling of the inbound event
//! that carried it, land together or not at all, so a crash can neither
//! lose a merchant event nor apply an inbound one twice.

use rusqlite::Connection;

use super::{deliveries, disputes, idempotency, inbound, journal, records};
use crate::domain::clock::Timestamp;
use crate::domain::store::events::Commit;
use crate::domain::store::{IdemClaim, StoreError};

/// The claim, then (only when it is `Claimed`) the commit, in one unit:
/// any other claim returns with nothing written, and a failing part of the
/// commit rolls the claim back with it.
pub(super) fn claim_and_apply(
    conn: &Connection,
    key: &idempotency::OwnedKey,
    c: &Commit,
    now: Timestamp,
) -> Result<IdemClaim, StoreError> {
    let claim = idempotency::claim_in(conn, key, now.unix())?;
    if claim == IdemClaim::Claimed {
        apply(conn, c, now)?;
    }
    Ok(claim)
}

/// Every part of `c`. Any failing part (a missing payment, an event
/// already settled, a duplicate delivery id) fails the unit, whose
/// savepoint then rolls back every part. Payment leases are not written:
/// a SQLite file serves one process, whose in-process guard is the lease.
/// Everything the unit stamps is stamped `now`.
pub(super) fn apply(tx: &Connection, c: &Commit, now: Timestamp) -> Result<(), StoreError> {
    // Formatted only for the units that write it.
    let at = (!c.finished_attempts.is_empty() || c.audit.is_some()).then(|| now.rfc3339());
    let at = at.as_deref().unwrap_or_default();
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
        journal::finish_attempt(tx, f, at)?;
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
        inbound::mark(tx, id, *status, note.as_deref(), now.unix())?;
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
        journal::append_audit(tx, entry, at)?;
    }
    Ok(())
}
