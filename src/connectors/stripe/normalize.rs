//! Stripe events → [`GatewayEvent`]. The event `type` decides the kind; the
//! type of `data.object` decides where the references are.

use serde_json::Value;

use super::amount::from_stripe;
use crate::connectors::webhook::{GatewayEvent, NormalizeError, NormalizedKind};

/// Normalizes a (verified) Stripe event body.
pub fn normalize_stripe(raw_body: &[u8]) -> Result<GatewayEvent, NormalizeError> {
    let event: Value =
        serde_json::from_slice(raw_body).map_err(|e| NormalizeError::NotJson(e.to_string()))?;
    let id = text(&event, "id").ok_or(NormalizeError::Missing("id"))?;
    let event_type = text(&event, "type").ok_or(NormalizeError::Missing("type"))?;
    let object = event
        .pointer("/data/object")
        .filter(|o| o.is_object())
        .ok_or(NormalizeError::Missing("data.object"))?;
    let kind = kind(&event_type, object);
    let (payment_reference, object_reference, merchant_reference) = references(object);
    Ok(GatewayEvent {
        provider_event_id: id,
        kind,
        payment_reference,
        object_reference,
        merchant_reference,
        amount: iso_amount(kind, object),
        currency: text(object, "currency").map(|c| c.to_ascii_uppercase()),
        reason: reason(kind, object),
        raw_type: event_type,
        occurred_at: event.get("created").and_then(Value::as_i64),
    })
}

fn kind(event_type: &str, object: &Value) -> Option<NormalizedKind> {
    use NormalizedKind as K;
    let status = text(object, "status");
    match event_type {
        "payment_intent.amount_capturable_updated" => Some(K::PaymentAuthorized),
        "payment_intent.succeeded" => Some(K::PaymentCaptured),
        "payment_intent.payment_failed" => Some(K::PaymentFailed),
        "payment_intent.canceled" => Some(K::PaymentVoided),
        // refund.* events carry the refund itself; charge.refunded only says
        // "some refund happened" and would double-count.
        "refund.created" | "refund.updated" | "charge.refund.updated" => match status.as_deref() {
            Some("succeeded") => Some(K::RefundSucceeded),
            Some("failed" | "canceled") => Some(K::RefundFailed),
            _ => None,
        },
        "refund.failed" => Some(K::RefundFailed),
        "charge.dispute.created" => Some(K::DisputeOpened),
        "charge.dispute.closed" => match status.as_deref() {
            Some("won") => Some(K::DisputeWon),
            Some("lost") => Some(K::DisputeLost),
            _ => None,
        },
        _ => None,
    }
}

/// (payment, object, merchant) references by the object's own type.
fn references(object: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let id = text(object, "id");
    let meta = |key: &str| object.get("metadata").and_then(|m| text(m, key));
    match object.get("object").and_then(Value::as_str) {
        Some("payment_intent") => (id, None, meta("payroute_payment_id")),
        Some("refund") => (
            expandable_id(object, "payment_intent"),
            id,
            meta("payroute_refund_id").or_else(|| meta("payroute_payment_id")),
        ),
        _ => (
            expandable_id(object, "payment_intent"),
            id,
            meta("payroute_payment_id"),
        ),
    }
}

/// The object's amount in ISO minor units (Stripe's scale differs for a few
/// currencies); `None` when it holds a fraction of an ISO minor unit. Without
/// a currency there is no scale to convert from, so the value is kept as is.
fn iso_amount(kind: Option<NormalizedKind>, object: &Value) -> Option<i64> {
    let value = amount(kind, object)?;
    match text(object, "currency") {
        Some(currency) => from_stripe(value, &currency),
        None => Some(value),
    }
}

fn amount(kind: Option<NormalizedKind>, object: &Value) -> Option<i64> {
    let field = match kind {
        Some(NormalizedKind::PaymentAuthorized) => "amount_capturable",
        Some(NormalizedKind::PaymentCaptured) => "amount_received",
        _ => "amount",
    };
    object.get(field).and_then(Value::as_i64)
}

fn reason(kind: Option<NormalizedKind>, object: &Value) -> Option<String> {
    match kind {
        Some(NormalizedKind::PaymentFailed) => object.get("last_payment_error").and_then(|e| {
            text(e, "decline_code")
                .or_else(|| text(e, "code"))
                .or_else(|| text(e, "message"))
        }),
        Some(NormalizedKind::PaymentVoided) => text(object, "cancellation_reason"),
        Some(NormalizedKind::RefundSucceeded | NormalizedKind::RefundFailed) => {
            text(object, "failure_reason").or_else(|| text(object, "reason"))
        }
        _ => text(object, "reason"),
    }
}

/// A Stripe expandable field: an id string, or the expanded object's `id`.
fn expandable_id(object: &Value, key: &str) -> Option<String> {
    match object.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        v @ Value::Object(_) => text(v, "id"),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
