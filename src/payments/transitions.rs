//! What the gateways tell payroute later — by webhook or when asked by the
//! reconciler — applied through one forward-only state machine. Each applied
//! fact yields the records to write and the merchant event to send, as one
//! [`Commit`]; a fact that would move a payment backwards is stale: recorded
//! by the caller, never applied, never forwarded.

use serde_json::json;

use crate::domain::clock::Timestamp;
use crate::domain::model::*;
use crate::domain::store::events::{Commit, Delivery, DeliveryStatus, Dispute, DisputeStatus};

/// A fact a gateway reported about a payment it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Authorized,
    Captured {
        amount: Option<i64>,
    },
    CaptureFailed {
        reason: Option<String>,
    },
    Failed {
        reason: Option<String>,
    },
    Voided,
    VoidFailed {
        reason: Option<String>,
    },
    RefundSucceeded(RefundFact),
    RefundFailed(RefundFact),
    Dispute {
        status: DisputeStatus,
        fact: DisputeFact,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundFact {
    /// The gateway's refund id (Stripe `re_...`, Adyen modification psp).
    pub provider_reference: Option<String>,
    /// payroute's refund id, when the gateway echoes it.
    pub refund_id: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisputeFact {
    pub provider_reference: String,
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

/// The result of applying one fact.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Records to write atomically, with the merchant event.
    Changed(Box<Commit>),
    /// True but already known (a retry of a fact already applied): nothing
    /// to write, and still forwarded so the merchant hears the gateway.
    Confirmed(Box<Commit>),
    /// Would move the payment backwards: ignored.
    Stale(String),
}

/// Applies `fact` to `payment` (with its refunds) and the existing dispute
/// if any, at `now` (the records' times and the merchant event's).
pub fn apply(
    payment: &Payment,
    fact: &Observed,
    dispute: Option<&Dispute>,
    now: Timestamp,
) -> Applied {
    use PaymentStatus::*;
    let mut p = payment.clone();
    // An automatic-capture authorization is a capture: the gateway captures
    // it without being asked (the API path records it the same way).
    let automatic = Observed::Captured { amount: None };
    let fact = match fact {
        Observed::Authorized if p.capture == CaptureMode::Automatic => &automatic,
        f => f,
    };
    let target = match fact {
        Observed::Authorized => Authorized,
        Observed::Captured { .. } => Captured,
        Observed::Failed { .. } => Failed,
        Observed::Voided => Voided,
        Observed::CaptureFailed { reason } => {
            if p.status != CapturePending {
                return Applied::Stale(format!(
                    "capture failure for a {} payment",
                    p.status.as_str()
                ));
            }
            p.status = Authorized;
            p.failure = Some(failure("capture_failed", reason));
            return changed(p, now, None, "payment.capture_failed");
        }
        Observed::VoidFailed { reason } => {
            if p.status != VoidPending {
                return Applied::Stale(format!("void failure for a {} payment", p.status.as_str()));
            }
            p.status = Authorized;
            p.failure = Some(failure("void_failed", reason));
            return changed(p, now, None, "payment.void_failed");
        }
        Observed::RefundSucceeded(f) => return refund(p, f, RefundStatus::Succeeded, now),
        Observed::RefundFailed(f) => return refund(p, f, RefundStatus::Failed, now),
        Observed::Dispute { status, fact } => {
            return dispute_change(&p, *status, fact, dispute, now);
        }
    };
    let kind = match target {
        Authorized => "payment.authorized",
        Captured => "payment.captured",
        Failed => "payment.failed",
        _ => "payment.voided",
    };
    if p.status == target {
        return confirmed(payment, kind, now);
    }
    if !p.status.can_move_to(target) {
        return Applied::Stale(format!("{kind} for a {} payment", p.status.as_str()));
    }
    p.status = target;
    match fact {
        Observed::Captured { amount } => {
            p.amount_captured = amount.unwrap_or(p.amount).min(p.amount)
        }
        Observed::Failed { reason } => p.failure = Some(failure("payment_failed", reason)),
        _ => {}
    }
    changed(p, now, None, kind)
}

fn failure(code: &str, reason: &Option<String>) -> Failure {
    Failure {
        code: code.to_string(),
        message: reason
            .clone()
            .unwrap_or_else(|| "reported by the gateway".to_string()),
        decline_code: None,
    }
}

fn confirmed(p: &Payment, kind: &str, now: Timestamp) -> Applied {
    let data = p.to_json();
    Applied::Confirmed(Box::new(Commit {
        deliveries: vec![delivery(&p.merchant_id, kind, data, now)],
        ..Commit::default()
    }))
}

fn changed(mut p: Payment, now: Timestamp, refund: Option<Refund>, kind: &str) -> Applied {
    p.updated_at = now.rfc3339();
    let data = match &refund {
        Some(r) => json!(r),
        None => p.to_json(),
    };
    Applied::Changed(Box::new(Commit {
        deliveries: vec![delivery(&p.merchant_id, kind, data, now)],
        refunds: refund.into_iter().collect(),
        payment: Some(p),
        ..Commit::default()
    }))
}

fn refund(mut p: Payment, f: &RefundFact, status: RefundStatus, stamp: Timestamp) -> Applied {
    let now = stamp.rfc3339();
    // Money given back by payroute's own reversal (a late or unknown
    // authorization) for a payment the merchant was never told was charged:
    // that stays true, and there is no refund to report.
    let never_charged = matches!(
        p.status,
        PaymentStatus::Failed | PaymentStatus::Voided | PaymentStatus::Processing
    );
    if never_charged {
        return Applied::Stale(format!("refund of a {} payment", p.status.as_str()));
    }
    let kind = if status == RefundStatus::Succeeded {
        "refund.succeeded"
    } else {
        "refund.failed"
    };
    let found = p.refunds.iter().position(|r| {
        f.refund_id.as_deref() == Some(r.id.as_str())
            || (f.provider_reference.is_some() && f.provider_reference == r.provider_reference)
    });
    let mut r = match found {
        Some(i) => p.refunds[i].clone(),
        // A refund made outside payroute (e.g. in the gateway's dashboard)
        // still moves money: record it.
        None if status == RefundStatus::Succeeded => Refund {
            id: stamp.record_id("re"),
            payment_id: p.id.clone(),
            status: RefundStatus::Pending,
            amount: f.amount.unwrap_or(0),
            currency: p.currency.clone(),
            gateway: p.gateway.clone().unwrap_or_default(),
            provider_reference: f.provider_reference.clone(),
            reason: f.reason.clone(),
            failure: None,
            created_at: now.clone(),
            updated_at: now.clone(),
        },
        None => return Applied::Stale("refund failure for an unknown refund".into()),
    };
    if r.status == status {
        let data = json!(r);
        return Applied::Confirmed(Box::new(Commit {
            deliveries: vec![delivery(&p.merchant_id, kind, data, stamp)],
            ..Commit::default()
        }));
    }
    if r.status != RefundStatus::Pending {
        return Applied::Stale(format!("{kind} for a {} refund", r.status.as_str()));
    }
    if r.provider_reference.is_none() {
        r.provider_reference = f.provider_reference.clone();
    }
    r.status = status;
    r.updated_at = now.clone();
    if status == RefundStatus::Succeeded {
        if r.amount == 0 {
            r.amount = f.amount.unwrap_or(0);
        }
        p.amount_refunded =
            (p.amount_refunded + r.amount).min(p.amount_captured.max(p.amount_refunded));
        let next = if p.amount_refunded >= p.amount_captured {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
        if p.status.can_move_to(next) {
            p.status = next;
        }
    } else {
        r.failure = Some(failure("refund_failed", &f.reason));
    }
    changed(p, stamp, Some(r), kind)
}

fn dispute_change(
    p: &Payment,
    status: DisputeStatus,
    f: &DisputeFact,
    existing: Option<&Dispute>,
    stamp: Timestamp,
) -> Applied {
    let now = stamp.rfc3339();
    let kind = match status {
        DisputeStatus::Open => "dispute.opened",
        DisputeStatus::Won => "dispute.won",
        DisputeStatus::Lost => "dispute.lost",
    };
    let mut d = existing.cloned().unwrap_or_else(|| Dispute {
        id: stamp.record_id("dp"),
        payment_id: p.id.clone(),
        gateway: p.gateway.clone().unwrap_or_default(),
        provider_reference: f.provider_reference.clone(),
        status: DisputeStatus::Open,
        amount: f.amount.unwrap_or(p.amount_captured),
        currency: p.currency.clone(),
        reason: f.reason.clone(),
        created_at: now.clone(),
        updated_at: now.clone(),
    });
    let is_new = existing.is_none();
    if !is_new && d.status == status {
        return Applied::Confirmed(Box::new(Commit {
            deliveries: vec![delivery(&p.merchant_id, kind, json!(d), stamp)],
            ..Commit::default()
        }));
    }
    // A dispute is opened once and closed once; a late "opened" after the
    // outcome is stale.
    if !is_new && d.status != DisputeStatus::Open {
        return Applied::Stale(format!("{kind} for a {} dispute", d.status.as_str()));
    }
    d.status = status;
    d.updated_at = now;
    Applied::Changed(Box::new(Commit {
        deliveries: vec![delivery(&p.merchant_id, kind, json!(d), stamp)],
        disputes: vec![d],
        ..Commit::default()
    }))
}

/// A merchant event made at `at`, ready for the outbound queue (due
/// then): `{"id","type","created","data"}`.
pub fn delivery(merchant_id: &str, kind: &str, data: serde_json::Value, at: Timestamp) -> Delivery {
    let event_id = at.record_id("evt");
    let created = at.unix();
    let payload =
        json!({"id": event_id, "type": kind, "created": created, "data": data}).to_string();
    let now = at.rfc3339();
    Delivery {
        id: at.record_id("dlv"),
        event_id,
        merchant_id: merchant_id.to_string(),
        event_type: kind.to_string(),
        payload,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: created,
        last_error: None,
        last_status: None,
        created_at: now.clone(),
        updated_at: now,
    }
}
