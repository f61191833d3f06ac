//! Turns Adyen Checkout replies into [`Outcome`]s; pure functions over
//! (status, headers, body).
//!
//! `resultCode` (final states per the spec: Authorised, Refused, Error,
//! Cancelled):
//! - Authorised → Succeeded (Authorized for manual capture, else Captured);
//!   Success (some methods) likewise;
//! - Refused → Declined, hard unless the refusal is technical (see
//!   [`SOFT_REFUSAL_CODES`]);
//! - Error → Declined `processing_error`, soft: a final "not authorised"
//!   caused by a processing error, which may work elsewhere;
//! - Cancelled → Declined, hard;
//! - Pending, Received → Pending (the AUTHORISATION webhook settles it);
//! - RedirectShopper, ChallengeShopper, IdentifyShopper, PresentToShopper →
//!   RequiresAction with the response `action`;
//! - PartiallyAuthorised, authentication-only codes and anything unknown →
//!   Ambiguous: money may be held in a shape payroute does not model, so
//!   reconciliation must look at it.
//!
//! HTTP errors (`ServiceError` bodies): 400/401/403/404/422 → Rejected
//! (validation or credentials; nothing processed), except 422 errorCode 101
//! / 103 (invalid card number / CVC length) which are shopper-data declines,
//! and errorCode 704 (a request with this idempotency key is already being
//! processed) or a `transient-error: true` header, which are Ambiguous: the
//! other same-key request is ours and may authorise. 429 → Unavailable.
//! 5xx and anything else → Ambiguous.
//!
//! Modifications (capture, cancel, refund) answer `201 {"status":"received"}`:
//! Adyen confirms them only by webhook, hence Pending.

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::domain::outcome::{Decline, Effect, Outcome};

/// `refusalReasonCode`s that are technical, not the issuer's verdict on the
/// card: 4 "Acquirer Error", 9 "Issuer Unavailable".
pub const SOFT_REFUSAL_CODES: &[&str] = &["4", "9"];

