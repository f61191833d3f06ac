//! The applier: takes stored gateway events (leased, so one worker or
//! replica at a time), normalizes them, finds the payment by the provider
//! reference payroute recorded, and applies them through the payments state
//! machine, writing the change, the merchant event and the event's new
//! status in one commit. Unknown payments leave the event an orphan.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::connectors::webhook::{GatewayEvent, NormalizedKind};
use crate::domain::model::{AttemptOutcome, Payment, PaymentStatus};
use crate::domain::outcome::Outcome;
use crate::domain::store::AuditEntry;
use crate::domain::store::StoreError;
use crate::domain::store::events::{Commit, DisputeStatus, InboundEvent, InboundStatus};
use crate::payments::Engine;
use crate::payments::inbound::LEASE_SECS;
use crate::payments::transitions::{self, Applied, DisputeFact, Observed, RefundFact};

/// Events ingest may hand over in memory before it leaves them to the
/// store: bounds memory, and a full queue only means a claim later.
const HANDOFF: usize = 1024;
const BATCH: usize = 100;
/// How long to wait for an API call on the same payment to finish.
const CLAIM_WAIT: Duration = Duration::from_secs(20);
/// How often orphan events are looked at again.
const ORPHAN_RETRY: Duration = Duration::from_secs(30);

/// Runs until shutdown. `delay` holds each batch back before applying (a
/// test hook that opens a window between the ack and the apply).
pub async fn run(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>, delay: Duration) {
    // Events a previous run of this process stored leased to its applier
    // and never applied (a crash) are taken at once, not after the lease.
    match engine.store.release_inbound_leases().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            events = n,
            "gateway events left by a previous run are applied now"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot free leftover event leases; they run out"),
    }
    // Only now: an event handed over before the release would lose the
    // lease it was stored with.
    let (handoff, mut handed) = tokio::sync::mpsc::channel(HANDOFF);
    if engine.inbound_handoff.set(handoff).is_err() {
        tracing::warn!(
            "a second webhook applier runs on this engine; it only claims from the store"
        );
    }
    let mut last_requeue = tokio::time::Instant::now();
    loop {
        tokio::select! {
            Some(ev) = handed.recv() => {
                if !delay.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                if let Err(e) = apply_one(&engine, &ev).await {
                    // The lease expires and the event is claimed again.
                    tracing::warn!(event = %ev.id, error = %e, "applying a gateway event failed");
                }
                continue;
            }
            _ = engine.events_pending.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        // An event can arrive before payroute recorded the reference it names
        // (the gateway answered after sending it): orphans get another look.
        if last_requeue.elapsed() >= ORPHAN_RETRY {
            last_requeue = tokio::time::Instant::now();
            let cutoff = engine.clock.now_unix() - ORPHAN_RETRY.as_secs() as i64;
            if let Err(e) = engine.store.requeue_orphans(cutoff).await {
                tracing::warn!(error = %e, "cannot requeue orphan events");
            }
        }
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
            }
        }
        loop {
            let batch = match engine.store.claim_inbound_events(BATCH, LEASE_SECS).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim inbound events; retrying");
                    break;
                }
            };
            let n = batch.len();
            for ev in batch {
                if let Err(e) = apply_one(&engine, &ev).await {
                    // The lease expires and the event is tried again.
                    tracing::warn!(event = %ev.id, error = %e, "applying a gateway event failed");
                }
            }
            if n < BATCH {
                break;
            }
        }
    }
}

