//! Adyen Checkout API v71 connector: JSON bodies (see `body`), `X-API-Key`
//! auth, an `Idempotency-Key` of at most 64 characters, and reply
//! classification (see `classify`); standard webhooks: Basic auth and
//! per-item HMAC verification (`verify`, items read by `item`) and their
//! normalisation (`normalize`).

mod amount;
mod body;
mod classify;
mod item;
mod normalize;
mod verify;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value;

pub use body::{
    cancel_body, capture_body, payment_request_body, refund_body, reversal_body,
    standalone_cancel_body,
};
pub use classify::{SOFT_REFUSAL_CODES, classify_error, classify_modification, classify_payment};
pub use item::AdyenItem;
pub use normalize::normalize_adyen;
pub use verify::{adyen_signing_string, verify_adyen_item, verify_adyen_notification};

use super::gateway::{Gateway, KindConfig, KindConfigError, KindFacts};
use super::http::{HttpClient, Reply, bounded_idempotency_key};
use super::webhook::{Delivery, GatewayEvent, NormalizeError, Verified, VerifyError};
use super::{
    AuthorizationQuery, AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings,
    RefundRequest,
};
use crate::domain::facts::MethodKind;
use crate::domain::outcome::{Lookup, Outcome};

/// Why Adyen's `find_authorization` cannot answer.
pub const NO_STATUS_API: &str = "Adyen reports outcomes by webhook only";

/// Adyen's documented limit for `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 64;

