//! The Stripe dialect (`/stripe/v1/...`): authentication, routing, the
//! pipeline hooks (fault bodies, idempotency semantics) and Stripe's
//! form-encoded requests, implemented from Stripe's API reference.

mod disputes;
mod error;
mod intents;
mod methods;
mod objects;
mod params;
mod query;
mod refunds;
mod search;

use base64::Engine;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::faults::FaultMode;
use super::form::Form;
use super::idempotency::Fingerprint;
use super::ledger::Dialect;
use super::pipeline::{Conflict, DialectApi, Executed};
use super::state::Sandbox;
use super::wire::{SimReply, SimRequest};
use error::{StripeError, executed};

pub(crate) use disputes::close as close_dispute;
pub(crate) use objects::StripeState;

/// Stripe's documented limit on idempotency key length.
const MAX_KEY_LEN: usize = 255;

pub(crate) struct StripeApi;

impl DialectApi for StripeApi {
    const DIALECT: Dialect = Dialect::Stripe;
    const STORES_AFTER_CHARGE_500: bool = true;

    fn authenticate(sb: &Sandbox, req: &SimRequest) -> Result<String, SimReply> {
        let Some(key) = api_key(req) else {
            return Err(unauthorized(
                "You did not provide an API key. You need to provide your API key in the Authorization \
                 header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            ));
        };
        let accepted = match &sb.config.stripe_api_key {
            Some(expected) => bool::from(expected.as_bytes().ct_eq(key.as_bytes())),
            None => key.starts_with("sk_") && key.len() > 3,
        };
        if accepted {
            Ok(key)
        } else {
            Err(unauthorized(&format!(
                "Invalid API Key provided: {}",
                redact(&key)
            )))
        }
    }

    fn is_charge_creating(req: &SimRequest) -> bool {
        req.method == Method::POST
            && (req.path == "/v1/payment_intents"
                || (req.path.starts_with("/v1/payment_intents/") && req.path.ends_with("/confirm")))
    }

    fn fault_reply(mode: FaultMode) -> SimReply {
        match mode {
            FaultMode::RateLimited => StripeError::invalid(
                "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            )
            .code("rate_limit")
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .reply(),
            FaultMode::Error503BeforeCharge => {
                StripeError::api_error(StatusCode::SERVICE_UNAVAILABLE, "Stripe is temporarily unavailable.").reply()
            }
            _ => StripeError::api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unknown error occurred while processing your request.",
            )
            .reply(),
        }
    }

    fn idempotency(req: &SimRequest) -> Result<Option<(String, Fingerprint)>, SimReply> {
        // Stripe ignores keys on GET and DELETE: those are idempotent already.
        let Some(key) = req.header("idempotency-key").filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        if req.method != Method::POST {
            return Ok(None);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(StripeError::invalid(format!(
                "Invalid Idempotency-Key: keys can be at most {MAX_KEY_LEN} characters long."
            ))
            .reply());
        }
        let params = match Form::parse(&req.body) {
            Ok(form) => json!(form.fingerprint()),
            Err(_) => json!(String::from_utf8_lossy(&req.body)),
        };
        let fingerprint = Fingerprint {
            target: format!("{} {}", req.method, req.path),
            params,
        };
        Ok(Some((key.to_string(), fingerprint)))
    }

    fn conflict_reply(conflict: Conflict, key: &str) -> SimReply {
        match conflict {
            Conflict::InFlight => StripeError::invalid(format!(
                "There is currently another in-progress request using this Idempotent Key (that probably \
                 means you submitted twice, and the other request is still going through): {key}. \
                 Please try again later."
            ))
            .code("idempotency_key_in_use")
            .with_status(StatusCode::CONFLICT)
            .reply(),
            Conflict::Mismatch { same_target } => {
                let message = if same_target {
                    format!(
                        "Keys for idempotent requests can only be used with the same parameters they were \
                         first used with. Try using a key other than '{key}' if you meant to execute a \
                         different request."
                    )
                } else {
                    format!(
                        "Keys for idempotent requests can only be used for the same endpoint they were first \
                         used for. Try using a key other than '{key}' if you meant to execute a different request."
                    )
                };
                let mut e = StripeError::invalid(message);
                e.kind = "idempotency_error";
                e.reply()
            }
        }
    }

    fn mark_replay(reply: SimReply) -> SimReply {
        reply.with_header("idempotent-replayed", "true")
    }

    fn execute(
        sb: &Sandbox,
        req: &SimRequest,
        key: Option<&str>,
        _fault: Option<FaultMode>,
    ) -> Executed {
        executed(route(sb, req, key))
    }

    fn finish(sb: &Sandbox, reply: SimReply, key: Option<&str>) -> SimReply {
        let reply = reply.with_header("request-id", &sb.stripe_id("req_"));
        match key {
            Some(key) => reply.with_header("idempotency-key", key),
            None => reply,
        }
    }
}

impl StripeError {
    fn with_status(mut self, status: StatusCode) -> StripeError {
        self.status = status;
        self
    }
}

fn route(sb: &Sandbox, req: &SimRequest, key: Option<&str>) -> Result<Value, StripeError> {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let form = request_form(req)?;
    match (&req.method, segments.as_slice()) {
        (&Method::POST, ["v1", "payment_methods"]) => {
            params::check_known(&form, params::PAYMENT_METHOD_CREATE)?;
            methods::create(sb, &form)
        }
        (&Method::POST, ["v1", "payment_intents"]) => {
            // Authenticated before it got here: the key names the account.
            let account = api_key(req).unwrap_or_default();
            intents::create(sb, &account, &form, key)
        }
        // Before the `{id}` arm: `search` is not an intent id.
        (&Method::GET, ["v1", "payment_intents", "search"]) => search::search(sb, &form),
        (&Method::GET, ["v1", "payment_intents", id]) => intents::retrieve(sb, id, &form),
        (&Method::POST, ["v1", "payment_intents", id, "confirm"]) => {
            intents::confirm(sb, id, &form, key)
        }
        (&Method::POST, ["v1", "payment_intents", id, "capture"]) => {
            intents::capture(sb, id, &form, key)
        }
        (&Method::POST, ["v1", "payment_intents", id, "cancel"]) => {
            intents::cancel(sb, id, &form, key)
        }
        (&Method::POST, ["v1", "refunds"]) => refunds::create(sb, &form, key),
        (&Method::GET, ["v1", "refunds", id]) => refunds::retrieve(sb, id),
        _ => {
            let mut e = StripeError::invalid(format!(
                "Unrecognized request URL ({}: {}). Please see https://stripe.com/docs or we can help at \
                 https://support.stripe.com/.",
                req.method, req.path
            ));
            e.status = StatusCode::NOT_FOUND;
            Err(e)
        }
    }
}

/// POST bodies must be form-encoded (v1 has no JSON); GET reads the query.
fn request_form(req: &SimRequest) -> Result<Form, StripeError> {
    let source: &[u8] = if req.method == Method::GET {
        req.query.as_deref().unwrap_or("").as_bytes()
    } else {
        let content_type = req.header("content-type").unwrap_or("");
        if !req.body.is_empty() && !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(StripeError::invalid(format!(
                "Invalid request: unsupported Content-Type {content_type}. If error persists and you need \
                 assistance, please contact support@stripe.com. (v1 bodies are application/x-www-form-urlencoded)"
            )));
        }
        &req.body
    };
    Form::parse(source).map_err(|e| StripeError::invalid(e.to_string()))
}

/// The secret key from `Bearer` or from Basic auth's user name.
fn api_key(req: &SimRequest) -> Option<String> {
    let value = req.header("authorization")?.trim();
    if let Some(token) = value.strip_prefix("Bearer ") {
        let token = token.trim();
        return (!token.is_empty()).then(|| token.to_string());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split(':').next().unwrap_or("");
    (!user.is_empty()).then(|| user.to_string())
}

/// Stripe shows only a key's prefix and last four characters.
pub(crate) fn redact(key: &str) -> String {
    let prefix: String = key.chars().take(8).collect();
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}****{tail}")
}

fn unauthorized(message: &str) -> SimReply {
    let mut e = StripeError::invalid(message);
    e.status = StatusCode::UNAUTHORIZED;
    e.reply()
        .with_header("www-authenticate", "Bearer realm=\"Stripe\"")
}
