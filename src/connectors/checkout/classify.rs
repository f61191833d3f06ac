//! Turns Checkout.com replies into [`Outcome`]s; pure functions over
//! (status, headers, body).
//!
//! `POST /payments` (API reference, "Request a payment"): 201 when processed,
//! with `approved`, `status` (Authorized, Captured, Declined, ...) and a
//! five-digit `response_code`; 202 when pending (a redirect such as 3-D
//! Secure, `_links.redirect`).
//! - approved → Succeeded: Captured when Checkout.com says `Captured` or the
//!   payment asked for `capture: true` (Checkout.com then captures on its own
//!   and confirms with `payment_captured`, as Adyen's immediate capture
//!   does), else Authorized;
//! - declined → Declined, soft or hard per [`SOFT_RESPONSE_CODES`];
//! - Pending → RequiresAction when a redirect is given, else Pending;
//! - a 2xx that cannot be read, or names no payment → Ambiguous.
//!
//! Soft and hard. Checkout.com's "API response codes" page
//! (https://www.checkout.com/docs/developer-resources/codes/api-response-codes)
//! calls the whole 20xxx range "soft declines" ("subsequent attempts may
//! succeed": later, after the cardholder acted) and 30xxx "hard declines";
//! 40xxx are its risk engine's blocks. payroute's `soft` is narrower: "may
//! succeed at another gateway now", which the issuer's own verdict on the
//! card (do not honour, insufficient funds, expired, suspected fraud) never
//! does; Stripe's `insufficient_funds` and Adyen's refusal 12 are hard too. So
//! only the technical 20xxx codes (issuer or switch unavailable, system
//! malfunction, re-enter, timeout, routing, merchant set-up at this acquirer)
//! are soft; every other code is hard.
//!
//! HTTP errors (`{"request_id","error_type","error_codes":[...]}` bodies):
//! - 401, 403, 404, other 4xx → Rejected (credentials, "not allowed", no
//!   such payment, validation: nothing processed, same again next time);
//! - 422 whose `error_codes` name the card data (`card_number_invalid`,
//!   `cvv_invalid`, `card_expired`, ...) → a hard Declined, as Adyen's 101;
//! - 409: a request with the same `Cko-Idempotency-Key` is still in flight
//!   (Checkout.com support's answer; older docs said 429). That request is
//!   ours and may be charging, so failing over could double charge →
//!   Ambiguous; asking again with the same key later replays its result;
//! - 429: a rate limit, decided before processing → Unavailable, unless the
//!   body says "duplicate request" (the older docs' in-flight answer) →
//!   Ambiguous;
//! - 503: Checkout.com's edge refused the request before any backend took it
//!   → Unavailable. The connector confirms that with a lookup by reference
//!   before it fails over (see `CheckoutConnector::authorize`);
//! - every other 5xx → Ambiguous: Checkout.com stores only 2xx results for
//!   an idempotency key, so a 5xx after processing is not replayed either.
//!
//! Captures, voids, refunds and reversals answer 202 `{"action_id",
//! "reference"}`: the result comes by webhook, hence Pending on the action id.

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::domain::outcome::{Decline, Effect, Outcome};

/// Response codes after which another gateway may well approve: the issuer
/// or the network could not answer, or this acquirer cannot take the card.
pub const SOFT_RESPONSE_CODES: &[&str] = &[
    "20003", // Invalid merchant (this acquirer's set-up)
    "20006", // Error
    "20019", // Re-enter transaction
    "20031", // Bank not supported by switch
    "20068", // Response received too late
    "20090", // Cut-off in progress
    "20091", // Issuer unavailable or switch inoperative
    "20092", // Destination cannot be found for routing
    "20096", // System malfunction
];