/// `refusalReasonCode` → (normalized code, decline code, refusal reason
/// text). The decline code uses the same vocabulary as Stripe's
/// `decline_code`, so a merchant reads one set of codes whatever the gateway;
/// Adyen's own reason stays in the message.
const REFUSALS: &[(&str, &str, &str, &str)] = &[
    ("2", "card_declined", "generic_decline", "Refused"),
    ("3", "card_declined", "call_issuer", "Referral"),
    (
        "4",
        "processing_error",
        "processing_error",
        "Acquirer Error",
    ),
    ("5", "card_declined", "pickup_card", "Blocked Card"),
    ("6", "expired_card", "expired_card", "Expired Card"),
    ("7", "card_declined", "invalid_amount", "Invalid Amount"),
    (
        "8",
        "incorrect_number",
        "incorrect_number",
        "Invalid Card Number",
    ),
    (
        "9",
        "card_declined",
        "issuer_not_available",
        "Issuer Unavailable",
    ),
    ("10", "card_declined", "card_not_supported", "Not supported"),
    (
        "11",
        "authentication_required",
        "authentication_required",
        "3D Not Authenticated",
    ),
    (
        "12",
        "insufficient_funds",
        "insufficient_funds",
        "Not enough balance",
    ),
    ("14", "card_declined", "fraudulent", "Acquirer Fraud"),
    ("15", "card_declined", "generic_decline", "Cancelled"),
    ("17", "card_declined", "incorrect_pin", "Invalid Pin"),
    (
        "18",
        "card_declined",
        "pin_try_exceeded",
        "Pin tries exceeded",
    ),
    ("20", "card_declined", "fraudulent", "FRAUD"),
    ("24", "incorrect_cvc", "incorrect_cvc", "CVC Declined"),
    (
        "27",
        "card_declined",
        "do_not_honor",
        "Declined Non Generic",
    ),
    (
        "28",
        "card_declined",
        "withdrawal_count_limit_exceeded",
        "Withdrawal amount exceeded",
    ),
    (
        "29",
        "card_declined",
        "withdrawal_count_limit_exceeded",
        "Withdrawal count exceeded",
    ),
    (
        "31",
        "card_declined",
        "fraudulent",
        "Issuer Suspected Fraud",
    ),
    (
        "38",
        "authentication_required",
        "authentication_required",
        "Authentication required",
    ),
    (
        "42",
        "authentication_required",
        "authentication_required",
        "3DS Authentication Error",
    ),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentResponse {
    result_code: Option<String>,
    psp_reference: Option<String>,
    merchant_reference: Option<String>,
    refusal_reason: Option<String>,
    refusal_reason_code: Option<String>,
    action: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ServiceError {
    error_code: Option<String>,
    message: Option<String>,
    psp_reference: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModificationResponse {
    psp_reference: String,
    status: String,
}

/// A reply to `POST /payments`.
pub fn classify_payment(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    manual_capture: bool,
) -> Outcome {
    if !status.is_success() {
        return classify_error(status, headers, body);
    }
    let Ok(resp) = serde_json::from_slice::<PaymentResponse>(body) else {
        return ambiguous(format!("HTTP {status} with an unreadable body"));
    };
    let Some(code) = resp.result_code.clone() else {
        return ambiguous(format!("HTTP {status} without resultCode"));
    };
    // Action responses may omit pspReference; the echoed merchant reference
    // (payroute's payment id) then identifies the payment to Adyen.
    let reference = resp
        .psp_reference
        .clone()
        .or_else(|| resp.merchant_reference.clone());
    match code.as_str() {
        "Authorised" | "Success" => match resp.psp_reference {
            Some(psp) => Outcome::Succeeded {
                provider_reference: psp,
                effect: if manual_capture {
                    Effect::Authorized
                } else {
                    Effect::Captured
                },
            },
            None => ambiguous(format!("{code} without pspReference")),
        },
        "Refused" => Outcome::Declined(refusal(&resp)),
        "Error" => Outcome::Declined(Decline {
            provider_reference: resp.psp_reference.clone(),
            code: "processing_error".into(),
            decline_code: resp.refusal_reason.clone(),
            message: resp
                .refusal_reason
                .unwrap_or_else(|| "processing error".into()),
            soft: true,
        }),
        "Cancelled" => Outcome::Declined(Decline {
            provider_reference: resp.psp_reference,
            code: "card_declined".into(),
            decline_code: Some("Cancelled".into()),
            message: "payment cancelled".into(),
            soft: false,
        }),
        "Pending" | "Received" => Outcome::Pending {
            provider_reference: reference.unwrap_or_default(),
        },
        "RedirectShopper" | "ChallengeShopper" | "IdentifyShopper" | "PresentToShopper" => {
            Outcome::RequiresAction {
                provider_reference: reference.unwrap_or_default(),
                action: resp.action.unwrap_or(serde_json::Value::Null),
            }
        }
        other => ambiguous(format!("unhandled resultCode {other:?}")),
    }
}

fn refusal(resp: &PaymentResponse) -> Decline {
    let known = REFUSALS.iter().find(|(code, _, _, text)| {
        resp.refusal_reason_code.as_deref() == Some(*code)
            || resp.refusal_reason.as_deref() == Some(*text)
    });
    let code = known.map_or("card_declined", |(_, normalized, _, _)| *normalized);
    let soft = resp
        .refusal_reason_code
        .as_deref()
        .is_some_and(|c| SOFT_REFUSAL_CODES.contains(&c));
    let reason = resp
        .refusal_reason
        .clone()
        .or_else(|| resp.refusal_reason_code.clone())
        .unwrap_or_else(|| "Refused".into());
    let decline_code = known.map_or("generic_decline", |(_, _, decline, _)| *decline);
    let message = match &resp.refusal_reason_code {
        Some(c) => format!("{reason} (Adyen refusalReasonCode {c})"),
        None => reason,
    };
    Decline {
        provider_reference: resp.psp_reference.clone(),
        code: code.into(),
        decline_code: Some(decline_code.into()),
        message,
        soft,
    }
}

/// A reply to a capture, cancel or refund.
pub fn classify_modification(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Outcome {
    if !status.is_success() {
        return classify_error(status, headers, body);
    }
    match serde_json::from_slice::<ModificationResponse>(body) {
        Ok(m) if m.status == "received" => Outcome::Pending {
            provider_reference: m.psp_reference,
        },
        Ok(m) => ambiguous(format!("unexpected modification status {:?}", m.status)),
        Err(_) => ambiguous(format!("HTTP {status} with an unreadable body")),
    }
}

/// Every non-2xx reply; see the module comment for the reasoning.
pub fn classify_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let err = serde_json::from_slice::<ServiceError>(body).unwrap_or_default();
    let code = err.error_code.clone().unwrap_or_default();
    let message = err
        .message
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    let transient = headers
        .get("transient-error")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    if transient || code == "704" {
        return ambiguous(format!(
            "HTTP {status} {code}: {message} (a same-key request may be in flight)"
        ));
    }
    match (status.as_u16(), code.as_str()) {
        (422, "101") => shopper_data_decline(&err, "incorrect_number", message),
        (422, "103") => shopper_data_decline(&err, "incorrect_cvc", message),
        (429, _) => Outcome::Unavailable {
            reason: format!("429 rate limited: {message}"),
        },
        (400..=499, _) => Outcome::Rejected {
            code: if code.is_empty() {
                format!("http_{}", status.as_u16())
            } else {
                code
            },
            message,
        },
        _ => ambiguous(format!("HTTP {status}: {message}")),
    }
}

fn shopper_data_decline(err: &ServiceError, code: &str, message: String) -> Outcome {
    Outcome::Declined(Decline {
        provider_reference: err.psp_reference.clone(),
        code: code.into(),
        decline_code: err.error_code.clone(),
        message,
        soft: false,
    })
}

fn ambiguous(reason: String) -> Outcome {
    Outcome::Ambiguous { reason }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
