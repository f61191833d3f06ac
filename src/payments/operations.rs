//! Capture, cancel and refund: always on the gateway that holds the payment,
//! with its provider reference, one operation per payment at a time. A
//! gateway that confirms only later (Adyen) leaves the `_pending` state; a
//! money movement is never reported before the gateway confirmed it.

use std::sync::Arc;
use std::time::Instant;

use super::engine::{Engine, EngineError, stage};
use super::records::{failure_of, new_attempt};
use super::unit::{Pending, Ticket, Unit};
use crate::connectors::{CancelRequest, CaptureRequest, Connector, RefundRequest};
use crate::domain::model::*;
use crate::domain::outcome::{Effect, Outcome};
use crate::domain::store::{Commit, PaymentLease};

/// How long an API operation waits for another writer of the same payment
/// (usually the webhook applier, which holds it for milliseconds) before
/// answering 409.
const OP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a modification did, for the API to pick a status code.
#[derive(Debug)]
pub enum OpResult<T> {
    /// The gateway confirmed or accepted it; `T` is the new state.
    Done(T),
    /// The gateway refused it; nothing changed. (code, message)
    Refused(T, String, String),
    /// The gateway could not be reached; nothing changed.
    Unavailable(T, String),
}

/// Marks a payment busy for the guard's lifetime; no lock is held. Every
/// writer of a payment (API operations, the webhook applier, the
/// reconciler) holds one, so their read-modify-write cycles never
/// interleave: within this process by the in-memory set, across replicas by
/// the store's short payment lease ([`crate::domain::store::Store::lock_payment`]).
pub struct BusyGuard<'a> {
    engine: &'a Engine,
    id: String,
    /// This guard's own lease holder name: a lease released late (on a
    /// task, see `Drop`) must never release the next holder's.
    holder: String,
    /// Whether the store lease is this guard's to release.
    leased: bool,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.engine.busy.remove(&self.id);
        if !self.leased {
            return;
        }
        // Drop cannot wait: the lease is released on a task (and expires
        // by itself should that never run).
        let store = Arc::clone(&self.engine.store);
        let (id, holder) = (
            std::mem::take(&mut self.id),
            std::mem::take(&mut self.holder),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.unlock_payment(&id, &holder).await {
                    tracing::debug!(payment_id = %id, error = %e, "payment lease left to expire");
                }
            });
        }
    }
}

/// A replica that dies holding a payment's lease blocks it this long at most.
const LEASE_SECS: i64 = 120;

impl BusyGuard<'_> {
    fn lease(&self) -> PaymentLease {
        PaymentLease {
            payment_id: self.id.clone(),
            holder: self.holder.clone(),
            until: self.engine.clock.now_unix().saturating_add(LEASE_SECS),
        }
    }

    /// Stages the end of this guard's store lease in `commit`, the writer's
    /// last unit, which spares the release its own round trip. Call
    /// [`Self::released`] once that unit has committed.
    pub fn release_in(&self, commit: &mut Commit) {
        if self.leased {
            commit.end_lease = Some(self.lease());
        }
    }

    /// The unit from [`Self::release_in`] committed: the lease is gone and
    /// nothing is left to release on drop.
    pub fn released(&mut self) {
        self.leased = false;
    }
}