/// response_code → (normalized code, decline code in Stripe's vocabulary, so
/// a merchant reads one set of codes whatever the gateway). Checkout.com's
/// own code and summary stay in the message. Unlisted codes are
/// `card_declined` / `generic_decline`.
const DECLINES: &[(&str, &str, &str)] = &[
    ("20001", "card_declined", "call_issuer"),
    ("20002", "card_declined", "call_issuer"),
    ("20003", "processing_error", "processing_error"),
    ("20004", "card_declined", "pickup_card"),
    // "The issuer did not provide further details": a generic decline.
    ("20005", "card_declined", "generic_decline"),
    ("20006", "processing_error", "processing_error"),
    ("20012", "card_declined", "transaction_not_allowed"),
    ("20013", "card_declined", "invalid_amount"),
    ("20014", "incorrect_number", "incorrect_number"),
    ("20015", "card_declined", "invalid_account"),
    ("20019", "processing_error", "reenter_transaction"),
    ("20031", "card_declined", "card_not_supported"),
    ("20041", "card_declined", "lost_card"),
    ("20043", "card_declined", "stolen_card"),
    ("20051", "insufficient_funds", "insufficient_funds"),
    ("20054", "expired_card", "expired_card"),
    ("20055", "card_declined", "incorrect_pin"),
    ("20057", "card_declined", "transaction_not_allowed"),
    ("20058", "card_declined", "transaction_not_allowed"),
    ("20059", "card_declined", "fraudulent"),
    ("20061", "card_declined", "card_velocity_exceeded"),
    ("20062", "card_declined", "restricted_card"),
    ("20063", "card_declined", "security_violation"),
    ("20065", "card_declined", "card_velocity_exceeded"),
    ("20068", "processing_error", "try_again_later"),
    ("20075", "card_declined", "pin_try_exceeded"),
    ("20082", "incorrect_cvc", "incorrect_cvc"),
    // "Bad track data": invalid CVV and/or expiry date.
    ("20087", "incorrect_cvc", "incorrect_cvc"),
    ("20090", "processing_error", "try_again_later"),
    ("20091", "processing_error", "issuer_not_available"),
    ("20092", "processing_error", "issuer_not_available"),
    ("20096", "processing_error", "processing_error"),
    ("30004", "card_declined", "pickup_card"),
    ("30007", "card_declined", "pickup_card"),
    ("30033", "expired_card", "expired_card"),
    ("30034", "card_declined", "fraudulent"),
    ("30036", "card_declined", "restricted_card"),
    ("30041", "card_declined", "lost_card"),
    ("30043", "card_declined", "stolen_card"),
    ("40101", "card_declined", "fraudulent"),
];

/// 422 `error_codes` that are the shopper's card data, not our request.
const CARD_DATA_ERRORS: &[(&str, &str)] = &[
    ("card_number_invalid", "incorrect_number"),
    ("card_expired", "expired_card"),
    ("card_expiry_month_invalid", "expired_card"),
    ("card_expiry_year_invalid", "expired_card"),
    ("cvv_invalid", "incorrect_cvc"),
];

#[derive(Debug, Deserialize)]
struct PaymentReply {
    id: Option<String>,
    approved: Option<bool>,
    status: Option<String>,
    response_code: Option<String>,
    response_summary: Option<String>,
    #[serde(rename = "_links")]
    links: Option<Links>,
}

