//! What every gateway's webhooks share (design §6): the [`VerifyError`]
//! a refused delivery gets, the HMAC-SHA256 and constant-time helpers each
//! gateway's signature check is built from, and the normalized
//! [`GatewayEvent`] (with its [`NormalizedKind`]) each gateway's events are
//! mapped to. The gateway-specific rules live in each gateway's folder
//! (`stripe::verify`, `adyen::verify`, ...): checks on the raw body exactly
//! as the gateway's official SDK does them, pure (no I/O, no clock: the
//! caller passes `now`), every secret or signature comparison constant-time.

use std::collections::BTreeMap;

use hmac::{KeyInit, Mac};
use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::domain::sensitive::Sensitive;

/// Why a webhook was refused. The HTTP layer maps these to a status code and
/// to the `result` label of `payroute_webhooks_received_total`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature header (or Adyen item signature) is absent.
    #[error("no webhook signature present")]
    MissingSignature,
    /// A signature is present but none matches.
    #[error("webhook signature does not match")]
    BadSignature,
    /// The signature matches but its timestamp is older than the tolerance.
    #[error("webhook timestamp is outside the tolerance zone")]
    Expired,
    /// The header or body cannot be parsed.
    #[error("malformed webhook: {0}")]
    Malformed(String),
    /// Basic auth was configured and the request's credentials are absent or wrong.
    #[error("webhook basic authentication failed")]
    BadAuth,
    /// A configured key is unusable (e.g. an Adyen HMAC key that is not hex):
    /// a configuration problem, not the sender's fault.
    #[error("webhook verification key is unusable: {0}")]
    BadKey(String),
}

impl VerifyError {
    /// The sender's credentials were refused (HTTP 401), as opposed to a
    /// signature or body problem (400).
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, VerifyError::BadAuth)
    }

    /// The `result` label for `payroute_webhooks_received_total` (design §9
    /// knows only `bad_signature` and `malformed` for refusals).
    pub fn metric_result(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::MissingSignature
            | VerifyError::BadSignature
            | VerifyError::Expired
            | VerifyError::BadAuth
            | VerifyError::BadKey(_) => "bad_signature",
        }
    }
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // Invariant: HMAC accepts keys of any length, so this never fails.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time byte comparison (length differences return early, which
/// reveals only the length of a public-format signature).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// What a gateway event reports, in payroute's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NormalizedKind {
    PaymentAuthorized,
    PaymentCaptured,
    /// Adyen only (`CAPTURE` false, `CAPTURE_FAILED`): not one of design §6's
    /// merchant event types; the applier decides what to forward.
    PaymentCaptureFailed,
    PaymentFailed,
    PaymentVoided,
    /// Adyen only (`CANCELLATION` false): as for `PaymentCaptureFailed`.
    PaymentVoidFailed,
    RefundSucceeded,
    RefundFailed,
    DisputeOpened,
    DisputeWon,
    DisputeLost,
}

impl NormalizedKind {
    /// The event type name (`payment.authorized`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NormalizedKind::PaymentAuthorized => "payment.authorized",
            NormalizedKind::PaymentCaptured => "payment.captured",
            NormalizedKind::PaymentCaptureFailed => "payment.capture_failed",
            NormalizedKind::PaymentFailed => "payment.failed",
            NormalizedKind::PaymentVoided => "payment.voided",
            NormalizedKind::PaymentVoidFailed => "payment.void_failed",
            NormalizedKind::RefundSucceeded => "refund.succeeded",
            NormalizedKind::RefundFailed => "refund.failed",
            NormalizedKind::DisputeOpened => "dispute.opened",
            NormalizedKind::DisputeWon => "dispute.won",
            NormalizedKind::DisputeLost => "dispute.lost",
        }
    }
}

/// One gateway event, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEvent {
    /// Unique per gateway: Stripe's event `id`; for Adyen
    /// `"{pspReference}:{eventCode}:{success}"` (an item has no id).
    pub provider_event_id: String,
    /// `None`: the event is not one payroute acts on.
    pub kind: Option<NormalizedKind>,
    /// The gateway's reference of the PAYMENT (Stripe `pi_...`; Adyen the
    /// payment's pspReference, i.e. `originalReference` for modifications
    /// and disputes).
    pub payment_reference: Option<String>,
    /// The reference of the object the event is about when it is not the
    /// payment itself: Stripe refund `re_...` or dispute `dp_...`; Adyen the
    /// modification's or dispute's pspReference.
    pub object_reference: Option<String>,
    /// payroute's own id echoed back: Adyen `merchantReference`; Stripe
    /// `metadata.payroute_refund_id` / `metadata.payroute_payment_id`.
    pub merchant_reference: Option<String>,
    /// Minor units.
    pub amount: Option<i64>,
    /// ISO 4217, upper-case.
    pub currency: Option<String>,
    pub reason: Option<String>,
    /// Stripe event `type`; Adyen `"{eventCode}:{success}"`.
    pub raw_type: String,
    /// Unix seconds (Stripe `created`; Adyen `eventDate`).
    pub occurred_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("event is not JSON: {0}")]
    NotJson(String),
    #[error("event has no `{0}`")]
    Missing(&'static str),
    /// The stored payload is JSON but not an event of its gateway's shape.
    #[error("event is unreadable: {0}")]
    Unreadable(String),
}

/// One raw webhook delivery, as a gateway's `verify_webhook` sees it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The current and the previous value of the kind's webhook secret
    /// (`KindFacts::webhook_secret`): never empty, no value empty.
    pub secrets: &'a [&'a str],
    /// Every credential of the gateway, for optional extras such as Adyen's
    /// Basic auth.
    pub credentials: &'a BTreeMap<String, Sensitive>,
    /// How old a signed timestamp may be, in seconds (0: no age check).
    pub tolerance_s: u64,
    /// Unix seconds by the engine's clock.
    pub now: i64,
}

impl Delivery<'_> {
    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A configured credential's value.
    pub fn credential(&self, name: &str) -> Option<&str> {
        self.credentials.get(name).map(Sensitive::expose)
    }
}

/// A verified delivery: what to store, and what to answer once stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub events: Vec<VerifiedEvent>,
    pub ack: WebhookAck,
}

/// One event of a verified delivery, to be stored before the ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvent {
    /// Unique per gateway; the store deduplicates on it.
    pub provider_event_id: String,
    /// What the gateway's `normalize` reads back later.
    pub payload: Vec<u8>,
}

/// The body and content type a gateway expects as acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookAck {
    pub body: &'static str,
    pub content_type: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_malformed_maps_to_the_malformed_metric() {
        assert_eq!(
            VerifyError::Malformed("x".into()).metric_result(),
            "malformed"
        );
        for e in [
            VerifyError::MissingSignature,
            VerifyError::BadSignature,
            VerifyError::Expired,
            VerifyError::BadAuth,
            VerifyError::BadKey("k".into()),
        ] {
            assert_eq!(e.metric_result(), "bad_signature", "{e:?}");
        }
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
