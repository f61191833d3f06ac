//! Checkout.com connector (unified payments API, current platform): JSON
//! bodies (`body`), `Authorization: Bearer sk_...`, a `Cko-Idempotency-Key`
//! on every POST, reply classification (`classify`), reconciliation lookups
//! (`lookup`), reversals (`reverse`), and webhook verification and
//! normalisation (`webhook`). Everything Checkout.com-specific lives in this
//! folder.
//!
//! Base URL: `https://api.checkout.com` (sandbox
//! `https://api.sandbox.checkout.com`, or the account's own prefix); calls
//! are `{base}/payments...`.

mod amount;
mod body;
mod classify;
mod lookup;
mod reverse;
pub mod webhook;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

pub use body::{
    PAYMENT_ID_METADATA_KEY, REFUND_ID_METADATA_KEY, capture_body, payment_body, refund_body,
    reversal_body, void_body,
};
pub use classify::{
    SOFT_RESPONSE_CODES, classify_action, classify_error, classify_payment, decline_for_code,
};
pub use lookup::{classify_details, classify_list, list_path};

use super::gateway::{Gateway, KindFacts};
use super::http::{HttpClient, Reply, TransportError, bounded_idempotency_key};
use super::webhook::{Delivery, GatewayEvent, NormalizeError, Verified, VerifyError};
use super::{
    AuthorizationQuery, AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings,
    RefundRequest,
};
use crate::domain::facts::MethodKind;
use crate::domain::outcome::{Effect, Lookup, Outcome};

/// Checkout.com documents no length limit for `Cko-Idempotency-Key` and
/// recommends V4 UUIDs (36 characters); longer keys are hashed to 64.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 64;

/// Failures before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("invalid request: {0}")]
    Build(#[from] http::Error),
    #[error("provider reference {0:?} is not a Checkout.com payment id")]
    BadReference(String),
    #[error("payment method {0} is not offered through Checkout.com")]
    UnsupportedMethod(&'static str),
    #[error("the API key is not a valid header value")]
    BadKey,
    #[error("{amount} {currency} (minor units) cannot be sent in Checkout.com's amount format")]
    Amount { amount: i64, currency: String },
}

impl From<CheckoutError> for Outcome {
    fn from(e: CheckoutError) -> Outcome {
        Outcome::Rejected {
            code: "invalid_request".into(),
            message: e.to_string(),
        }
    }
}

/// The `Cko-Idempotency-Key` header value for a payroute key.
pub fn idempotency_key(key: &str) -> String {
    bounded_idempotency_key(key, MAX_IDEMPOTENCY_KEY_LEN)
}

#[derive(Debug, Clone)]
pub struct CheckoutConnector {
    settings: ConnectorSettings,
    client: HttpClient,
}

impl Gateway for CheckoutConnector {
    /// No SEPA Direct Debit: Checkout.com offers it through another API.
    const FACTS: KindFacts = KindFacts {
        name: "checkout",
        required_credentials: &["api_key"],
        webhook_secret: "webhook_secret",
        default_methods: &[
            MethodKind::Card,
            MethodKind::ApplePay,
            MethodKind::GooglePay,
            MethodKind::GatewayToken,
        ],
    };

    fn new(settings: ConnectorSettings, client: HttpClient) -> Self {
        Self { settings, client }
    }

    fn settings(&self) -> &ConnectorSettings {
        &self.settings
    }

    /// `POST /payments`. A reply that leaves the outcome open (a 5xx, a
    /// timeout or reset after the send, an unreadable 2xx) or a 503 is
    /// followed by a lookup by payroute's reference: Checkout.com stores only
    /// 2xx results for an idempotency key, so the engine's retry with the
    /// same key would create a second payment if the first one went through
    /// behind a 5xx. What the lookup finds is the answer; a 503 whose payment
    /// is provably absent is Unavailable (safe to fail over); anything else
    /// stays Ambiguous.
    async fn authorize(&self, req: &AuthorizeRequest) -> Outcome {
        let body = match payment_body(&self.settings, req) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        let (outcome, refused) = match self.post("/payments", &body, &req.idempotency_key).await {
            Ok(r) => (
                classify_payment(r.status, &r.headers, &r.body, req.manual_capture),
                r.status == http::StatusCode::SERVICE_UNAVAILABLE,
            ),
            Err(outcome) => (outcome, false),
        };
        if !refused && !matches!(outcome, Outcome::Ambiguous { .. }) {
            return outcome;
        }
        let found = self.lookup_by_reference(&req.payment_id).await;
        tracing::info!(
            gateway = %self.settings.id,
            payment_id = %req.payment_id,
            first = outcome.label(),
            lookup = found.label(),
            "checkout.com authorization outcome looked up by reference"
        );
        settle_with_lookup(
            outcome,
            refused,
            lookup::with_capture_mode(found, req.manual_capture),
        )
    }

    async fn capture(&self, req: &CaptureRequest) -> Outcome {
        let body = match capture_body(req) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        self.act(
            &req.provider_reference,
            "captures",
            &body,
            &req.idempotency_key,
        )
        .await
    }

    async fn cancel(&self, req: &CancelRequest) -> Outcome {
        self.act(
            &req.provider_reference,
            "voids",
            &void_body(req),
            &req.idempotency_key,
        )
        .await
    }

    async fn refund(&self, req: &RefundRequest) -> Outcome {
        let body = match refund_body(req) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        self.act(
            &req.provider_reference,
            "refunds",
            &body,
            &req.idempotency_key,
        )
        .await
    }

    /// See the `lookup` module comment.
    async fn find_authorization(&self, q: &AuthorizationQuery) -> Lookup {
        self.lookup_authorization(q).await
    }

    /// `POST /payments/{id}/reversals` on the payment an event named, else
    /// on each live payment listed under payroute's reference (`reverse`).
    async fn reverse(&self, payment_id: &str, known: Option<&str>, key: &str) -> Outcome {
        match known {
            Some(id) => self.reverse_payment(id, payment_id, key).await,
            None => self.reverse_by_reference(payment_id, key).await,
        }
    }

    fn verify_webhook(delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        webhook::verify_delivery(delivery)
    }

    fn normalize(payload: &[u8]) -> Result<GatewayEvent, NormalizeError> {
        webhook::normalize(payload)
    }
}

impl CheckoutConnector {
    /// `POST /payments/{id}/{action}`: 202 `{action_id}` → Pending.
    async fn act(&self, id: &str, action: &str, body: &Value, key: &str) -> Outcome {
        let path = match payment_path(id) {
            Ok(p) => format!("{p}/{action}"),
            Err(e) => return e.into(),
        };
        match self.post(&path, body, key).await {
            Ok(r) => classify_action(r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    /// One JSON POST; the error side is already an [`Outcome`].
    async fn post(&self, path: &str, body: &Value, key: &str) -> Result<Reply, Outcome> {
        let request = self.request(path, body, key).map_err(Outcome::from)?;
        let started = std::time::Instant::now();
        let result = self.client.send(request, self.settings.timeout).await;
        log_call(&self.settings.id, path, &result, started.elapsed());
        result.map_err(|e| e.outcome())
    }

    /// One GET (lookups). Reads move no money, so every failure is simply
    /// "could not tell", returned as its reason.
    async fn get(&self, path: &str) -> Result<Reply, String> {
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), path);
        let request = http::Request::get(url)
            .header(
                http::header::AUTHORIZATION,
                self.auth().map_err(|e| e.to_string())?,
            )
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let started = std::time::Instant::now();
        let result = self.client.send(request, self.settings.timeout).await;
        log_call(&self.settings.id, path, &result, started.elapsed());
        result.map_err(|e| e.to_string())
    }

    /// `Authorization: Bearer sk_...`, the current platform's form (the
    /// previous platform took the bare key).
    fn auth(&self) -> Result<http::HeaderValue, CheckoutError> {
        let value = format!("Bearer {}", self.settings.api_key.expose());
        let mut auth = http::HeaderValue::from_str(&value).map_err(|_| CheckoutError::BadKey)?;
        auth.set_sensitive(true);
        Ok(auth)
    }

    fn request(
        &self,
        path: &str,
        body: &Value,
        key: &str,
    ) -> Result<http::Request<Full<Bytes>>, CheckoutError> {
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), path);
        Ok(http::Request::post(url)
            .header(http::header::AUTHORIZATION, self.auth()?)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("Cko-Idempotency-Key", idempotency_key(key))
            .body(Full::new(Bytes::from(body.to_string())))?)
    }
}

