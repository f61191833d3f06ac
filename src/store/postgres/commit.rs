//! Applies a [`Commit`] in one transaction: a webhook's state change, the
//! merchant events it causes and the settling of the inbound event that
//! carried it land together or not at all, so a crash can neither lose a
//! merchant event nor apply an inbound one twice, whichever replica runs it.
//!
//! A unit is sent as one statement (see [`super::steps`]): one round trip
//! for a commit, and one for a claim with its first commit when the key is
//! new. Only a claim that finds its key live takes a second transaction,
//! the step-by-step one, to tell the caller what it found.

use deadpool_postgres::{Client, GenericClient};

use super::steps::{self, Step, TAKEN};
use super::{deliveries, disputes, idempotency, inbound, journal, leases, records, refunds};
use crate::domain::clock::Timestamp;
use crate::domain::store::IdemResponse;
use crate::domain::store::events::Commit;
use crate::domain::store::{IdemClaim, IdemKey, StoreError};

/// The statements of a commit, in the order they run, and where among them
/// the idempotent response is stored.
struct Unit<'a> {
    steps: Vec<Step<'a>>,
    response: Option<usize>,
}

impl<'a> Unit<'a> {
    /// The steps of `commit`, after the claim of `claim` when given. The
    /// steps of one statement cannot see each other's rows, so pairs that
    /// would touch one row twice are folded here: a claim answered in the
    /// same unit is stored answered, and a lease taken and ended in the same
    /// unit is not written at all. Everything the unit stamps is stamped
    /// `now`.
    fn of(
        commit: &'a Commit,
        stamp: Timestamp,
        claim: Option<&IdemKey<'a>>,
    ) -> Result<Self, StoreError> {
        let now = stamp.unix();
        // Formatted only for the units that write it.
        let at = if !commit.finished_attempts.is_empty() || commit.audit.is_some() {
            stamp.rfc3339()
        } else {
            String::new()
        };
        let mut steps: Vec<Step<'a>> = Vec::new();
        let mut response = commit.response.as_ref();
        if let Some(k) = claim {
            let answer = response.filter(|r| r.merchant_id == k.merchant_id && r.key == k.key);
            if answer.is_some() {
                response = None;
            }
            steps.push(idempotency::claim_step(k, now, answer.map(answered)));
        }
        let lease_kept = commit.take_lease != commit.end_lease;
        if let Some(lease) = commit.take_lease.as_ref().filter(|_| lease_kept) {
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
                .map(|f| journal::finish_attempt_step(f, at.clone())),
        );
        steps.extend(commit.new_attempts.iter().map(journal::insert_attempt_step));
        steps.extend(commit.disputes.iter().map(disputes::upsert_step));
        steps.extend(commit.deliveries.iter().map(deliveries::insert_step));
        if let Some((id, status, note)) = &commit.inbound {
            steps.push(inbound::mark_step(id, *status, note.as_deref(), now));
        }
        let mut response_at = None;
        if let Some(r) = response {
            response_at = Some(steps.len());
            steps.push(idempotency::complete_step(
                &r.merchant_id,
                &r.key,
                r.status,
                &r.body,
            ));
        }
        if let Some(entry) = &commit.audit {
            steps.push(journal::append_audit_step(entry, at)?);
        }
        if let Some(lease) = commit.end_lease.as_ref().filter(|_| lease_kept) {
            steps.push(leases::end_step(lease));
        }
        Ok(Unit {
            steps,
            response: response_at,
        })
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
pub(super) async fn apply(
    c: &mut Client,
    commit: &Commit,
    now: Timestamp,
) -> Result<(), StoreError> {
    let unit = Unit::of(commit, now, None)?;
    let counts = steps::run(c, &unit.steps).await?;
    unit.note_unstored_response(&counts);
    Ok(())
}

/// The claim, then (only when it is `Claimed`) the commit, in one
/// transaction: any other claim returns with nothing written.
pub(super) async fn claim_and_apply(
    c: &mut Client,
    key: &IdemKey<'_>,
    commit: &Commit,
    now: Timestamp,
) -> Result<IdemClaim, StoreError> {
    let unit = Unit::of(commit, now, Some(key))?;
    match steps::run(c, &unit.steps).await {
        Ok(counts) => {
            unit.note_unstored_response(&counts);
            Ok(IdemClaim::Claimed)
        }
        // The key was live when claimed; it may have been released or have
        // expired since, so the claim is made again before it is judged.
        Err(e) if steps::raised(&e, TAKEN) => claim_then_apply(c, key, commit, now).await,
        Err(e) => Err(e.into()),
    }
}

/// [`claim_and_apply`] one statement at a time, which can read the live
/// key it ran into and judge it in the same transaction.
async fn claim_then_apply(
    c: &mut Client,
    key: &IdemKey<'_>,
    commit: &Commit,
    now: Timestamp,
) -> Result<IdemClaim, StoreError> {
    let tx = c.transaction().await?;
    let claim = idempotency::claim_in(&tx, key, now.unix()).await?;
    if claim != IdemClaim::Claimed {
        return Ok(claim);
    }
    apply_in(&tx, commit, now).await?;
    tx.commit().await?;
    Ok(claim)
}

/// The stored answer of a claim answered in its own unit.
fn answered(r: &IdemResponse) -> (u16, &[u8]) {
    (r.status, &r.body)
}

/// Every part of `commit` inside a transaction the caller owns, one
/// statement at a time, each seeing the rows of those before it.
async fn apply_in(
    tx: &impl GenericClient,
    commit: &Commit,
    now: Timestamp,
) -> Result<(), StoreError> {
    let unit = Unit::of(commit, now, None)?;
    let mut counts = Vec::with_capacity(unit.steps.len());
    for step in &unit.steps {
        counts.push(step.execute(tx).await?);
    }
    unit.note_unstored_response(&counts);
    Ok(())
}
