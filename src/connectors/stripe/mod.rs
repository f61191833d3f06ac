//! Stripe connector (API v1, pinned `Stripe-Version`): builds the form bodies
//! for PaymentMethods, PaymentIntents and Refunds, sends them with the
//! attempt's idempotency key, and classifies replies (see `classify`);
//! reconciliation reads (`lookup`) and reversals (`reverse`); webhook
//! signature verification (`verify`) and event normalisation (`normalize`).
//!
//! Payment-method mapping:
//! - card: `POST /v1/payment_methods` first (key `<key>-pm`), then the
//!   PaymentIntent with `payment_method=pm_...`;
//! - gateway token: used as `payment_method` directly (`pm_...`);
//! - Apple Pay / Google Pay: payroute passes the wallet payload through
//!   opaquely, so for Stripe it must already be a Stripe object: a `pm_...` is
//!   used directly, anything else (`tok_...` from Stripe.js / the wallet
//!   integration) is turned into a PaymentMethod with `card[token]`;
//! - SEPA debit: inline `payment_method_data[sepa_debit][iban]` with an
//!   online (customer IP known) or offline mandate.

mod amount;
mod classify;
pub mod form;
mod lookup;
mod normalize;
mod reverse;
mod verify;

use bytes::Bytes;
use http_body_util::Full;

use amount::to_stripe;
pub use classify::{
    PiOp, SOFT_DECLINE_CODES, classify_error, classify_payment_intent, classify_payment_method,
    classify_refund, classify_transport,
};
use form::{FormValue, encode};
pub use lookup::{
    PAYMENT_ID_METADATA_KEY, SEARCH_LAG, classify_lookup, classify_search, search_path,
    search_query,
};
pub use normalize::normalize_stripe;
pub use reverse::{reversal_cancel_body, reversal_refund_body};
pub use verify::{DEFAULT_TOLERANCE_SECS, verify_stripe, verify_stripe_any};

use super::gateway::{Gateway, KindFacts};
use super::http::{HttpClient, Reply, TransportError, bounded_idempotency_key};
use super::webhook::{Delivery, GatewayEvent, NormalizeError, Verified, VerifyError};
use super::{
    AuthorizationQuery, AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings,
    RefundRequest,
};
use crate::domain::facts::MethodKind;
use crate::domain::method::{CardData, MethodData};
use crate::domain::outcome::{Lookup, Outcome};

/// The API version every request pins, so that reply shapes cannot drift.
pub const STRIPE_VERSION: &str = "2024-06-20";
/// Stripe accepts idempotency keys of up to 255 characters.
const MAX_KEY_LEN: usize = 255;

