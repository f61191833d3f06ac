//! Applies a [`Commit`] in one IMMEDIATE transaction: a webhook's state
//! change, the merchant events it causes and the settling of the inbound
//! event that carried it land together or not at all, so a crash can
//! neither lose a merchant event nor apply an inbound one twice.

use rusqlite::{Connection, TransactionBehavior};

use super::{deliveries, disputes, inbound, journal, records};
use crate::store::StoreError;
use crate::store::events::Commit;

/// Any failing part (a missing payment, an event already settled, a
/// duplicate delivery id) rolls back every part, as the transaction drops
/// uncommitted on the early return.
pub(super) fn apply(conn: &mut Connection, c: &Commit, now: i64) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(p) = &c.payment {
        records::update_payment(&tx, p)?;
    }
    for r in &c.refunds {
        records::upsert_refund(&tx, r)?;
    }
    for d in &c.disputes {
        disputes::upsert(&tx, d)?;
    }
    for d in &c.deliveries {
        deliveries::insert(&tx, d)?;
    }
    if let Some((id, status, note)) = &c.inbound {
        inbound::mark(&tx, id, *status, note.as_deref(), now)?;
    }
    if let Some(entry) = &c.audit {
        journal::append_audit(&tx, entry)?;
    }
    tx.commit()?;
    Ok(())
}
