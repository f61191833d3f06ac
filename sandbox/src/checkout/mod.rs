//! The Checkout.com dialect (`/checkout/...`, standing for
//! `https://api.checkout.com/`): secret-key authentication, JSON bodies,
//! `request_invalid` errors and `Cko-Idempotency-Key`, from Checkout.com's API
//! reference ("Payments": request a payment, get payment details, get payment
//! lists, capture, void, refund, reverse) and its idempotency page.
//!
//! Choices where the reference we read names nothing (so a connector should
//! not rely on them): the `error_codes` of 422s other than the common
//! `*_invalid`/`*_required` ones, the 422 body for an idempotency key reused
//! with another body, and the empty bodies of 401, 403, 404, 429 and 5xx.

mod actions;
mod payments;

use std::collections::HashMap;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::faults::FaultMode;
use super::idempotency::Fingerprint;
use super::ledger::Dialect;
use super::pipeline::{Conflict, DialectApi, Executed};
use super::state::Sandbox;
use super::wire::{SimReply, SimRequest};

/// One payment as Checkout.com keeps it.
#[derive(Debug, Clone)]
pub(crate) struct CheckoutPayment {
    /// The secret key it was created with: the account that owns it.
    pub account: String,
    pub reference: Option<String>,
    pub amount: i64,
    pub currency: String,
    /// Processed and approved; a pending (3DS) payment is not yet.
    pub approved: bool,
    pub pending: bool,
    pub captured: i64,
    pub refunded: i64,
    pub voided: bool,
    pub metadata: Map<String, Value>,
    /// The `source` object as responses show it (no full card number).
    pub source: Value,
    pub response_code: Option<String>,
    pub response_summary: Option<String>,
    pub requested_on: String,
}

impl CheckoutPayment {
    /// The `status` Checkout.com reports, derived from the amounts.
    pub fn status(&self) -> &'static str {
        if self.pending {
            "Pending"
        } else if !self.approved {
            "Declined"
        } else if self.voided {
            "Voided"
        } else if self.refunded > 0 && self.refunded >= self.captured {
            "Refunded"
        } else if self.refunded > 0 {
            "Partially Refunded"
        } else if self.captured >= self.amount {
            "Captured"
        } else if self.captured > 0 {
            "Partially Captured"
        } else {
            "Authorized"
        }
    }

    pub fn available_to_capture(&self) -> i64 {
        if self.approved && !self.voided {
            self.amount - self.captured
        } else {
            0
        }
    }

    pub fn available_to_void(&self) -> i64 {
        if self.approved && !self.voided && self.captured == 0 {
            self.amount
        } else {
            0
        }
    }

    pub fn available_to_refund(&self) -> i64 {
        self.captured - self.refunded
    }
}

/// Payments by id, and their creation order for lists.
#[derive(Debug, Default)]
pub(crate) struct CheckoutState {
    pub payments: HashMap<String, CheckoutPayment>,
    pub order: Vec<String>,
}

/// A 422 `request_invalid` with its `error_codes`.
pub(crate) fn invalid(sb: &Sandbox, codes: &[&str]) -> SimReply {
    SimReply::json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "request_id": sb.checkout_id(""),
            "error_type": "request_invalid",
            "error_codes": codes,
        }),
    )
}

