//! How gateway outcomes become records: new attempt and payment rows, the
//! fields an attempt's outcome sets, a failure's code and message, and an
//! authorization outcome applied to its payment. Pure functions; the
//! orchestrator (`engine.rs`) and the operations write what they return.

use super::engine::{MethodInput, NewPayment};
use crate::domain::clock::Timestamp;
use crate::domain::facts::PaymentFacts;
use crate::domain::model::*;
use crate::domain::outcome::{Decline, Effect, Outcome};
use crate::routing::Decision;

/// A new `started` attempt made at `at`: written before its gateway call.
pub(crate) fn new_attempt(
    payment_id: &str,
    gateway: &str,
    operation: &str,
    amount: i64,
    at: Timestamp,
) -> Attempt {
    let now = at.rfc3339();
    let id = at.record_id("att");
    Attempt {
        // The attempt id doubles as the gateway idempotency key: stable for
        // every retry of this attempt, never shared with another gateway.
        gateway_idempotency_key: id.clone(),
        id,
        payment_id: payment_id.to_string(),
        gateway: gateway.to_string(),
        operation: operation.to_string(),
        amount,
        outcome: AttemptOutcome::Started,
        provider_reference: None,
        error_code: None,
        latency_ms: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

pub(super) fn attempt_fields(
    outcome: &Outcome,
) -> (AttemptOutcome, Option<String>, Option<String>) {
    match outcome {
        Outcome::Succeeded {
            provider_reference, ..
        } => (
            AttemptOutcome::Approved,
            Some(provider_reference.clone()),
            None,
        ),
        Outcome::Pending { provider_reference } => (
            AttemptOutcome::Pending,
            Some(provider_reference.clone()),
            None,
        ),
        Outcome::RequiresAction {
            provider_reference, ..
        } => (
            AttemptOutcome::RequiresAction,
            Some(provider_reference.clone()),
            None,
        ),
        Outcome::Declined(d) => (
            AttemptOutcome::Declined,
            d.provider_reference.clone(),
            Some(d.code.clone()),
        ),
        Outcome::Unavailable { .. } => (
            AttemptOutcome::Unavailable,
            None,
            Some("gateway_unavailable".into()),
        ),
        Outcome::Ambiguous { .. } => (
            AttemptOutcome::Ambiguous,
            None,
            Some("outcome_unknown".into()),
        ),
        Outcome::Rejected { code, .. } => (AttemptOutcome::Error, None, Some(code.clone())),
    }
}

pub(crate) fn failure_of(outcome: &Outcome) -> Failure {
    match outcome {
        Outcome::Declined(Decline {
            code,
            decline_code,
            message,
            ..
        }) => Failure {
            code: code.clone(),
            message: message.clone(),
            decline_code: decline_code.clone(),
        },
        Outcome::Unavailable { reason } => Failure {
            code: "gateway_unavailable".into(),
            message: format!("no gateway could be reached: {reason}"),
            decline_code: None,
        },
        Outcome::Rejected { code, message } => Failure {
            code: "gateway_rejected".into(),
            message: format!("the gateway refused the request ({code}): {message}"),
            decline_code: None,
        },
        Outcome::Ambiguous { reason } => Failure {
            code: "outcome_unknown".into(),
            message: reason.clone(),
            decline_code: None,
        },
        _ => Failure {
            code: "unexpected".into(),
            message: "unexpected outcome".into(),
            decline_code: None,
        },
    }
}

/// Applies a final authorization outcome (anything but failover reasons).
pub(super) fn apply_authorization(
    payment: &mut Payment,
    gateway: &str,
    outcome: Outcome,
    capture: CaptureMode,
) {
    payment.gateway = Some(gateway.to_string());
    match outcome {
        Outcome::Succeeded {
            provider_reference,
            effect,
        } => {
            payment.provider_reference = Some(provider_reference);
            if effect == Effect::Captured && capture == CaptureMode::Automatic {
                payment.status = PaymentStatus::Captured;
                payment.amount_captured = payment.amount;
            } else {
                payment.status = PaymentStatus::Authorized;
            }
        }
        Outcome::Pending { provider_reference } => {
            payment.provider_reference = Some(provider_reference);
            payment.status = PaymentStatus::Processing;
        }
        Outcome::RequiresAction {
            provider_reference,
            action,
        } => {
            payment.provider_reference = Some(provider_reference);
            payment.status = PaymentStatus::RequiresAction;
            payment.next_action = Some(action);
        }
        Outcome::Declined(ref d) => {
            payment.provider_reference = d.provider_reference.clone();
            payment.status = PaymentStatus::Failed;
            payment.failure = Some(failure_of(&outcome));
        }
        // The gateway may have charged: stay `processing`, never try another
        // gateway, leave it to reconciliation.
        Outcome::Ambiguous { .. } => payment.status = PaymentStatus::Processing,
        Outcome::Unavailable { .. } | Outcome::Rejected { .. } => {
            payment.status = PaymentStatus::Failed;
            payment.failure = Some(failure_of(&outcome));
        }
    }
}

pub(super) fn new_payment_record(
    merchant: &str,
    input: &NewPayment,
    facts: &PaymentFacts,
    decision: &Decision,
    at: Timestamp,
) -> Payment {
    let now = at.rfc3339();
    let card = match &input.method {
        MethodInput::Card(c) => Some(CardSummary {
            bin: facts.card_bin.clone().unwrap_or_default(),
            last4: c.number.expose()[c.number.expose().len().saturating_sub(4)..].to_string(),
            network: facts.card_network.clone().unwrap_or_default(),
            exp_month: c.exp_month,
            exp_year: c.exp_year,
            fingerprint: facts.card_fingerprint.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    let customer = &input.customer;
    Payment {
        id: at.record_id("pay"),
        merchant_id: merchant.to_string(),
        status: PaymentStatus::Processing,
        amount: input.amount,
        amount_captured: 0,
        amount_refunded: 0,
        currency: input.currency.code().to_string(),
        reference: input.reference.clone(),
        capture: input.capture,
        method: MethodSummary {
            kind: input.method.kind().as_str().to_string(),
            card,
        },
        gateway: None,
        provider_reference: None,
        route: RouteInfo {
            rule: decision.rule.clone().unwrap_or_default(),
            ruleset_version: decision.ruleset_version.clone(),
            attempts: Vec::new(),
        },
        risk: RiskInfo {
            score: decision.risk.score,
            signals: decision
                .risk
                .signals
                .iter()
                .map(|s| RiskSignal { name: s.name.clone(), score: s.score })
                .collect(),
        },
        failure: None,
        next_action: None,
        customer: (customer.id.is_some() || customer.email.is_some() || customer.country.is_some())
            .then(|| serde_json::json!({"id": customer.id, "email": customer.email, "country": customer.country})),
        metadata: input.metadata.clone(),
        refunds: Vec::new(),
        created_at: now.clone(),
        updated_at: now,
        idempotency_key: input.idempotency_key.clone(),
    }
}
