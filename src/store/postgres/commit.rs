//! Applies a [`Commit`] in one transaction: a webhook's state change, the
//! merchant events it causes and the settling of the inbound event that
//! carried it land together or not at all, so a crash can neither lose a
//! merchant event nor apply an inbound one twice, whichever replica runs it.

use deadpool_postgres::{Client, GenericClient};

use super::{deliveries, disputes, idempotency, inbound, journal, records, refunds};
use crate::store::events::Commit;
use crate::store::{IdemClaim, IdemKey, StoreError};

/// Any failing part (a missing payment, an event already settled, a
/// duplicate delivery id) rolls back every part: the transaction drops
/// uncommitted on the early return, which rolls it back.
pub(super) async fn apply(c: &mut Client, commit: &Commit, now: i64) -> Result<(), StoreError> {
    let tx = c.transaction().await?;
    apply_in(&tx, commit, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The claim, then (only when it is `Claimed`) the commit, in one
/// transaction: any other claim returns with nothing written.
pub(super) async fn claim_and_apply(
    c: &mut Client,
    key: &IdemKey<'_>,
    commit: &Commit,
    now: i64,
) -> Result<IdemClaim, StoreError> {
    let tx = c.transaction().await?;
    let claim = idempotency::claim_in(&tx, key, now).await?;
    if claim != IdemClaim::Claimed {
        return Ok(claim);
    }
    apply_in(&tx, commit, now).await?;
    tx.commit().await?;
    Ok(claim)
}

/// Every part of `commit` inside a transaction the caller owns.
async fn apply_in(tx: &impl GenericClient, commit: &Commit, now: i64) -> Result<(), StoreError> {
    if let Some(p) = &commit.new_payment {
        records::insert_payment(tx, p).await?;
    }
    if let Some(p) = &commit.payment {
        records::update_payment(tx, p).await?;
    }
    for r in &commit.refunds {
        refunds::upsert_refund(tx, r).await?;
    }
    for f in &commit.finished_attempts {
        journal::finish_attempt(tx, f).await?;
    }
    for a in &commit.new_attempts {
        journal::insert_attempt(tx, a).await?;
    }
    for d in &commit.disputes {
        disputes::upsert(tx, d).await?;
    }
    for d in &commit.deliveries {
        deliveries::insert(tx, d).await?;
    }
    if let Some((id, status, note)) = &commit.inbound {
        inbound::mark(tx, id, *status, note.as_deref(), now).await?;
    }
    if let Some(r) = &commit.response {
        match idempotency::complete(tx, &r.merchant_id, &r.key, r.status, &r.body).await {
            Err(StoreError::NotFound) => {
                tracing::warn!("idempotency key no longer in flight; its response is not stored");
            }
            other => other?,
        }
    }
    if let Some(entry) = &commit.audit {
        journal::append_audit(tx, entry).await?;
    }
    Ok(())
}