#[derive(Debug, Deserialize)]
struct Links {
    redirect: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct ErrorBody {
    pub(super) error_type: Option<String>,
    #[serde(default)]
    pub(super) error_codes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ActionReply {
    action_id: Option<String>,
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
    let Ok(reply) = serde_json::from_slice::<PaymentReply>(body) else {
        return ambiguous(format!("HTTP {status} with an unreadable body"));
    };
    let Some(id) = reply.id.clone().filter(|i| !i.is_empty()) else {
        return ambiguous(format!("HTTP {status} without a payment id"));
    };
    let state = reply.status.as_deref().unwrap_or_default();
    let approved = reply
        .approved
        .unwrap_or_else(|| reply.response_code.as_deref().is_some_and(is_approval));
    match state {
        "Pending" => match reply.links.and_then(|l| l.redirect) {
            Some(link) => Outcome::RequiresAction {
                provider_reference: id,
                action: serde_json::json!({"type": "redirect", "url": link.href}),
            },
            None => Outcome::Pending {
                provider_reference: id,
            },
        },
        "Declined" => Outcome::Declined(decline(&reply, Some(id))),
        "Captured" | "Paid" if approved => succeeded(id, Effect::Captured),
        "Authorized" if approved => {
            let effect = if manual_capture {
                Effect::Authorized
            } else {
                Effect::Captured
            };
            succeeded(id, effect)
        }
        _ if !approved && reply.response_code.is_some() => {
            Outcome::Declined(decline(&reply, Some(id)))
        }
        other => ambiguous(format!("unexpected payment status {other:?}")),
    }
}

/// `10xxx` is Checkout.com's approval range.
fn is_approval(code: &str) -> bool {
    code.len() == 5 && code.starts_with('1')
}

fn decline(reply: &PaymentReply, provider_reference: Option<String>) -> Decline {
    let code = reply.response_code.clone().unwrap_or_default();
    let summary = reply
        .response_summary
        .clone()
        .unwrap_or_else(|| "Declined".into());
    decline_for_code(&code, &summary, provider_reference)
}

/// A [`Decline`] for a Checkout.com response code and its summary.
pub fn decline_for_code(code: &str, summary: &str, provider_reference: Option<String>) -> Decline {
    let known = DECLINES.iter().find(|(c, _, _)| *c == code);
    let (normalized, decline_code) =
        known.map_or(("card_declined", "generic_decline"), |k| (k.1, k.2));
    let message = if code.is_empty() {
        summary.to_string()
    } else {
        format!("{summary} (Checkout.com response_code {code})")
    };
    Decline {
        provider_reference,
        code: normalized.into(),
        decline_code: Some(decline_code.into()),
        message,
        soft: SOFT_RESPONSE_CODES.contains(&code),
    }
}

/// A reply to a capture, void, refund or reversal.
pub fn classify_action(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Outcome {
    if !status.is_success() {
        return classify_error(status, headers, body);
    }
    match serde_json::from_slice::<ActionReply>(body) {
        Ok(ActionReply {
            action_id: Some(action_id),
        }) if !action_id.is_empty() => Outcome::Pending {
            provider_reference: action_id,
        },
        Ok(_) => ambiguous(format!("HTTP {status} without an action_id")),
        Err(_) => ambiguous(format!("HTTP {status} with an unreadable body")),
    }
}

/// Every non-2xx reply; see the module comment for the reasoning.
pub fn classify_error(status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Outcome {
    let err = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
    let codes = err.error_codes.join(", ");
    let message = match (&err.error_type, codes.is_empty()) {
        (Some(t), false) => format!("HTTP {status} {t}: {codes}"),
        (Some(t), true) => format!("HTTP {status} {t}"),
        (None, false) => format!("HTTP {status}: {codes}"),
        (None, true) => format!("HTTP {status}"),
    };
    match status.as_u16() {
        401 => rejected("authentication_failed", message),
        403 => rejected("not_allowed", message),
        404 => rejected("not_found", message),
        409 => ambiguous(format!("{message} (a same-key request is in flight)")),
        422 => match card_data_error(&err) {
            Some(code) => Outcome::Declined(Decline {
                provider_reference: None,
                code: code.into(),
                decline_code: Some(code.into()),
                message,
                soft: false,
            }),
            None => rejected(
                err.error_codes.first().map_or("request_invalid", |c| c),
                message,
            ),
        },
        429 if mentions_duplicate(&err) => {
            ambiguous(format!("{message} (a same-key request is in flight)"))
        }
        429 => Outcome::Unavailable {
            reason: format!("rate limited: {message}"),
        },
        503 => Outcome::Unavailable {
            reason: format!("{message}: refused before processing"),
        },
        400..=499 => rejected(&format!("http_{}", status.as_u16()), message),
        _ => ambiguous(message),
    }
}

fn card_data_error(err: &ErrorBody) -> Option<&'static str> {
    err.error_codes.iter().find_map(|e| {
        CARD_DATA_ERRORS
            .iter()
            .find(|(code, _)| code == e)
            .map(|(_, normalized)| *normalized)
    })
}

fn mentions_duplicate(err: &ErrorBody) -> bool {
    err.error_codes
        .iter()
        .chain(err.error_type.as_ref())
        .any(|c| c.contains("duplicate") || c.contains("idempotency"))
}

fn rejected(code: &str, message: String) -> Outcome {
    Outcome::Rejected {
        code: code.into(),
        message,
    }
}

fn succeeded(provider_reference: String, effect: Effect) -> Outcome {
    Outcome::Succeeded {
        provider_reference,
        effect,
    }
}

fn ambiguous(reason: String) -> Outcome {
    Outcome::Ambiguous { reason }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