/// Applies one stored event; public for the reconciler and tests.
pub async fn apply_one(engine: &Engine, ev: &InboundEvent) -> Result<InboundStatus, StoreError> {
    let kind = engine
        .live
        .load()
        .ruleset
        .gateway(&ev.gateway_id)
        .map(|g| g.kind);
    let normalized = kind.and_then(|k| k.normalize(&ev.payload).ok());
    let Some(gev) = normalized else {
        return mark(
            engine,
            ev,
            InboundStatus::Orphan,
            "gateway not configured or payload unreadable",
        )
        .await;
    };
    let Some(kind) = gev.kind else {
        return mark(
            engine,
            ev,
            InboundStatus::Ignored,
            &format!("not acted on: {}", gev.raw_type),
        )
        .await;
    };
    let Some(found) = find_payment(engine, &ev.gateway_id, &gev, kind).await? else {
        return mark(
            engine,
            ev,
            InboundStatus::Orphan,
            "no payment with this provider reference yet",
        )
        .await;
    };
    // Re-read under the payment's guard: an API call may have changed it.
    let Ok(mut guard) = engine.claim_wait(&found.id, CLAIM_WAIT).await else {
        return Err(StoreError::Conflict(format!(
            "payment {} stayed busy",
            found.id
        )));
    };
    let Some(payment) = engine.store.get_payment_by_id(&found.id).await? else {
        return mark(engine, ev, InboundStatus::Orphan, "payment vanished").await;
    };
    let observed = observed(kind, &gev);
    let dispute = match &observed {
        Observed::Dispute { fact, .. } => {
            engine
                .store
                .find_dispute_by_provider_reference(&ev.gateway_id, &fact.provider_reference)
                .await?
        }
        _ => None,
    };
    // A payment whose authorization answer was lost learns which gateway
    // and reference hold it from the gateway's own event.
    let mut payment = payment;
    let learned = payment.provider_reference.is_none()
        && matches!(
            kind,
            NormalizedKind::PaymentAuthorized
                | NormalizedKind::PaymentCaptured
                | NormalizedKind::PaymentFailed
                | NormalizedKind::PaymentVoided
                | NormalizedKind::PaymentVoidFailed
        )
        && gev.payment_reference.is_some();
    if learned {
        payment.gateway = Some(ev.gateway_id.clone());
        payment.provider_reference = gev.payment_reference.clone();
    }
    let (mut commit, note) =
        match transitions::apply(&payment, &observed, dispute.as_ref(), engine.clock.now()) {
            Applied::Changed(c) => (*c, None),
            Applied::Confirmed(c) => (*c, Some("already applied".to_string())),
            Applied::Stale(why) => {
                let mut note = format!("stale, ignored: {why}");
                let money_taken = matches!(
                    kind,
                    NormalizedKind::PaymentAuthorized | NormalizedKind::PaymentCaptured
                );
                if money_taken && payment.status == PaymentStatus::Failed {
                    let known = gev.payment_reference.as_deref();
                    note.push_str(
                        &reverse_late_authorization(engine, &ev.gateway_id, &payment, known).await,
                    );
                }
                (Commit::default(), Some(note))
            }
        };
    if learned && commit.payment.is_none() {
        commit.payment = Some(payment);
    }
    commit.inbound = Some((ev.id.clone(), InboundStatus::Applied, note));
    let has_deliveries = !commit.deliveries.is_empty();
    guard.release_in(&mut commit);
    engine.store.commit(&commit).await?;
    guard.released();
    if has_deliveries {
        engine.deliveries_pending.notify_one();
    }
    Ok(InboundStatus::Applied)
}

async fn mark(
    engine: &Engine,
    ev: &InboundEvent,
    status: InboundStatus,
    note: &str,
) -> Result<InboundStatus, StoreError> {
    let commit = Commit {
        inbound: Some((ev.id.clone(), status, Some(note.to_string()))),
        ..Commit::default()
    };
    engine.store.commit(&commit).await?;
    Ok(status)
}

/// By the provider reference payroute recorded; else by payroute's own id
/// when the gateway echoes it (an attempt whose answer was lost).
async fn find_payment(
    engine: &Engine,
    gateway: &str,
    ev: &GatewayEvent,
    kind: NormalizedKind,
) -> Result<Option<Payment>, StoreError> {
    let store = &engine.store;
    if let Some(r) = &ev.payment_reference
        && let Some(p) = store.find_payment_by_provider_reference(gateway, r).await?
    {
        return Ok(Some(p));
    }
    let is_refund = matches!(
        kind,
        NormalizedKind::RefundSucceeded | NormalizedKind::RefundFailed
    );
    if is_refund {
        let by_ref = match &ev.object_reference {
            Some(r) => store.find_refund_by_provider_reference(gateway, r).await?,
            None => None,
        };
        let refund = match by_ref {
            Some(r) => Some(r),
            None => match ev
                .merchant_reference
                .as_deref()
                .filter(|r| r.starts_with("re_"))
            {
                Some(id) => store.get_refund_by_id(id).await?,
                None => None,
            },
        };
        if let Some(r) = refund {
            return store.get_payment_by_id(&r.payment_id).await;
        }
    }
    match ev
        .merchant_reference
        .as_deref()
        // payroute's ids have no '-': `pay_x-reversal` names payment pay_x.
        .and_then(|r| r.split('-').next())
        .filter(|r| r.starts_with("pay_"))
    {
        Some(id) => Ok(store
            .get_payment_by_id(id)
            .await?
            .filter(|p| p.gateway.is_none() || p.gateway.as_deref() == Some(gateway))),
        None => Ok(None),
    }
}

