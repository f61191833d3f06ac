//! Inbound webhook verification (design §6, step 1): checks each gateway's
//! signature on the raw body exactly as the gateway's official SDK does, and
//! nothing else. Pure functions: no I/O, no clock (the caller passes `now`),
//! no store. Every secret or signature comparison is constant-time.
//!
//! - Stripe: `Stripe-Signature` header ([`verify_stripe`], [`verify_stripe_any`]).
//! - Adyen: per-item `additionalData.hmacSignature` plus optional Basic auth
//!   ([`verify_adyen_notification`], [`verify_adyen_item`]).
//! - Checkout.com: `Cko-Signature` header ([`verify_checkout`]).

mod adyen;
mod adyen_item;
mod checkout;
mod stripe;

pub use adyen::{adyen_signing_string, verify_adyen_item, verify_adyen_notification};
pub use adyen_item::AdyenItem;
pub use checkout::verify_checkout;
pub use stripe::{DEFAULT_TOLERANCE_SECS, verify_stripe, verify_stripe_any};

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

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
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
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
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
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