/// An answer with a status and no body (401, 403, 404, 429, 5xx).
pub(crate) fn bare(status: StatusCode) -> SimReply {
    SimReply {
        status,
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

/// The secret key, from `Bearer sk_...` (current platform) or a bare
/// `sk_...` (previous platform).
fn secret_key(req: &SimRequest) -> Option<&str> {
    let value = req.header("authorization")?.trim();
    let key = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    (!key.is_empty()).then_some(key)
}

pub(crate) struct CheckoutApi;

impl DialectApi for CheckoutApi {
    const DIALECT: Dialect = Dialect::Checkout;
    /// Only 2xx results are cached (idempotency page): after a 500 the
    /// real result is kept and replayed.
    const STORES_AFTER_CHARGE_500: bool = false;

    fn authenticate(sb: &Sandbox, req: &SimRequest) -> Result<String, SimReply> {
        let key = secret_key(req);
        let accepted = match (key, &sb.config.checkout_secret_key) {
            (Some(key), Some(expected)) => bool::from(expected.as_bytes().ct_eq(key.as_bytes())),
            (Some(key), None) => key.starts_with("sk_") && key.len() > 3,
            (None, _) => false,
        };
        match key {
            Some(key) if accepted => Ok(key.to_string()),
            _ => Err(bare(StatusCode::UNAUTHORIZED)),
        }
    }

    fn is_charge_creating(req: &SimRequest) -> bool {
        req.method == Method::POST && req.path == "/payments"
    }

    fn fault_reply(mode: FaultMode) -> SimReply {
        match mode {
            FaultMode::RateLimited => bare(StatusCode::TOO_MANY_REQUESTS),
            FaultMode::Error503BeforeCharge => bare(StatusCode::SERVICE_UNAVAILABLE),
            _ => bare(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn idempotency(req: &SimRequest) -> Result<Option<(String, Fingerprint)>, SimReply> {
        let Some(key) = req.header("cko-idempotency-key").filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        if req.method != Method::POST {
            return Ok(None);
        }
        let params = serde_json::from_slice::<Value>(&req.body)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&req.body)));
        let fingerprint = Fingerprint {
            target: req.path.clone(),
            params,
        };
        Ok(Some((key.to_string(), fingerprint)))
    }

    fn conflict_reply(conflict: Conflict, _key: &str) -> SimReply {
        match conflict {
            // Checkout.com support: a request whose key is still being
            // processed gets 409 (429 is kept for rate limits).
            Conflict::InFlight => bare(StatusCode::CONFLICT),
            Conflict::Mismatch { .. } => SimReply::json(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({
                    "error_type": "request_invalid",
                    "error_codes": ["idempotency_key_reused"],
                }),
            ),
        }
    }

    fn mark_replay(reply: SimReply) -> SimReply {
        reply
    }

    fn execute(
        sb: &Sandbox,
        req: &SimRequest,
        key: Option<&str>,
        fault: Option<FaultMode>,
    ) -> Executed {
        let reply = route(sb, req, key, fault);
        Executed {
            storable: reply.status.is_success(),
            reply,
        }
    }

    fn finish(sb: &Sandbox, reply: SimReply, _key: Option<&str>) -> SimReply {
        reply.with_header("cko-request-id", &sb.checkout_id(""))
    }
}

fn route(sb: &Sandbox, req: &SimRequest, key: Option<&str>, fault: Option<FaultMode>) -> SimReply {
    // Authenticated before it got here: the key names the account.
    let account = secret_key(req).unwrap_or_default();
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (&req.method, segments.as_slice()) {
        (&Method::GET, ["payments"]) => payments::list(sb, account, req),
        (&Method::GET, ["payments", id]) => payments::retrieve(sb, account, id),
        (&Method::POST, path) => {
            let body = match serde_json::from_slice::<Value>(&req.body) {
                Ok(body @ Value::Object(_)) => body,
                // Capture, void and refund bodies are optional.
                _ if req.body.is_empty() && path.len() == 3 => json!({}),
                _ => return invalid(sb, &["request_body_invalid"]),
            };
            match path {
                ["payments"] => payments::create(sb, account, &body, key),
                ["payments", id, kind] => match actions::Kind::from_path(kind) {
                    Some(kind) => actions::apply(sb, account, id, kind, &body, fault),
                    None => bare(StatusCode::NOT_FOUND),
                },
                _ => bare(StatusCode::NOT_FOUND),
            }
        }
        _ => bare(StatusCode::NOT_FOUND),
    }
}

/// `{"href": "/checkout/payments/{id}[/suffix]"}`: links below the
/// sandbox's prefix, as the real ones are absolute below the API host.
pub(crate) fn link(id: &str, suffix: &str) -> Value {
    json!({"href": format!("/checkout/payments/{id}{suffix}")})
}

/// String-valued metadata, as the ledger keeps it.
pub(crate) fn string_metadata(
    metadata: &Map<String, Value>,
) -> std::collections::BTreeMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k.clone(), text)
        })
        .collect()
}

/// A webhook event's `data`: the payment, the action and its outcome, with
/// the action's own reference and metadata over the payment's.
pub(crate) struct EventData<'a> {
    pub payment_id: &'a str,
    pub payment: &'a CheckoutPayment,
    pub action_id: &'a str,
    pub amount: i64,
    pub reference: Option<&'a str>,
    pub metadata: Option<&'a Map<String, Value>>,
    pub response: Option<(&'a str, &'a str)>,
}

impl EventData<'_> {
    pub fn event(&self, kind: &str) -> super::ledger::OutboxEvent {
        let p = self.payment;
        let mut metadata = p.metadata.clone();
        if let Some(extra) = self.metadata {
            metadata.extend(extra.clone());
        }
        let mut data = json!({
            "id": self.payment_id,
            "action_id": self.action_id,
            "amount": self.amount,
            "currency": p.currency,
            "processed_on": super::wire::rfc3339_now(),
            "metadata": metadata,
        });
        if let Some(reference) = self.reference.or(p.reference.as_deref()) {
            data["reference"] = json!(reference);
        }
        if let Some((code, summary)) = self.response {
            data["response_code"] = json!(code);
            data["response_summary"] = json!(summary);
        }
        let success = !kind.ends_with("_declined");
        let mut event = super::ledger::OutboxEvent::new(
            Dialect::Checkout,
            kind,
            self.payment_id,
            self.amount,
            &p.currency,
            success,
        );
        event.merchant_reference = self
            .reference
            .or(p.reference.as_deref())
            .map(str::to_string);
        event.checkout_account = Some(p.account.clone());
        event.object = Some(data);
        event
    }
}
