//! Checkout.com webhooks: `Cko-Signature` verification and normalisation of
//! the event into payroute's [`GatewayEvent`]. Pure: no I/O, no clock.
//!
//! Signature (docs, "Set up your webhook receiver"): the `Cko-Signature`
//! header is the hex HMAC-SHA256 of the raw body, keyed with the signature
//! key configured on the workflow's webhook action. It must be computed on
//! the body exactly as received (re-serialising changes bytes). Checkout.com
//! ships no SDK helper, so there are no official vectors; the known-answer
//! test (`webhook_tests.rs`) was checked with openssl. Several keys are tried (the current
//! one and, during rotation, the previous one), each compared in constant
//! time.
//!
//! Events (docs, workflows "webhook event types"): `{"id":"evt_...",
//! "type":"payment_approved","created_on":RFC3339,"data":{"id":"pay_...",
//! "action_id":"act_...","reference","amount","currency","response_code",
//! "response_summary","metadata":{...}}}`; dispute events carry the dispute
//! in `data` (`id` `dsp_...`, `payment_id`, `reason`).

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{PAYMENT_ID_METADATA_KEY, REFUND_ID_METADATA_KEY};
use crate::connectors::webhook::{
    Delivery, GatewayEvent, NormalizeError, NormalizedKind, Verified, VerifiedEvent, VerifyError,
    WebhookAck, ct_eq, hmac_sha256,
};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "cko-signature";

/// Verifies `Cko-Signature` against any of `keys` (current, then previous).
/// Hex of either case is accepted.
pub fn verify_signature(
    raw_body: &[u8],
    header: Option<&str>,
    keys: &[&str],
) -> Result<(), VerifyError> {
    let keys: Vec<&str> = keys.iter().copied().filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        return Err(VerifyError::BadKey(
            "no Checkout.com signature key configured".into(),
        ));
    }
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let given = header
        .ok_or(VerifyError::MissingSignature)?
        .to_ascii_lowercase();
    // Every key is tried, so timing does not reveal which one matched.
    let matched = keys.iter().fold(false, |hit, key| {
        let expected = hex::encode(hmac_sha256(key.as_bytes(), &[raw_body]));
        hit | ct_eq(expected.as_bytes(), given.as_bytes())
    });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Checkout.com takes any 2xx as delivered; the body is not read.
const ACK: WebhookAck = WebhookAck {
    body: "{\"received\":true}",
    content_type: "application/json",
};

/// One delivery is one event: verified on the raw body, stored raw under its
/// `evt_` id (Checkout.com retries with the same id, so duplicates collapse).
pub(super) fn verify_delivery(d: &Delivery<'_>) -> Result<Verified, VerifyError> {
    verify_signature(d.body, d.header(SIGNATURE_HEADER), d.secrets)?;
    let event = normalize(d.body).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    Ok(Verified {
        events: vec![VerifiedEvent {
            provider_event_id: event.provider_event_id,
            payload: d.body.to_vec(),
        }],
        ack: ACK,
    })
}

/// Normalizes a (verified) Checkout.com event body.
pub fn normalize(raw_body: &[u8]) -> Result<GatewayEvent, NormalizeError> {
    let event: Value =
        serde_json::from_slice(raw_body).map_err(|e| NormalizeError::NotJson(e.to_string()))?;
    let id = text(&event, "id").ok_or(NormalizeError::Missing("id"))?;
    let event_type = text(&event, "type").ok_or(NormalizeError::Missing("type"))?;
    let data = event
        .get("data")
        .filter(|d| d.is_object())
        .ok_or(NormalizeError::Missing("data"))?;
    let kind = kind(&event_type);
    let (payment_reference, object_reference) = references(&event_type, data);
    let currency = text(data, "currency").map(|c| c.to_ascii_uppercase());
    // Checkout.com's amount format, back to ISO minor units (CLP differs).
    let amount = match (data.get("amount").and_then(Value::as_i64), &currency) {
        (Some(a), Some(c)) => super::amount::from_checkout(a, c),
        (a, None) => a,
        (None, _) => None,
    };
    Ok(GatewayEvent {
        provider_event_id: id,
        kind,
        payment_reference,
        object_reference,
        merchant_reference: merchant_reference(kind, data),
        amount,
        currency,
        reason: text(data, "response_summary")
            .or_else(|| text(data, "reason"))
            .or_else(|| text(data, "response_code")),
        raw_type: event_type,
        occurred_at: text(&event, "created_on")
            .and_then(|d| OffsetDateTime::parse(&d, &Rfc3339).ok())
            .map(OffsetDateTime::unix_timestamp),
    })
}

/// The event type → payroute's kind. `payment_approved` is the
/// authorization (a capture, requested or automatic, has its own
/// `payment_captured`); `payment_pending`, `*_pending`, `payment_expired`
/// and other types are not acted on.
fn kind(event_type: &str) -> Option<NormalizedKind> {
    use NormalizedKind as K;
    match event_type {
        "payment_approved" => Some(K::PaymentAuthorized),
        "payment_declined" => Some(K::PaymentFailed),
        "payment_captured" => Some(K::PaymentCaptured),
        "payment_capture_declined" => Some(K::PaymentCaptureFailed),
        "payment_voided" => Some(K::PaymentVoided),
        "payment_void_declined" => Some(K::PaymentVoidFailed),
        "payment_refunded" => Some(K::RefundSucceeded),
        "payment_refund_declined" => Some(K::RefundFailed),
        "dispute_received" | "dispute_evidence_required" => Some(K::DisputeOpened),
        "dispute_won" => Some(K::DisputeWon),
        "dispute_lost" | "dispute_accepted" => Some(K::DisputeLost),
        _ => None,
    }
}

/// (payment, object): a payment event is about `data.id` (`pay_...`), its
/// capture / void / refund action is `data.action_id`; a dispute event is
/// about the dispute `data.id` (`dsp_...`) of payment `data.payment_id`.
fn references(event_type: &str, data: &Value) -> (Option<String>, Option<String>) {
    if event_type.starts_with("dispute_") {
        return (text(data, "payment_id"), text(data, "id"));
    }
    let action = matches!(
        event_type,
        "payment_captured"
            | "payment_capture_declined"
            | "payment_voided"
            | "payment_void_declined"
            | "payment_refunded"
            | "payment_refund_declined"
    );
    let object = if action {
        text(data, "action_id")
    } else {
        None
    };
    (text(data, "id"), object)
}

/// payroute's own id echoed back: for refunds the refund id (metadata, or
/// the refund's `reference` when it is one of payroute's `re_` ids), else
/// the payment id (metadata, or the payment's `reference`).
fn merchant_reference(kind: Option<NormalizedKind>, data: &Value) -> Option<String> {
    let meta = |key: &str| data.get("metadata").and_then(|m| text(m, key));
    let reference = text(data, "reference");
    let refund = matches!(
        kind,
        Some(NormalizedKind::RefundSucceeded | NormalizedKind::RefundFailed)
    );
    let refund_id = || {
        meta(REFUND_ID_METADATA_KEY).or_else(|| reference.clone().filter(|r| r.starts_with("re_")))
    };
    match refund.then(refund_id).flatten() {
        Some(id) => Some(id),
        None => meta(PAYMENT_ID_METADATA_KEY).or(reference),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