impl Engine {
    /// Waits (polling, no lock held) until the payment is free, up to `within`.
    pub async fn claim_wait(
        &self,
        payment_id: &str,
        within: std::time::Duration,
    ) -> Result<BusyGuard<'_>, EngineError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.claim(payment_id).await {
                Err(EngineError::Busy) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                other => return other,
            }
        }
    }

    /// Takes the payment for this writer, or `Busy` if another holds it here
    /// or on another replica.
    pub async fn claim(&self, payment_id: &str) -> Result<BusyGuard<'_>, EngineError> {
        let mut guard = self.mark_busy(payment_id)?;
        if guard.holder.is_empty() {
            return Ok(guard);
        }
        let now = self.clock.now_unix();
        guard.leased = self
            .store
            .lock_payment(payment_id, &guard.holder, now, LEASE_SECS)
            .await?;
        if guard.leased {
            Ok(guard)
        } else {
            Err(EngineError::Busy)
        }
    }

    /// Takes a payment not yet written: its store lease (when replicas
    /// share the store) is staged in `commit`, the unit that makes the
    /// payment visible, rather than taken in a round trip of its own. Until
    /// that unit commits no other writer can know the id.
    pub(super) fn claim_new(
        &self,
        payment_id: &str,
        commit: &mut Commit,
    ) -> Result<BusyGuard<'_>, EngineError> {
        let mut guard = self.mark_busy(payment_id)?;
        if !guard.holder.is_empty() {
            commit.take_lease = Some(guard.lease());
            // Released on drop should the unit commit and the rest fail; a
            // release of a lease never written deletes nothing.
            guard.leased = true;
        }
        Ok(guard)
    }

    /// The in-process mark, and a lease holder name when the store is
    /// shared by replicas (empty otherwise).
    fn mark_busy(&self, payment_id: &str) -> Result<BusyGuard<'_>, EngineError> {
        if self.busy.insert(payment_id.to_string(), ()).is_some() {
            return Err(EngineError::Busy);
        }
        // From here on the guard owns the in-process mark (and the lease).
        let mut guard = BusyGuard {
            engine: self,
            id: payment_id.to_string(),
            holder: String::new(),
            leased: false,
        };
        if self.store.shared_by_replicas() {
            guard.holder = format!(
                "{}:{}",
                self.instance,
                self.guards
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
        }
        Ok(guard)
    }

    async fn load(&self, merchant: &str, id: &str) -> Result<Payment, EngineError> {
        self.store
            .get_payment(merchant, id)
            .await?
            .ok_or(EngineError::NotFound)
    }

    fn holder(&self, payment: &Payment) -> Result<(Connector, String, String), EngineError> {
        let (Some(gateway), Some(reference)) = (&payment.gateway, &payment.provider_reference)
        else {
            return Err(EngineError::InvalidState(
                "the payment has no gateway holding it".into(),
            ));
        };
        let live = self.live.load();
        let conn = live.connectors.get(gateway).cloned().ok_or_else(|| {
            EngineError::InvalidState(format!(
                "gateway `{gateway}` that holds this payment is not in the active ruleset"
            ))
        })?;
        Ok((conn, gateway.clone(), reference.clone()))
    }

    /// Writes the unit staged so far with the `started` attempt (claiming
    /// the key), calls the gateway and stages the attempt's outcome.
    async fn run_attempt(
        &self,
        unit: &mut Unit,
        attempt: &Attempt,
        operation: &str,
        call: impl std::future::Future<Output = Outcome>,
    ) -> Result<Outcome, EngineError> {
        unit.commit.new_attempts.push(attempt.clone());
        unit.flush(&*self.store).await?;
        unit.calling();
        let started = Instant::now();
        let outcome = call.await;
        let (_, finish) = self.record_attempt(attempt, &outcome, started.elapsed(), operation);
        unit.commit.finished_attempts.push(finish);
        Ok(outcome)
    }

    pub async fn capture(
        &self,
        merchant: &str,
        id: &str,
        amount: Option<i64>,
        ticket: Option<Ticket>,
    ) -> Result<Pending<'_, OpResult<Payment>>, EngineError> {
        let guard = self.claim_wait(id, OP_WAIT).await?;
        let mut p = self.load(merchant, id).await?;
        if p.status != PaymentStatus::Authorized {
            return Err(EngineError::InvalidState(format!(
                "only an authorized payment can be captured; this one is {}",
                p.status.as_str()
            )));
        }
        let amount = amount.unwrap_or(p.amount);
        if amount > p.amount {
            return Err(EngineError::AmountTooLarge(format!(
                "capture amount {amount} exceeds the authorized {}",
                p.amount
            )));
        }
        let (conn, gateway, reference) = self.holder(&p)?;
        let attempt = new_attempt(&p.id, &gateway, "capture", amount, self.clock.now());
        let req = CaptureRequest {
            provider_reference: reference,
            amount,
            currency: p.currency.clone(),
            payment_id: p.id.clone(),
            idempotency_key: attempt.gateway_idempotency_key.clone(),
        };
        let mut unit = Unit::new(ticket);
        let outcome = self
            .run_attempt(&mut unit, &attempt, "capture", conn.capture(&req))
            .await?;
        let result = match outcome {
            Outcome::Succeeded {
                effect: Effect::Captured,
                ..
            } => {
                p.status = PaymentStatus::Captured;
                p.amount_captured = amount;
                OpResult::Done(())
            }
            // Accepted, or maybe done: only the gateway's confirmation moves
            // money in our records.
            Outcome::Succeeded { .. } | Outcome::Pending { .. } | Outcome::Ambiguous { .. } => {
                p.status = PaymentStatus::CapturePending;
                OpResult::Done(())
            }
            other => refused_or_unavailable(&other),
        };
        Ok(self.finish(p, result, unit, guard))
    }

    pub async fn cancel(
        &self,
        merchant: &str,
        id: &str,
        ticket: Option<Ticket>,
    ) -> Result<Pending<'_, OpResult<Payment>>, EngineError> {
        let guard = self.claim_wait(id, OP_WAIT).await?;
        let mut p = self.load(merchant, id).await?;
        if p.status != PaymentStatus::Authorized {
            return Err(EngineError::InvalidState(format!(
                "only an authorized, uncaptured payment can be cancelled; this one is {}",
                p.status.as_str()
            )));
        }
        let (conn, gateway, reference) = self.holder(&p)?;
        let attempt = new_attempt(&p.id, &gateway, "cancel", p.amount, self.clock.now());
        let req = CancelRequest {
            provider_reference: reference,
            payment_id: p.id.clone(),
            idempotency_key: attempt.gateway_idempotency_key.clone(),
        };
        let mut unit = Unit::new(ticket);
        let outcome = self
            .run_attempt(&mut unit, &attempt, "cancel", conn.cancel(&req))
            .await?;
        let result = match outcome {
            Outcome::Succeeded {
                effect: Effect::Voided,
                ..
            } => {
                p.status = PaymentStatus::Voided;
                OpResult::Done(())
            }
            Outcome::Succeeded { .. } | Outcome::Pending { .. } | Outcome::Ambiguous { .. } => {
                p.status = PaymentStatus::VoidPending;
                OpResult::Done(())
            }
            other => refused_or_unavailable(&other),
        };
        Ok(self.finish(p, result, unit, guard))
    }

    /// Stages the payment's new state when the operation is done; a refused
    /// or unavailable one changed nothing but its attempt.
    fn finish<'e>(
        &self,
        mut p: Payment,
        result: OpResult<()>,
        mut unit: Unit,
        guard: BusyGuard<'e>,
    ) -> Pending<'e, OpResult<Payment>> {
        if matches!(result, OpResult::Done(())) {
            stage(&mut p, &mut unit, self.clock.now());
        }
        let result = match result {
            OpResult::Done(()) => OpResult::Done(p),
            OpResult::Refused((), c, m) => OpResult::Refused(p, c, m),
            OpResult::Unavailable((), m) => OpResult::Unavailable(p, m),
        };
        Pending::new(result, unit, Arc::clone(&self.store), Some(guard))
    }

    pub async fn refund(
        &self,
        merchant: &str,
        id: &str,
        amount: Option<i64>,
        reason: Option<String>,
        ticket: Option<Ticket>,
    ) -> Result<Pending<'_, OpResult<Refund>>, EngineError> {
        let guard = self.claim_wait(id, OP_WAIT).await?;
        let mut p = self.load(merchant, id).await?;
        if !matches!(
            p.status,
            PaymentStatus::Captured | PaymentStatus::PartiallyRefunded
        ) {
            return Err(EngineError::InvalidState(format!(
                "only a captured payment can be refunded; this one is {}",
                p.status.as_str()
            )));
        }
        let committed: i64 = p
            .refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount)
            .sum();
        let refundable = p.amount_captured - committed;
        let amount = amount.unwrap_or(refundable);
        if amount <= 0 || amount > refundable {
            return Err(EngineError::AmountTooLarge(format!(
                "refund amount {amount} exceeds the refundable {refundable} (captured {} minus refunds {committed})",
                p.amount_captured
            )));
        }
        let (conn, gateway, reference) = self.holder(&p)?;
        let at = self.clock.now();
        let now = at.rfc3339();
        let mut refund = Refund {
            id: at.record_id("re"),
            payment_id: p.id.clone(),
            status: RefundStatus::Pending,
            amount,
            currency: p.currency.clone(),
            gateway: gateway.clone(),
            provider_reference: None,
            reason: reason.clone(),
            failure: None,
            created_at: now.clone(),
            updated_at: now,
        };
        let mut unit = Unit::new(ticket);
        unit.commit.refunds.push(refund.clone());
        let attempt = new_attempt(&p.id, &gateway, "refund", amount, at);
        let req = RefundRequest {
            provider_reference: reference,
            amount,
            currency: p.currency.clone(),
            refund_id: refund.id.clone(),
            reason,
            idempotency_key: attempt.gateway_idempotency_key.clone(),
        };
        let outcome = self
            .run_attempt(&mut unit, &attempt, "refund", conn.refund(&req))
            .await?;
        let result = match &outcome {
            Outcome::Succeeded {
                provider_reference, ..
            } => {
                refund.provider_reference = Some(provider_reference.clone());
                refund.status = RefundStatus::Succeeded;
                p.amount_refunded += amount;
                p.status = if p.amount_refunded >= p.amount_captured {
                    PaymentStatus::Refunded
                } else {
                    PaymentStatus::PartiallyRefunded
                };
                stage(&mut p, &mut unit, self.clock.now());
                OpResult::Done(())
            }
            Outcome::Pending { provider_reference } => {
                refund.provider_reference = Some(provider_reference.clone());
                OpResult::Done(())
            }
            // Maybe refunded: stays pending until the gateway says.
            Outcome::Ambiguous { .. } => OpResult::Done(()),
            other => {
                refund.status = RefundStatus::Failed;
                refund.failure = Some(failure_of(other));
                refused_or_unavailable(other)
            }
        };
        refund.updated_at = self.clock.now_rfc3339();
        unit.commit.refunds.push(refund.clone());
        let result = match result {
            OpResult::Done(()) => OpResult::Done(refund),
            OpResult::Refused((), c, m) => OpResult::Refused(refund, c, m),
            OpResult::Unavailable((), m) => OpResult::Unavailable(refund, m),
        };
        Ok(Pending::new(
            result,
            unit,
            Arc::clone(&self.store),
            Some(guard),
        ))
    }
}

fn refused_or_unavailable(outcome: &Outcome) -> OpResult<()> {
    let f = failure_of(outcome);
    match outcome {
        Outcome::Unavailable { .. } => OpResult::Unavailable((), f.message),
        _ => OpResult::Refused((), f.code, f.message),
    }
}