/// Failures before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum AdyenError {
    #[error("the gateway has no merchant_account configured")]
    NoMerchantAccount,
    #[error("a stored payment method needs the customer id as shopperReference (3+ chars)")]
    NoShopperReference,
    #[error("provider reference {0:?} is not an Adyen pspReference")]
    BadReference(String),
    #[error("invalid request: {0}")]
    Build(#[from] http::Error),
    #[error("cannot be sent in Adyen's amount scale: {0}")]
    Amount(#[from] crate::connectors::amount::AmountError),
}

impl From<AdyenError> for Outcome {
    fn from(e: AdyenError) -> Outcome {
        Outcome::Rejected {
            code: "invalid_request".into(),
            message: e.to_string(),
        }
    }
}

/// The `Idempotency-Key` header value for a payroute key.
pub fn idempotency_key(key: &str) -> String {
    bounded_idempotency_key(key, MAX_IDEMPOTENCY_KEY_LEN)
}

#[derive(Debug, Clone)]
pub struct AdyenConnector {
    settings: ConnectorSettings,
    client: HttpClient,
}

impl Gateway for AdyenConnector {
    const FACTS: KindFacts = KindFacts {
        name: "adyen",
        required_credentials: &["api_key"],
        webhook_secret: "hmac_key",
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
        let body = match payment_request_body(&self.settings, req) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        match self.post("/payments", &body, &req.idempotency_key).await {
            Ok(r) => classify_payment(r.status, &r.headers, &r.body, req.manual_capture),
            Err(outcome) => outcome,
        }
    }

    async fn capture(&self, req: &CaptureRequest) -> Outcome {
        let body = capture_body(&self.settings, req);
        self.modify(
            &req.provider_reference,
            "captures",
            body,
            &req.idempotency_key,
        )
        .await
    }

    async fn cancel(&self, req: &CancelRequest) -> Outcome {
        let body = cancel_body(&self.settings, req);
        self.modify(
            &req.provider_reference,
            "cancels",
            body,
            &req.idempotency_key,
        )
        .await
    }

    async fn refund(&self, req: &RefundRequest) -> Outcome {
        let body = refund_body(&self.settings, req);
        self.modify(
            &req.provider_reference,
            "refunds",
            body,
            &req.idempotency_key,
        )
        .await
    }

    /// Adyen's Checkout API has no call that reads a payment's status (by
    /// pspReference or by merchant reference): outcomes arrive only as
    /// webhooks (AUTHORISATION, CANCELLATION, TECHNICAL_CANCEL ...). So this
    /// is always Unknown; settle through webhooks or
    /// [`AdyenConnector::reverse_by_reference`].
    async fn find_authorization(&self, _q: &AuthorizationQuery) -> Lookup {
        Lookup::Unknown {
            reason: NO_STATUS_API.into(),
        }
    }

    /// A pspReference an event named is reversed (cancel or refund,
    /// whichever applies); else a standalone cancel by payroute's reference.
    async fn reverse(&self, payment_id: &str, known: Option<&str>, key: &str) -> Outcome {
        match known {
            Some(psp) => self.reverse_psp(psp, payment_id, key).await,
            None => self.reverse_by_reference(payment_id, key).await,
        }
    }

    /// Every request names the merchant account (see `body`).
    fn check_config(config: &KindConfig<'_>) -> Result<(), KindConfigError> {
        match config.merchant_account {
            Some(account) if !account.is_empty() => Ok(()),
            _ => Err(KindConfigError::Required {
                setting: "merchant_account",
                kind: Self::FACTS.name,
            }),
        }
    }

    fn verify_webhook(delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
        verify::verify_delivery(delivery)
    }

    fn normalize(payload: &[u8]) -> Result<GatewayEvent, NormalizeError> {
        normalize::normalize_payload(payload)
    }
}

impl AdyenConnector {
    /// `POST /cancels` (standalone cancel by payroute's payment id) with
    /// `idempotency_key`. Adyen answers `201 received`, reported as
    /// `Pending { provider_reference: <the cancel's pspReference> }`; the
    /// outcome arrives as a TECHNICAL_CANCEL webhook whose
    /// `originalReference` is the payment's pspReference (if Adyen had the
    /// payment). Adyen documents this call for authorisations not yet
    /// captured: a payment already captured is not cancelled this way.
    pub async fn reverse_by_reference(&self, payment_id: &str, idempotency_key: &str) -> Outcome {
        let body = match standalone_cancel_body(&self.settings, payment_id) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        match self.post("/cancels", &body, idempotency_key).await {
            Ok(r) => classify_modification(r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    /// `POST /payments/{psp}/reversals`: Adyen cancels the authorization or,
    /// if it was already captured, refunds it in full, whichever applies,
    /// and reports which in a `CANCEL_OR_REFUND` webhook. The one way to undo
    /// a payment whose capture state payroute cannot know (automatic capture,
    /// a late authorization). Answered `201 received`: `Pending`.
    pub async fn reverse_psp(&self, psp: &str, payment_id: &str, idempotency_key: &str) -> Outcome {
        let body = reversal_body(&self.settings, payment_id);
        self.modify(psp, "reversals", body, idempotency_key).await
    }

    async fn modify(
        &self,
        psp: &str,
        action: &str,
        body: Result<Value, AdyenError>,
        key: &str,
    ) -> Outcome {
        let path = match modification_path(psp, action) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        match self.post(&path, &body, key).await {
            Ok(r) => classify_modification(r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    async fn post(&self, path: &str, body: &Value, key: &str) -> Result<Reply, Outcome> {
        let request = self.request(path, body, key).map_err(Outcome::from)?;
        let started = std::time::Instant::now();
        let result = self.client.send(request, self.settings.timeout).await;
        let ms = started.elapsed().as_millis() as u64;
        let gateway = self.settings.id.as_str();
        match &result {
            Ok(r) => tracing::debug!(gateway, path, status = r.status.as_u16(), ms, "adyen call"),
            Err(e) => tracing::warn!(gateway, path, error = %e, ms, "adyen call failed"),
        }
        result.map_err(|e| e.outcome())
    }

    fn request(
        &self,
        path: &str,
        body: &Value,
        key: &str,
    ) -> Result<http::Request<Full<Bytes>>, AdyenError> {
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), path);
        let mut api_key = http::HeaderValue::from_str(self.settings.api_key.expose())
            .map_err(http::Error::from)?;
        api_key.set_sensitive(true);
        Ok(http::Request::post(url)
            .header("X-API-Key", api_key)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key(key))
            .body(Full::new(Bytes::from(body.to_string())))?)
    }
}

/// `/payments/{psp}/{action}`, refusing references that could alter the path.
fn modification_path(psp: &str, action: &str) -> Result<String, AdyenError> {
    let safe = !psp.is_empty() && psp.bytes().all(|b| b.is_ascii_alphanumeric());
    if !safe {
        return Err(AdyenError::BadReference(psp.to_string()));
    }
    Ok(format!("/payments/{psp}/{action}"))
}

#[cfg(test)]
mod gateway_tests;

#[cfg(test)]
mod tests;
