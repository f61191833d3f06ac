//! Applies a [`Commit`] in one transaction: a webhook's state change, the
//! merchant events it causes and the settling of the inbound event that
//! carried it land together or not at all, so a crash can neither lose a
//! merchant event nor apply an inbound one twice, whichever replica runs it.

use deadpool_postgres::Client;

use super::{deliveries, disputes, inbound, journal, records, refunds};
use crate::store::StoreError;
use crate::store::events::Commit;

/// Any failing part (a missing payment, an event already settled, a
/// duplicate delivery id) rolls back every part: the transaction drops
/// uncommitted on the early return, which rolls it back.
pub(super) async fn apply(c: &mut Client, commit: &Commit, now: i64) -> Result<(), StoreError> {
    let tx = c.transaction().await?;
    if let Some(p) = &commit.payment {
        records::update_payment(&tx, p).await?;
    }
    for r in &commit.refunds {
        refunds::upsert_refund(&tx, r).await?;
    }
    for d in &commit.disputes {
        disputes::upsert(&tx, d).await?;
    }
    for d in &commit.deliveries {
        deliveries::insert(&tx, d).await?;
    }
    if let Some((id, status, note)) = &commit.inbound {
        inbound::mark(&tx, id, *status, note.as_deref(), now).await?;
    }
    if let Some(entry) = &commit.audit {
        journal::append_audit(&tx, entry).await?;
    }
    tx.commit().await?;
    Ok(())
}