/// The authorization's outcome once a lookup by reference has answered for
/// an open first reply (see [`CheckoutConnector::authorize`]).
fn settle_with_lookup(first: Outcome, refused: bool, found: Lookup) -> Outcome {
    match found {
        Lookup::Found {
            provider_reference,
            effect: effect @ (Effect::Authorized | Effect::Captured),
        } => Outcome::Succeeded {
            provider_reference,
            effect,
        },
        Lookup::Declined(d) => Outcome::Declined(d),
        Lookup::Pending { provider_reference } => Outcome::Pending { provider_reference },
        Lookup::NotFound if refused => first,
        Lookup::Multiple(found) => Outcome::Ambiguous {
            reason: format!("several payments carry this reference: {found:?}"),
        },
        other => {
            let reason = match first {
                Outcome::Ambiguous { reason } | Outcome::Unavailable { reason } => reason,
                o => o.label().to_string(),
            };
            Outcome::Ambiguous {
                reason: format!("{reason}; lookup by reference: {}", other.label()),
            }
        }
    }
}

fn log_call(
    gateway: &str,
    path: &str,
    result: &Result<Reply, TransportError>,
    elapsed: std::time::Duration,
) {
    let ms = elapsed.as_millis() as u64;
    // The path may carry payroute's payment id, never card data or keys.
    match result {
        Ok(r) => tracing::debug!(
            gateway,
            path,
            status = r.status.as_u16(),
            ms,
            "checkout.com call"
        ),
        Err(e) => tracing::warn!(gateway, path, error = %e, ms, "checkout.com call failed"),
    }
}

/// `/payments/{id}`, refusing ids that could alter the path.
fn payment_path(id: &str) -> Result<String, CheckoutError> {
    let safe = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !safe {
        return Err(CheckoutError::BadReference(id.to_string()));
    }
    Ok(format!("/payments/{id}"))
}

#[cfg(test)]
mod tests;
