//! Stripe Refunds: `POST /v1/refunds` (by payment_intent or charge, partial
//! and repeatable up to the captured amount) and `GET /v1/refunds/{id}`.
//!
//! A card refund settles at once here; its webhooks still tell the story
//! Stripe tells: `refund.created` (status `pending`), `refund.updated`
//! (status `succeeded`), then `charge.refunded` with the charge object.

use serde_json::Value;

use super::super::form::Form;
use super::super::ledger::{Dialect, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::super::wire::now_unix;
use super::error::StripeError;
use super::intents::event;
use super::objects::{IntentStatus, Refund};
use super::params::{self, REFUND_CREATE};

/// `POST /v1/refunds`.
pub(crate) fn create(sb: &Sandbox, form: &Form, key: Option<&str>) -> Result<Value, StripeError> {
    params::check_known(form, REFUND_CREATE)?;
    let requested = params::positive(form, "amount")?;
    let reason = params::one_of(
        form,
        "reason",
        &["duplicate", "fraudulent", "requested_by_customer"],
    )?;
    let mut st = lock(&sb.stripe);
    let pi_id = match (form.str(&["payment_intent"]), form.str(&["charge"])) {
        (Some(pi), _) => pi.to_string(),
        (None, Some(charge)) => st
            .charge_owner
            .get(charge)
            .cloned()
            .ok_or_else(|| StripeError::no_such("charge", charge, "charge"))?,
        (None, None) => {
            return Err(StripeError::invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
            ));
        }
    };
    let intent = st
        .intents
        .get_mut(&pi_id)
        .ok_or_else(|| StripeError::no_such("payment_intent", &pi_id, "payment_intent"))?;
    let charge_id = match intent.latest_charge() {
        Some(charge) if intent.status == IntentStatus::Succeeded => charge.id.clone(),
        _ => {
            return Err(StripeError::invalid(format!(
                "This PaymentIntent ({pi_id}) does not have a successful charge to refund."
            ))
            .param("payment_intent"));
        }
    };
    let remaining = intent.amount_received - intent.amount_refunded;
    if remaining <= 0 {
        return Err(
            StripeError::invalid(format!("Charge {charge_id} has already been refunded."))
                .code("charge_already_refunded"),
        );
    }
    let amount = requested.unwrap_or(remaining);
    if amount > remaining {
        return Err(StripeError::invalid(format!(
            "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
        ))
        .code("amount_too_large")
        .param("amount"));
    }
    intent.amount_refunded += amount;
    let refund = Refund {
        id: sb.stripe_id("re_"),
        amount,
        currency: intent.currency.clone(),
        charge: charge_id,
        payment_intent: pi_id.clone(),
        status: "succeeded",
        reason,
        metadata: form.string_map("metadata"),
        created: now_unix(),
        account: intent.account.clone(),
    };
    sb.update_ledger(&pi_id, |e| e.amount_refunded += amount);
    let mut pending = refund.clone();
    pending.status = "pending";
    sb.emit(refund_event(&pending, "refund.created", key));
    sb.emit(refund_event(&refund, "refund.updated", key));
    let mut refunded = event(intent, "charge.refunded", true, key);
    refunded.object_id = refund.charge.clone();
    refunded.amount = amount;
    refunded.object = intent.latest_charge().map(|c| intent.charge_json(c));
    sb.emit(refunded);
    let body = refund.json();
    st.refunds.insert(refund.id.clone(), refund);
    Ok(body)
}

fn refund_event(refund: &Refund, name: &str, key: Option<&str>) -> OutboxEvent {
    let mut event = OutboxEvent::new(
        Dialect::Stripe,
        name,
        &refund.id,
        refund.amount,
        &refund.currency,
        true,
    );
    event.object = Some(refund.json());
    event.idempotency_key = key.map(str::to_string);
    event.stripe_account = Some(refund.account.clone());
    event
}

/// `GET /v1/refunds/{id}`.
pub(crate) fn retrieve(sb: &Sandbox, id: &str) -> Result<Value, StripeError> {
    lock(&sb.stripe)
        .refunds
        .get(id)
        .map(Refund::json)
        .ok_or_else(|| StripeError::no_such("refund", id, "refund"))
}
