//! Turns Stripe replies into [`Outcome`]s. Pure functions over (status,
//! headers, body) so that every class is unit-tested without a network.
//!
//! HTTP status rules, and why (Stripe /api/errors, idempotency docs, and
//! stripe-python `_should_retry`):
//! - 2xx: the object's `status` decides.
//! - 402: a card error; definitive decline.
//! - 400/404 `idempotency_error`: our key was reused with other parameters;
//!   nothing new was done → Rejected. 400 `rate_limit` is a rate limit
//!   (the SDK maps it to RateLimitError) → Unavailable.
//! - other 400/401/403/404 and unknown 4xx: our request or credentials;
//!   nothing was done and it would fail the same way → Rejected.
//! - 409: a concurrent request with the same key is in flight. This request
//!   stored nothing, but the other one — ours, by construction of the key —
//!   may be charging, so failing over could double charge → Ambiguous.
//! - 429: decided before the idempotency layer, nothing processed → Unavailable.
//! - 424 and 5xx: Stripe replays stored 500s and may have acted → Ambiguous.
//!   `Stripe-Should-Retry` does not change that: `true` says a retry with the
//!   same key is safe and may succeed (which is exactly the ambiguous path),
//!   not that nothing happened; `false` usually means the 500 is stored.

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::connectors::http::TransportError;
use crate::domain::outcome::{Decline, Effect, Outcome};

/// Which PaymentIntent call a reply answers; the same status means different
/// things after a create, a capture and a cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiOp {
    Authorize,
    Capture,
    Cancel,
}

/// Stripe decline codes that may succeed on a retry or elsewhere (the issuer
/// could not be reached or asked for a retry); every other decline is hard.
pub const SOFT_DECLINE_CODES: &[&str] = &[
    "try_again_later",
    "issuer_not_available",
    "processing_error",
    "reenter_transaction",
    "approve_with_id",
];

/// Stripe code / decline_code → payroute's normalized decline code. A
/// decline_code is looked up first, then the error code; anything not listed
/// is `card_declined` (the gateway's own code stays in `decline_code`).
const NORMALIZED: &[(&str, &str)] = &[
    ("insufficient_funds", "insufficient_funds"),
    ("expired_card", "expired_card"),
    ("incorrect_cvc", "incorrect_cvc"),
    ("invalid_cvc", "incorrect_cvc"),
    ("incorrect_number", "incorrect_number"),
    ("invalid_number", "incorrect_number"),
    ("invalid_expiry_month", "expired_card"),
    ("invalid_expiry_year", "expired_card"),
    ("processing_error", "processing_error"),
    ("authentication_required", "authentication_required"),
];

#[derive(Debug, Deserialize, Default)]
struct ErrorBody {
    error: Option<StripeError>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct StripeError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
    payment_intent: Option<IdOnly>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
    next_action: Option<serde_json::Value>,
    last_payment_error: Option<StripeError>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    status: String,
    failure_reason: Option<String>,
}

/// Transport failures: only a never-sent request may fail over.
pub fn classify_transport(err: &TransportError) -> Outcome {
    err.outcome()
}

/// A reply to create/confirm, capture or cancel of a PaymentIntent.
pub fn classify_payment_intent(
    op: PiOp,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    if !status.is_success() {
        return classify_error(status, headers, body);
    }
    let Ok(pi) = serde_json::from_slice::<PaymentIntent>(body) else {
        return unreadable_success(status);
    };
    let reference = pi.id.clone();
    match (op, pi.status.as_str()) {
        (PiOp::Authorize | PiOp::Capture, "succeeded") => succeeded(reference, Effect::Captured),
        (PiOp::Authorize, "requires_capture") => succeeded(reference, Effect::Authorized),
        (PiOp::Authorize, "requires_action") => Outcome::RequiresAction {
            provider_reference: reference,
            action: pi.next_action.unwrap_or(serde_json::Value::Null),
        },
        (PiOp::Authorize | PiOp::Capture, "processing") => Outcome::Pending {
            provider_reference: reference,
        },
        (PiOp::Authorize, "requires_payment_method") => {
            let err = pi.last_payment_error.unwrap_or_default();
            Outcome::Declined(decline_from(&err, Some(reference)))
        }
        (PiOp::Authorize, "canceled") => Outcome::Declined(Decline {
            provider_reference: Some(reference),
            code: "card_declined".into(),
            decline_code: Some("canceled".into()),
            message: "the PaymentIntent was canceled".into(),
            soft: false,
        }),
        (PiOp::Cancel, "canceled") => succeeded(reference, Effect::Voided),
        // A 200 whose status contradicts the call (e.g. a capture answered
        // `requires_capture`) proves nothing either way.
        (_, other) => Outcome::Ambiguous {
            reason: format!("unexpected PaymentIntent status {other:?} for {op:?}"),
        },
    }
}

