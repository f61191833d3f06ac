//! Applies a [`Commit`] in one transaction: a webhook's state change, the
//! merchant events it causes and the settling of the inbound event that
//! carried it land together or not at all, so a crash can neither lose a
//! merchant event nor apply an inbound one twice, whichever replica runs it.
//!
//! A unit is sent as one pipeline (see [`super::pipeline`]): one round
//! trip for a commit, and one for a claim with its first commit when the
//! key is new. Only a claim that finds its key live takes a second
//! transaction, the step-by-step one, to tell the caller what it found.

use deadpool_postgres::{Client, GenericClient};

use super::pipeline::{self, Step, TAKEN};
use super::{deliveries, disputes, idempotency, inbound, journal, leases, records, refunds};
use crate::store::events::Commit;
use crate::store::{IdemClaim, IdemKey, StoreError};

/// The statements of a commit, in the order they run, and where among them
/// the idempotent response is stored.
struct Unit<'a> {
    steps: Vec<Step<'a>>,
    response: Option<usize>,
}

impl<'a> Unit<'a> {
    /// `first` (a claim) runs before the commit's own statements.
    fn of(commit: &'a Commit, now: i64, first: Option<Step<'a>>) -> Result<Self, StoreError> {
        let mut steps: Vec<Step<'a>> = first.into_iter().collect();
        if let Some(lease) = &commit.take_lease {
            steps.push(leases::take_step(lease, now));
        }
        if let Some(p) = &commit.new_payment {
            steps.push(records::insert_payment_step(p)?);
        }
        if let Some(p) = &commit.payment {
            steps.push(records::update_payment_step(p)?);
        }
        for r in &commit.refunds {
            steps.push(refunds::upsert_refund_step(r)?);
        }
        steps.extend(
            commit
                .finished_attempts
                .iter()
                .map(journal::finish_attempt_step),
        );
        steps.extend(commit.new_attempts.iter().map(journal::insert_attempt_step));
        steps.extend(commit.disputes.iter().map(disputes::upsert_step));
        steps.extend(commit.deliveries.iter().map(deliveries::insert_step));
        if let Some((id, status, note)) = &commit.inbound {
            steps.push(inbound::mark_step(id, *status, note.as_deref(), now));
        }
        let mut response = None;
        if let Some(r) = &commit.response {
            response = Some(steps.len());
            steps.push(idempotency::complete_step(
                &r.merchant_id,
                &r.key,
                r.status,
                &r.body,
            ));
        }
        if let Some(entry) = &commit.audit {
            steps.push(journal::append_audit_step(entry)?);
        }
        if let Some(lease) = &commit.end_lease {
            steps.push(leases::end_step(lease));
        }
        Ok(Unit { steps, response })
    }

    /// After the unit committed, with the rows each step changed: a key no
    /// longer in flight kept its state, which the commit allows.
    fn note_unstored_response(&self, counts: &[u64]) {
        if self.response.and_then(|i| counts.get(i)) == Some(&0) {
            tracing::warn!("idempotency key no longer in flight; its response is not stored");
        }
    }
}

/// Any failing part (a missing payment, an event already settled, a
/// duplicate delivery id) fails its statement on the server, which rolls
/// back every part.
pub(super) async fn apply(c: &mut Client, commit: &Commit, now: i64) -> Result<(), StoreError> {
    let unit = Unit::of(commit, now, None)?;
    let counts = pipeline::transaction(c, &unit.steps).await?;
    unit.note_unstored_response(&counts);
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
    let unit = Unit::of(commit, now, Some(idempotency::claim_step(key, now)))?;
    match pipeline::transaction(c, &unit.steps).await {
        Ok(counts) => {
            unit.note_unstored_response(&counts);
            Ok(IdemClaim::Claimed)
        }
        // The key was live when claimed; it may have been released or have
        // expired since, so the claim is made again before it is judged.
        Err(e) if pipeline::raised(&e, TAKEN) => claim_then_apply(c, key, commit, now).await,
        Err(e) => Err(e.into()),
    }
}

/// [`claim_and_apply`] one statement at a time, which can read the live
/// key it ran into and judge it in the same transaction.
async fn claim_then_apply(
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
    let unit = Unit::of(commit, now, None)?;
    let mut counts = Vec::with_capacity(unit.steps.len());
    for step in &unit.steps {
        counts.push(step.execute(tx).await?);
    }
    unit.note_unstored_response(&counts);
    Ok(())
}