/// Failures before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("invalid request: {0}")]
    Build(#[from] http::Error),
    #[error("provider reference {0:?} is not a Stripe id")]
    BadReference(String),
    #[error("cannot be sent in Stripe's amount scale: {0}")]
    Amount(#[from] crate::connectors::amount::AmountError),
}

impl From<StripeError> for Outcome {
    fn from(e: StripeError) -> Outcome {
        Outcome::Rejected {
            code: "invalid_request".into(),
            message: e.to_string(),
        }
    }
}

/// How the PaymentIntent names its payment method.
pub enum PaymentMethodRef {
    /// An existing `pm_...`.
    Id(String),
    /// Inline SEPA debit details.
    Sepa { iban: String, owner_name: String },
}

#[derive(Debug, Clone)]
pub struct StripeConnector {
    settings: ConnectorSettings,
    client: HttpClient,
}

impl Gateway for StripeConnector {
    const FACTS: KindFacts = KindFacts {
        name: "stripe",
        required_credentials: &["api_key"],
        webhook_secret: "webhook_secret",
        default_methods: &[
            MethodKind::Card,
            MethodKind::ApplePay,
            MethodKind::GooglePay,
            MethodKind::SepaDebit,
            MethodKind::GatewayToken,
        ],
    };

    fn new(settings: ConnectorSettings, client: HttpClient) -> Self {
        Self { settings, client }
    }

    fn settings(&self) -> &ConnectorSettings {
        &self.settings
    }

    async fn authorize(&self, req: &AuthorizeRequest) -> Outcome {
        let pm = match self.payment_method_for(req).await {
            Ok(pm) => pm,
            Err(outcome) => return outcome,
        };
        let body = match payment_intent_body(req, &pm) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        match self
            .post("/v1/payment_intents", body, &req.idempotency_key)
            .await
        {
            Ok(r) => classify_payment_intent(PiOp::Authorize, r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    async fn capture(&self, req: &CaptureRequest) -> Outcome {
        let path = match pi_path(&req.provider_reference, "capture") {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let body = match capture_body(req) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        match self.post(&path, body, &req.idempotency_key).await {
            Ok(r) => classify_payment_intent(PiOp::Capture, r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    async fn cancel(&self, req: &CancelRequest) -> Outcome {
        let path = match pi_path(&req.provider_reference, "cancel") {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        match self
            .post(&path, cancel_body(req), &req.idempotency_key)
            .await
        {
            Ok(r) => classify_payment_intent(PiOp::Cancel, r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    async fn refund(&self, req: &RefundRequest) -> Outcome {
        let body = match refund_body(req) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        match self.post("/v1/refunds", body, &req.idempotency_key).await {
            Ok(r) => classify_refund(r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    /// See the `lookup` module comment.
    async fn find_authorization(&self, q: &AuthorizationQuery) -> Lookup {
        self.lookup(q).await
    }

    /// A PaymentIntent an event named is read by id; else the search by
    /// payroute's payment id finds what to release (see `reverse`).
    async fn reverse(&self, payment_id: &str, known: Option<&str>, key: &str) -> Outcome {
        match known {
            Some(id) => self.reverse_intent_id(id, payment_id, key).await,
            None => self.reverse_by_reference(payment_id, key).await,
        }
    }

    fn verify_webhook(delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        verify::verify_delivery(delivery)
    }

    fn normalize(payload: &[u8]) -> Result<GatewayEvent, NormalizeError> {
        normalize_stripe(payload)
    }
}

impl StripeConnector {
    /// Resolves the method to a `pm_` id (creating one if needed) or inline
    /// SEPA data. A failure here has moved no money.
    async fn payment_method_for(
        &self,
        req: &AuthorizeRequest,
    ) -> Result<PaymentMethodRef, Outcome> {
        let body = match &req.method {
            MethodData::Card(card) => payment_method_body(card),
            MethodData::GatewayToken(t) => return Ok(PaymentMethodRef::Id(t.expose().to_string())),
            MethodData::ApplePay(t) | MethodData::GooglePay(t) if t.expose().starts_with("pm_") => {
                return Ok(PaymentMethodRef::Id(t.expose().to_string()));
            }
            MethodData::ApplePay(t) | MethodData::GooglePay(t) => wallet_token_body(t.expose()),
            MethodData::SepaDebit { iban, owner_name } => {
                return Ok(PaymentMethodRef::Sepa {
                    iban: iban.expose().to_string(),
                    owner_name: owner_name.clone(),
                });
            }
        };
        let key = format!("{}-pm", req.idempotency_key);
        let reply = self
            .post("/v1/payment_methods", body, &key)
            .await
            .map_err(|o| match o {
                // Not even the PaymentMethod was surely created: no charge either way.
                Outcome::Ambiguous { reason } => Outcome::Unavailable { reason },
                other => other,
            })?;
        classify_payment_method(reply.status, &reply.headers, &reply.body).map(PaymentMethodRef::Id)
    }

    /// One form POST; the error side is already an [`Outcome`].
    async fn post(&self, path: &str, body: String, key: &str) -> Result<Reply, Outcome> {
        let request = self.request(path, body, key).map_err(Outcome::from)?;
        let started = std::time::Instant::now();
        let result = self.client.send(request, self.settings.timeout).await;
        log_call(&self.settings.id, path, &result, started.elapsed());
        result.map_err(|e| classify_transport(&e))
    }

    /// One GET (lookups). Reads move no money, so every failure is simply
    /// "could not tell", returned as its reason.
    async fn get(&self, path: &str) -> Result<Reply, String> {
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), path);
        let request = http::Request::get(url)
            .header(http::header::AUTHORIZATION, self.auth_header()?)
            .header("Stripe-Version", STRIPE_VERSION)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let started = std::time::Instant::now();
        let result = self.client.send(request, self.settings.timeout).await;
        log_call(&self.settings.id, path, &result, started.elapsed());
        result.map_err(|e| e.to_string())
    }

    fn auth_header(&self) -> Result<http::HeaderValue, String> {
        let auth = format!("Bearer {}", self.settings.api_key.expose());
        let mut auth = http::HeaderValue::from_str(&auth)
            .map_err(|_| "the API key is not a valid header value".to_string())?;
        auth.set_sensitive(true);
        Ok(auth)
    }

    fn request(
        &self,
        path: &str,
        body: String,
        key: &str,
    ) -> Result<http::Request<Full<Bytes>>, StripeError> {
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), path);
        let auth = format!("Bearer {}", self.settings.api_key.expose());
        let mut auth = http::HeaderValue::from_str(&auth).map_err(http::Error::from)?;
        auth.set_sensitive(true);
        Ok(http::Request::post(url)
            .header(http::header::AUTHORIZATION, auth)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Idempotency-Key", bounded_idempotency_key(key, MAX_KEY_LEN))
            .body(Full::new(Bytes::from(body)))?)
    }
}

fn log_call(
    gateway: &str,
    path: &str,
    result: &Result<Reply, TransportError>,
    elapsed: std::time::Duration,
) {
    let ms = elapsed.as_millis() as u64;
    match result {
        Ok(r) => tracing::debug!(gateway, path, status = r.status.as_u16(), ms, "stripe call"),
        Err(e) => tracing::warn!(gateway, path, error = %e, ms, "stripe call failed"),
    }
}

/// `/v1/payment_intents/{id}/{action}`, refusing ids that could alter the path.
fn pi_path(id: &str, action: &str) -> Result<String, StripeError> {
    Ok(format!("{}/{action}", pi_base(id)?))
}

/// `/v1/payment_intents/{id}`, refusing ids that could alter the path.
fn pi_base(id: &str) -> Result<String, StripeError> {
    let safe = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !safe {
        return Err(StripeError::BadReference(id.to_string()));
    }
    Ok(format!("/v1/payment_intents/{id}"))
}

/// `POST /v1/payment_methods` for raw card data.
pub fn payment_method_body(card: &CardData) -> String {
    let billing = FormValue::map([("name", FormValue::opt(card.holder_name.clone()))]);
    encode(&[
        ("type", FormValue::str("card")),
        (
            "card",
            FormValue::map([
                ("number", FormValue::str(card.number.expose())),
                ("exp_month", FormValue::Int(i64::from(card.exp_month))),
                ("exp_year", FormValue::Int(i64::from(card.exp_year))),
                (
                    "cvc",
                    FormValue::opt(card.cvc.as_ref().map(|c| c.expose().to_string())),
                ),
            ]),
        ),
        ("billing_details", billing),
    ])
}

/// `POST /v1/payment_methods` from a wallet's Stripe card token (`tok_...`).
fn wallet_token_body(token: &str) -> String {
    encode(&[
        ("type", FormValue::str("card")),
        ("card", FormValue::map([("token", FormValue::str(token))])),
    ])
}

/// `POST /v1/payment_intents`, created and confirmed in one call.
pub fn payment_intent_body(
    req: &AuthorizeRequest,
    pm: &PaymentMethodRef,
) -> Result<String, StripeError> {
    let capture = if req.manual_capture {
        "manual"
    } else {
        "automatic"
    };
    let metadata = FormValue::map([
        ("payroute_payment_id", FormValue::str(&req.payment_id)),
        ("reference", FormValue::str(&req.reference)),
    ]);
    let mut fields = vec![
        (
            "amount",
            FormValue::Int(to_stripe(req.amount, &req.currency)?),
        ),
        (
            "currency",
            FormValue::str(req.currency.to_ascii_lowercase()),
        ),
        ("confirm", FormValue::Bool(true)),
        ("capture_method", FormValue::str(capture)),
        ("metadata", metadata),
        ("return_url", FormValue::str(&req.return_url)),
    ];
    match pm {
        PaymentMethodRef::Id(id) => {
            fields.push(("payment_method", FormValue::str(id)));
            fields.push((
                "payment_method_types",
                FormValue::List(vec![FormValue::str("card")]),
            ));
        }
        PaymentMethodRef::Sepa { iban, owner_name } => {
            fields.push((
                "payment_method_types",
                FormValue::List(vec![FormValue::str("sepa_debit")]),
            ));
            fields.push(("payment_method_data", sepa_data(req, iban, owner_name)));
            fields.push(("mandate_data", mandate_data(req)));
        }
    }
    Ok(encode(&fields))
}

fn sepa_data(req: &AuthorizeRequest, iban: &str, owner_name: &str) -> FormValue {
    FormValue::map([
        ("type", FormValue::str("sepa_debit")),
        (
            "sepa_debit",
            FormValue::map([("iban", FormValue::str(iban))]),
        ),
        (
            "billing_details",
            FormValue::map([
                ("name", FormValue::str(owner_name)),
                ("email", FormValue::opt(req.customer_email.clone())),
            ]),
        ),
    ])
}

/// Confirming a SEPA debit requires a mandate: online when the shopper's IP
/// is known (the merchant collected acceptance in session), offline otherwise.
fn mandate_data(req: &AuthorizeRequest) -> FormValue {
    let acceptance = match &req.customer_ip {
        Some(ip) => FormValue::map([
            ("type", FormValue::str("online")),
            (
                "online",
                FormValue::map([
                    ("ip_address", FormValue::str(ip)),
                    ("user_agent", FormValue::str("payroute")),
                ]),
            ),
        ]),
        None => FormValue::map([("type", FormValue::str("offline"))]),
    };
    FormValue::map([("customer_acceptance", acceptance)])
}

/// Capture and cancel accept no `metadata` (only fixed parameters).
pub fn capture_body(req: &CaptureRequest) -> Result<String, StripeError> {
    let amount = to_stripe(req.amount, &req.currency)?;
    Ok(encode(&[("amount_to_capture", FormValue::Int(amount))]))
}

/// Cancel needs no parameters; giving the reason keeps the body non-empty,
/// which lets the HTTP client tell "never sent" apart on a timeout.
pub fn cancel_body(_req: &CancelRequest) -> String {
    encode(&[(
        "cancellation_reason",
        FormValue::str("requested_by_customer"),
    )])
}

/// Stripe knows three refund reasons; any other reason is kept in metadata.
pub fn refund_body(req: &RefundRequest) -> Result<String, StripeError> {
    let reason = req
        .reason
        .as_deref()
        .filter(|r| matches!(*r, "duplicate" | "fraudulent" | "requested_by_customer"));
    let amount = to_stripe(req.amount, &req.currency)?;
    Ok(encode(&[
        ("payment_intent", FormValue::str(&req.provider_reference)),
        ("amount", FormValue::Int(amount)),
        ("reason", FormValue::opt(reason)),
        (
            "metadata",
            FormValue::map([
                ("payroute_refund_id", FormValue::str(&req.refund_id)),
                ("payroute_reason", FormValue::opt(req.reason.clone())),
            ]),
        ),
    ]))
}

#[cfg(test)]
mod gateway_tests;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod wire_tests;
