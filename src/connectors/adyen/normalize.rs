//! Adyen notification items → [`GatewayEvent`]. `eventCode` plus `success`
//! decide the kind. A modification (capture, cancel, refund) and a dispute
//! have their own pspReference and name the payment in `originalReference`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::amount::from_adyen;
use super::item::AdyenItem;
use crate::connectors::webhook::{GatewayEvent, NormalizeError, NormalizedKind};

/// Event codes whose pspReference is not the payment's own.
const MODIFICATION_OR_DISPUTE: &[&str] = &[
    "AUTHORISATION_ADJUSTMENT",
    "CANCELLATION",
    "CANCEL_OR_REFUND",
    "CAPTURE",
    "CAPTURE_FAILED",
    "REFUND",
    "REFUND_FAILED",
    "REFUNDED_REVERSED",
    "REFUND_WITH_DATA",
    "TECHNICAL_CANCEL",
    "VOID_PENDING_REFUND",
    "POSTPONED_REFUND",
    "CHARGEBACK",
    "CHARGEBACK_REVERSED",
    "SECOND_CHARGEBACK",
    "NOTIFICATION_OF_CHARGEBACK",
    "NOTIFICATION_OF_FRAUD",
    "REQUEST_FOR_INFORMATION",
    "PREARBITRATION_WON",
    "PREARBITRATION_LOST",
    "INFORMATION_SUPPLIED",
    "DISPUTE_DEFENSE_PERIOD_ENDED",
    "ISSUER_RESPONSE_TIMEFRAME_EXPIRED",
];

/// The item's amount in ISO minor units (Adyen's scale differs for a few
/// currencies); `None` when it holds a fraction of an ISO minor unit. Without
/// a currency there is no scale to convert from, so the value is kept as is.
fn iso_amount(item: &AdyenItem) -> Option<i64> {
    let value = item.amount_value?;
    match item.amount_currency.as_deref() {
        Some(currency) => from_adyen(value, currency),
        None => Some(value),
    }
}

/// Normalizes one verified notification item.
pub fn normalize_adyen(item: &AdyenItem) -> GatewayEvent {
    let (payment_reference, object_reference) = references(item);
    GatewayEvent {
        // Design §6: an item has no id; these three identify it.
        provider_event_id: format!(
            "{}:{}:{}",
            item.psp_reference, item.event_code, item.success_raw
        ),
        kind: kind(item),
        payment_reference,
        object_reference,
        merchant_reference: item.merchant_reference.clone(),
        amount: iso_amount(item),
        currency: item
            .amount_currency
            .as_ref()
            .map(|c| c.to_ascii_uppercase()),
        reason: item.reason.clone(),
        raw_type: format!("{}:{}", item.event_code, item.success_raw),
        occurred_at: item
            .event_date
            .as_deref()
            .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok())
            .map(OffsetDateTime::unix_timestamp),
    }
}

/// Normalizes one stored item (the inner object `verify` stored).
pub(super) fn normalize_payload(payload: &[u8]) -> Result<GatewayEvent, NormalizeError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| NormalizeError::NotJson(e.to_string()))?;
    let item =
        AdyenItem::from_value(&value).map_err(|e| NormalizeError::Unreadable(e.to_string()))?;
    Ok(normalize_adyen(&item))
}

fn kind(item: &AdyenItem) -> Option<NormalizedKind> {
    use NormalizedKind as K;
    let ok = item.success;
    let pick = |yes, no| Some(if ok { yes } else { no });
    match item.event_code.as_str() {
        "AUTHORISATION" => pick(K::PaymentAuthorized, K::PaymentFailed),
        "CAPTURE" => pick(K::PaymentCaptured, K::PaymentCaptureFailed),
        "CAPTURE_FAILED" => Some(K::PaymentCaptureFailed),
        "CANCELLATION" => pick(K::PaymentVoided, K::PaymentVoidFailed),
        // The outcome of a cancel by payroute's own reference (`POST /cancels`,
        // the reconciler's timeout reversal).
        "TECHNICAL_CANCEL" => pick(K::PaymentVoided, K::PaymentVoidFailed),
        // Adyen cancels or refunds, whichever applies, and says which in
        // `additionalData.modification.action`.
        "CANCEL_OR_REFUND" if modification_action(item) == Some("refund") => {
            pick(K::RefundSucceeded, K::RefundFailed)
        }
        "CANCEL_OR_REFUND" => pick(K::PaymentVoided, K::PaymentVoidFailed),
        "REFUND" => pick(K::RefundSucceeded, K::RefundFailed),
        "REFUND_FAILED" | "REFUNDED_REVERSED" => Some(K::RefundFailed),
        "CHARGEBACK" | "NOTIFICATION_OF_CHARGEBACK" => Some(K::DisputeOpened),
        "CHARGEBACK_REVERSED" | "PREARBITRATION_WON" => Some(K::DisputeWon),
        "SECOND_CHARGEBACK" | "PREARBITRATION_LOST" => Some(K::DisputeLost),
        _ => None,
    }
}

fn modification_action(item: &AdyenItem) -> Option<&str> {
    item.raw
        .get("additionalData")
        .and_then(|a| a.get("modification.action"))
        .and_then(|v| v.as_str())
}

/// (payment, object) references.
fn references(item: &AdyenItem) -> (Option<String>, Option<String>) {
    let psp = Some(item.psp_reference.clone());
    match &item.original_reference {
        Some(original) => (Some(original.clone()), psp),
        // A modification or dispute without originalReference does not say
        // which payment it is about; its own psp must not pass for one.
        None if MODIFICATION_OR_DISPUTE.contains(&item.event_code.as_str()) => (None, psp),
        None => (psp, None),
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
