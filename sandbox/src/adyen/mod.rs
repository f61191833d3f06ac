//! The Adyen Checkout v71 dialect (`/adyen/v71/...`): `X-API-Key`
//! authentication, JSON bodies, `ServiceError` errors and Adyen's
//! idempotency, implemented from the CheckoutService-v71 OpenAPI spec.
//!
//! Error codes: where the spec's examples or Adyen's published code table
//! name one we use it (`000` unauthorised, `100` no amount, `101` invalid
//! card number, `103` CVC length, `129` expiry invalid, `130` reference
//! missing, `137` invalid amount, `167` original pspReference required,
//! `14_030` return URL missing, `702` unexpected input, `704` request already
//! processed or in progress, `901` invalid merchant account, `905` payment
//! details not supported). Codes we found no source for are our choice:
//! `14_003` merchantAccount missing, `14_004` required object/field missing,
//! `14_012` unsupported currency, `161` invalid IBAN, `429` rate limited.

mod disputes;
mod modifications;
mod payments;
mod standalone;

use std::collections::HashMap;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::faults::FaultMode;
use super::idempotency::Fingerprint;
use super::ledger::Dialect;
use super::pipeline::{Conflict, DialectApi, Executed};
use super::state::Sandbox;
use super::wire::{SimReply, SimRequest};

/// The spec's limit on `Idempotency-Key` length.
const MAX_KEY_LEN: usize = 64;

/// One payment as Adyen keeps it, keyed by its pspReference.
#[derive(Debug, Clone)]
pub(crate) struct AdyenPayment {
    pub merchant_account: String,
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    pub authorised: bool,
    pub manual_capture: bool,
    pub captured: i64,
    pub refunded: i64,
    pub cancelled: bool,
    /// The notification's `paymentMethod` variant (`visa`, `mc`, ...).
    pub variant: String,
    /// Paid with the dispute test card: charged back once captured.
    pub dispute_on_capture: bool,
    pub chargeback: Option<Chargeback>,
}

/// A chargeback on a payment; its notifications carry its own pspReference.
#[derive(Debug, Clone)]
pub(crate) struct Chargeback {
    pub psp: String,
    pub amount: i64,
    /// `needs_response` until closed `won` or `lost`, as the ledger shows it.
    pub status: &'static str,
}

#[derive(Debug, Default)]
pub(crate) struct AdyenState {
    pub payments: HashMap<String, AdyenPayment>,
    /// `/cancels` that found no payment yet, by (merchantAccount, reference).
    pub pending_cancels: HashMap<(String, String), Vec<standalone::PendingCancel>>,
}

/// A `ServiceError` reply.
pub(crate) fn service_error(
    status: StatusCode,
    code: &str,
    message: &str,
    error_type: &str,
    psp: Option<String>,
) -> SimReply {
    let mut body = json!({
        "status": status.as_u16(),
        "errorCode": code,
        "message": message,
        "errorType": error_type,
    });
    if let Some(psp) = psp {
        body["pspReference"] = json!(psp);
    }
    SimReply::json(status, &body)
}

/// A 422 validation error with a fresh pspReference, as Adyen answers.
pub(crate) fn validation(sb: &Sandbox, code: &str, message: &str) -> SimReply {
    service_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message,
        "validation",
        Some(sb.psp_reference()),
    )
}

/// The request's `merchantAccount`, checked against the configured one.
pub(crate) fn merchant_account(sb: &Sandbox, body: &Value) -> Result<String, SimReply> {
    let account = body
        .get("merchantAccount")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            validation(
                sb,
                "14_003",
                "Required field 'merchantAccount' is not provided.",
            )
        })?;
    match &sb.config.adyen_merchant_account {
        Some(expected) if expected != account => Err(invalid_merchant(sb)),
        _ => Ok(account.to_string()),
    }
}

pub(crate) fn invalid_merchant(sb: &Sandbox) -> SimReply {
    service_error(
        StatusCode::FORBIDDEN,
        "901",
        "Invalid Merchant Account",
        "security",
        Some(sb.psp_reference()),
    )
}

