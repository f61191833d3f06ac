//! Payment actions: `POST /payments/{id}/captures`, `/voids`, `/refunds`
//! and `/reversals` (void if still possible, else refund what was
//! captured). Checkout.com answers 202 `{"action_id", "reference",
//! "_links"}` and reports the outcome by webhook; the sandbox applies it to
//! the ledger at once and queues the event.
//!
//! An unknown payment (or another account's) is 404; an action the
//! payment's state does not allow is 403 ("Capture/Void/Refund not allowed"
//! in the API reference); an amount above what is available is 422
//! `amount_exceeds_balance` (our code). The `action_declined` fault accepts
//! the action and then declines it (`payment_*_declined`, nothing moves).

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::super::faults::FaultMode;
use super::super::ledger::ChargeStatus;
use super::super::state::{Sandbox, lock};
use super::super::wire::SimReply;
use super::{CheckoutPayment, EventData, bare, invalid, link};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Capture,
    Void,
    Refund,
    Reversal,
}

impl Kind {
    pub fn from_path(segment: &str) -> Option<Kind> {
        match segment {
            "captures" => Some(Kind::Capture),
            "voids" => Some(Kind::Void),
            "refunds" => Some(Kind::Refund),
            "reversals" => Some(Kind::Reversal),
            _ => None,
        }
    }
}

/// What an action does once allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Capture(i64),
    Void,
    Refund(i64),
}

impl Effect {
    fn event(self, declined: bool) -> &'static str {
        match (self, declined) {
            (Effect::Capture(_), false) => "payment_captured",
            (Effect::Capture(_), true) => "payment_capture_declined",
            (Effect::Void, false) => "payment_voided",
            (Effect::Void, true) => "payment_void_declined",
            (Effect::Refund(_), false) => "payment_refunded",
            (Effect::Refund(_), true) => "payment_refund_declined",
        }
    }

    fn amount(self, p: &CheckoutPayment) -> i64 {
        match self {
            Effect::Capture(a) | Effect::Refund(a) => a,
            Effect::Void => p.amount,
        }
    }
}

/// The request's optional `amount`, `reference` and `metadata`.
struct Params {
    amount: Option<i64>,
    reference: Option<String>,
    metadata: Option<Map<String, Value>>,
}

fn params(sb: &Sandbox, kind: Kind, body: &Value) -> Result<Params, SimReply> {
    let amount = match body.get("amount") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().filter(|a| *a > 0) {
            Some(a) if matches!(kind, Kind::Capture | Kind::Refund) => Some(a),
            _ => return Err(invalid(sb, &["amount_invalid"])),
        },
    };
    let reference = match body.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.chars().count() <= 80 => Some(r.clone()),
        Some(_) => return Err(invalid(sb, &["reference_invalid"])),
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err(invalid(sb, &["metadata_invalid"])),
    };
    Ok(Params {
        amount,
        reference,
        metadata,
    })
}

/// Decides what the action does: 403 when the state forbids it, 422 when
/// the amount is above the balance.
fn effect(
    sb: &Sandbox,
    kind: Kind,
    p: &CheckoutPayment,
    amount: Option<i64>,
) -> Result<Effect, SimReply> {
    let within = |available: i64, make: fn(i64) -> Effect| {
        if available <= 0 {
            return Err(bare(StatusCode::FORBIDDEN));
        }
        match amount {
            Some(a) if a > available => Err(invalid(sb, &["amount_exceeds_balance"])),
            Some(a) => Ok(make(a)),
            None => Ok(make(available)),
        }
    };
    match kind {
        Kind::Capture => within(p.available_to_capture(), Effect::Capture),
        Kind::Refund => within(p.available_to_refund(), Effect::Refund),
        Kind::Void if p.available_to_void() > 0 => Ok(Effect::Void),
        Kind::Void => Err(bare(StatusCode::FORBIDDEN)),
        Kind::Reversal if p.available_to_void() > 0 => Ok(Effect::Void),
        Kind::Reversal => within(p.available_to_refund(), Effect::Refund),
    }
}

/// Applies an action and answers 202.
pub(crate) fn apply(
    sb: &Sandbox,
    account: &str,
    id: &str,
    kind: Kind,
    body: &Value,
    fault: Option<FaultMode>,
) -> SimReply {
    let params = match params(sb, kind, body) {
        Ok(params) => params,
        Err(reply) => return reply,
    };
    let mut state = lock(&sb.checkout);
    let Some(payment) = state.payments.get_mut(id).filter(|p| p.account == account) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let effect = match effect(sb, kind, payment, params.amount) {
        Ok(effect) => effect,
        Err(reply) => return reply,
    };
    let declined = fault == Some(FaultMode::ActionDeclined);
    if !declined {
        move_money(sb, id, payment, effect);
    }
    let action_id = sb.checkout_id("act_");
    let response = if declined {
        ("20005", "Declined - Do not honour")
    } else {
        super::payments::APPROVED
    };
    let data = EventData {
        payment_id: id,
        payment,
        action_id: &action_id,
        amount: effect.amount(payment),
        reference: params.reference.as_deref(),
        metadata: params.metadata.as_ref(),
        response: Some(response),
    };
    sb.emit(data.event(effect.event(declined)));
    let mut reply = json!({"action_id": action_id, "_links": {"payment": link(id, "")}});
    if let Some(reference) = &params.reference {
        reply["reference"] = json!(reference);
    }
    SimReply::json(StatusCode::ACCEPTED, &reply)
}

fn move_money(sb: &Sandbox, id: &str, p: &mut CheckoutPayment, effect: Effect) {
    match effect {
        Effect::Capture(amount) => {
            p.captured += amount;
            let captured = p.captured;
            sb.update_ledger(id, |e| e.amount_captured = captured);
        }
        Effect::Refund(amount) => {
            p.refunded += amount;
            let refunded = p.refunded;
            sb.update_ledger(id, |e| e.amount_refunded = refunded);
        }
        Effect::Void => {
            p.voided = true;
            sb.update_ledger(id, |e| e.status = ChargeStatus::Voided);
        }
    }
}