/// A reply to `POST /v1/refunds`.
pub fn classify_refund(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Outcome {
    if !status.is_success() {
        return classify_error(status, headers, body);
    }
    let Ok(refund) = serde_json::from_slice::<Refund>(body) else {
        return unreadable_success(status);
    };
    match refund.status.as_str() {
        "succeeded" => succeeded(refund.id, Effect::Refunded),
        "pending" | "requires_action" => Outcome::Pending {
            provider_reference: refund.id,
        },
        "failed" | "canceled" => Outcome::Declined(Decline {
            provider_reference: Some(refund.id),
            code: "refund_failed".into(),
            decline_code: refund.failure_reason.clone(),
            message: format!(
                "refund {}: {}",
                refund.status,
                refund
                    .failure_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
            soft: false,
        }),
        other => Outcome::Ambiguous {
            reason: format!("unexpected refund status {other:?}"),
        },
    }
}

/// A reply to `POST /v1/payment_methods`: the new `pm_` id, or the outcome
/// to report. Creating a PaymentMethod moves no money, so a failure here can
/// never have charged: what would be ambiguous elsewhere is Unavailable.
pub fn classify_payment_method(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Outcome> {
    if status.is_success() {
        return serde_json::from_slice::<IdOnly>(body)
            .map(|pm| pm.id)
            .map_err(|_| Outcome::Unavailable {
                reason: "unreadable PaymentMethod reply; no charge was attempted".into(),
            });
    }
    Err(match classify_error(status, headers, body) {
        Outcome::Ambiguous { reason } => Outcome::Unavailable {
            reason: format!("{reason} (while creating the PaymentMethod; no charge was attempted)"),
        },
        other => other,
    })
}

/// Every non-2xx reply; see the module comment for the reasoning.
pub fn classify_error(status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Outcome {
    let err = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .unwrap_or_default();
    let message = err
        .message
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status.as_u16() {
        402 => {
            let reference = err.payment_intent.as_ref().map(|pi| pi.id.clone());
            Outcome::Declined(decline_from(&err, reference))
        }
        400 | 404 if err.kind.as_deref() == Some("idempotency_error") => Outcome::Rejected {
            code: "idempotency_error".into(),
            message,
        },
        400 if err.code.as_deref() == Some("rate_limit") => Outcome::Unavailable {
            reason: format!("rate limited: {message}"),
        },
        401 => rejected(&err, "authentication_failed", message),
        403 => rejected(&err, "permission_denied", message),
        409 => Outcome::Ambiguous {
            reason: format!("409 conflict, a same-key request may be in flight: {message}"),
        },
        429 => Outcome::Unavailable {
            reason: format!("429 rate limited: {message}"),
        },
        424 | 500..=599 => Outcome::Ambiguous {
            reason: format!("HTTP {status}: {message}"),
        },
        400..=499 => rejected(&err, "invalid_request", message),
        _ => Outcome::Ambiguous {
            reason: format!("unexpected HTTP {status}"),
        },
    }
}

fn rejected(err: &StripeError, fallback: &str, message: String) -> Outcome {
    Outcome::Rejected {
        code: err.code.clone().unwrap_or_else(|| fallback.to_string()),
        message,
    }
}

fn succeeded(provider_reference: String, effect: Effect) -> Outcome {
    Outcome::Succeeded {
        provider_reference,
        effect,
    }
}

fn unreadable_success(status: StatusCode) -> Outcome {
    Outcome::Ambiguous {
        reason: format!("HTTP {status} with an unreadable body"),
    }
}

/// Builds a [`Decline`] from a Stripe error object (402 body or a
/// PaymentIntent's `last_payment_error`).
pub(crate) fn decline_from(err: &StripeError, provider_reference: Option<String>) -> Decline {
    let lookup = |k: &Option<String>| {
        k.as_deref()
            .and_then(|k| NORMALIZED.iter().find(|(from, _)| *from == k))
            .map(|(_, to)| (*to).to_string())
    };
    let code = lookup(&err.decline_code)
        .or_else(|| lookup(&err.code))
        .unwrap_or_else(|| "card_declined".to_string());
    let decline_code = err.decline_code.clone().or_else(|| err.code.clone());
    let soft = [&err.decline_code, &err.code]
        .iter()
        .filter_map(|c| c.as_deref())
        .any(|c| SOFT_DECLINE_CODES.contains(&c));
    Decline {
        provider_reference,
        code,
        decline_code,
        message: err.message.clone().unwrap_or_else(|| "declined".into()),
        soft,
    }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