pub(crate) use disputes::close as close_dispute;

pub(crate) struct AdyenApi;

impl DialectApi for AdyenApi {
    const DIALECT: Dialect = Dialect::Adyen;
    const STORES_AFTER_CHARGE_500: bool = false;

    fn authenticate(sb: &Sandbox, req: &SimRequest) -> Result<String, SimReply> {
        let key = req.header("x-api-key").filter(|k| !k.is_empty());
        let accepted = match (key, &sb.config.adyen_api_key) {
            (Some(key), Some(expected)) => bool::from(expected.as_bytes().ct_eq(key.as_bytes())),
            (Some(_), None) => true,
            (None, _) => false,
        };
        match key {
            Some(key) if accepted => Ok(key.to_string()),
            _ => Err(service_error(
                StatusCode::UNAUTHORIZED,
                "000",
                "HTTP Status Response - Unauthorized",
                "security",
                None,
            )),
        }
    }

    fn is_charge_creating(req: &SimRequest) -> bool {
        req.method == Method::POST && req.path == "/payments"
    }

    fn fault_reply(mode: FaultMode) -> SimReply {
        match mode {
            FaultMode::RateLimited => service_error(
                StatusCode::TOO_MANY_REQUESTS,
                "429",
                "Too many requests",
                "validation",
                None,
            ),
            FaultMode::Error503BeforeCharge => service_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "000",
                "Service temporarily unavailable",
                "internal",
                None,
            )
            .with_header("transient-error", "true"),
            _ => service_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "000",
                "An unexpected error occurred",
                "internal",
                None,
            )
            .with_header("transient-error", "true"),
        }
    }

    fn idempotency(req: &SimRequest) -> Result<Option<(String, Fingerprint)>, SimReply> {
        let Some(key) = req.header("idempotency-key").filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        if req.method != Method::POST {
            return Ok(None);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(service_error(
                StatusCode::BAD_REQUEST,
                "702",
                "Idempotency-Key must be at most 64 characters",
                "validation",
                None,
            ));
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
        let reply = service_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "704",
            "request already processed or in progress",
            "validation",
            None,
        );
        match conflict {
            Conflict::InFlight => reply.with_header("transient-error", "true"),
            Conflict::Mismatch { .. } => reply,
        }
    }

    fn mark_replay(reply: SimReply) -> SimReply {
        reply
    }

    fn execute(
        sb: &Sandbox,
        req: &SimRequest,
        key: Option<&str>,
        _fault: Option<FaultMode>,
    ) -> Executed {
        let reply = route(sb, req, key);
        Executed {
            storable: reply.status.is_success(),
            reply,
        }
    }

    fn finish(_sb: &Sandbox, reply: SimReply, key: Option<&str>) -> SimReply {
        match key {
            Some(key) => reply.with_header("idempotency-key", key),
            None => reply,
        }
    }
}

fn route(sb: &Sandbox, req: &SimRequest, key: Option<&str>) -> SimReply {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    if req.method != Method::POST {
        return not_found();
    }
    let body = match serde_json::from_slice::<Value>(&req.body) {
        Ok(body @ Value::Object(_)) => body,
        _ => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "702",
                "Unexpected input: the body must be a JSON object",
                "validation",
                None,
            );
        }
    };
    let result = match segments.as_slice() {
        ["payments"] => payments::create(sb, &body, key).map(|b| (StatusCode::OK, b)),
        ["cancels"] => standalone::cancel(sb, &body).map(|b| (StatusCode::CREATED, b)),
        ["payments", psp, kind] => match modifications::Kind::from_path(kind) {
            Some(kind) => {
                modifications::apply(sb, psp, kind, &body).map(|b| (StatusCode::CREATED, b))
            }
            None => return not_found(),
        },
        _ => return not_found(),
    };
    match result {
        Ok((status, body)) => SimReply::json(status, &body),
        Err(reply) => reply,
    }
}

fn not_found() -> SimReply {
    service_error(
        StatusCode::NOT_FOUND,
        "000",
        "Not Found",
        "validation",
        None,
    )
}