fn observed(kind: NormalizedKind, ev: &GatewayEvent) -> Observed {
    let refund = || RefundFact {
        provider_reference: ev.object_reference.clone(),
        refund_id: ev
            .merchant_reference
            .clone()
            .filter(|r| r.starts_with("re_")),
        amount: ev.amount,
        reason: ev.reason.clone(),
    };
    let dispute = |status| Observed::Dispute {
        status,
        fact: DisputeFact {
            provider_reference: ev
                .object_reference
                .clone()
                .unwrap_or_else(|| ev.provider_event_id.clone()),
            amount: ev.amount,
            reason: ev.reason.clone(),
        },
    };
    match kind {
        NormalizedKind::PaymentAuthorized => Observed::Authorized,
        NormalizedKind::PaymentCaptured => Observed::Captured { amount: ev.amount },
        NormalizedKind::PaymentCaptureFailed => Observed::CaptureFailed {
            reason: ev.reason.clone(),
        },
        NormalizedKind::PaymentFailed => Observed::Failed {
            reason: ev.reason.clone(),
        },
        NormalizedKind::PaymentVoided => Observed::Voided,
        NormalizedKind::PaymentVoidFailed => Observed::VoidFailed {
            reason: ev.reason.clone(),
        },
        NormalizedKind::RefundSucceeded => Observed::RefundSucceeded(refund()),
        NormalizedKind::RefundFailed => Observed::RefundFailed(refund()),
        NormalizedKind::DisputeOpened => dispute(DisputeStatus::Open),
        NormalizedKind::DisputeWon => dispute(DisputeStatus::Won),
        NormalizedKind::DisputeLost => dispute(DisputeStatus::Lost),
    }
}

/// The gateway reports money taken for a payment payroute already answered
/// as failed (its outcome looked lost, and a lookup said "not there"): undo
/// it at the gateway by payroute's reference, so that what the merchant was
/// told stays true and no charge stands unseen. Once per payment: the
/// reversal's attempt row carries a fixed key.
async fn reverse_late_authorization(
    engine: &Engine,
    gateway: &str,
    payment: &Payment,
    known: Option<&str>,
) -> String {
    let live = engine.live.load();
    let Some(conn) = live.connectors.get(gateway) else {
        return "; gateway no longer configured: not reversed".into();
    };
    let mut attempt = crate::payments::records::new_attempt(
        &payment.id,
        gateway,
        "reversal",
        payment.amount,
        engine.clock.now(),
    );
    attempt.gateway_idempotency_key = format!("{}-late-reversal", payment.id);
    if engine.store.insert_attempt(&attempt).await.is_err() {
        return "; a reversal was already requested".into();
    }
    let outcome = conn
        .reverse(&payment.id, known, &attempt.gateway_idempotency_key)
        .await;
    let recorded = match &outcome {
        Outcome::Succeeded { .. } => AttemptOutcome::Approved,
        Outcome::Pending { .. } => AttemptOutcome::Pending,
        Outcome::Ambiguous { .. } => AttemptOutcome::Ambiguous,
        _ => AttemptOutcome::Error,
    };
    if let Err(e) = engine
        .store
        .finish_attempt(&attempt.id, recorded, None, None, 0)
        .await
    {
        tracing::warn!(error = %e, "could not record the reversal");
    }
    let detail =
        serde_json::json!({"payment": payment.id, "gateway": gateway, "outcome": outcome.label()});
    let entry = AuditEntry {
        kind: "webhook.late_authorization_reversed".into(),
        detail,
    };
    if let Err(e) = engine.store.append_audit(&entry).await {
        tracing::warn!(error = %e, "could not audit the reversal");
    }
    tracing::warn!(payment_id = %payment.id, gateway, outcome = outcome.label(), "late authorization on a failed payment: reversal requested");
    format!(
        "; late authorization on a failed payment: reversal {}",
        outcome.label()
    )
}
