//! Gateway connectors: everything payroute knows of each gateway, one
//! folder per gateway (`stripe/`, `adyen/`): turning one payroute operation
//! into one gateway API call and classifying the reply into an `Outcome`
//! (design §5), reconciliation lookups and reversals, webhook signature
//! verification and event normalisation. Each implements the one
//! [`Gateway`](gateway::Gateway) interface; `registry` lists the kinds and
//! dispatches to them through [`GatewayKind`] and [`Connector`]. Connectors
//! know nothing of routing or storage; they are built from
//! [`ConnectorSettings`] and import only `domain`.

pub mod adyen;
pub mod amount;
pub mod checkout;
pub mod gateway;
pub mod http;
mod registry;
pub mod stripe;
#[cfg(test)]
pub(crate) mod test_server;
pub mod webhook;

use std::time::Duration;

pub use http::HttpClient;
pub use registry::{Connector, GatewayKind};

use crate::domain::method::MethodData;
use crate::domain::sensitive::Sensitive;
use crate::domain::vault::CredentialUse;

/// What a connector needs to talk to one configured gateway.
#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    /// The configured gateway id (`stripe_main`), for logs and metrics.
    pub id: String,
    pub kind: GatewayKind,
    /// Stripe: `https://api.stripe.com`; Adyen: `https://checkout-test.adyen.com/v71`.
    pub base_url: String,
    /// Whole-call deadline for one request (connect + send + reply).
    pub timeout: Duration,
    pub api_key: Sensitive,
    /// Adyen only: the merchant account every request names.
    pub merchant_account: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    /// payroute's payment id; sent as metadata / merchantReference so that the
    /// gateway's own records point back to us.
    pub payment_id: String,
    /// The merchant's order reference.
    pub reference: String,
    pub amount: i64,
    /// ISO 4217 upper-case code.
    pub currency: String,
    pub manual_capture: bool,
    pub method: MethodData,
    pub customer_email: Option<String>,
    pub customer_country: Option<String>,
    pub customer_ip: Option<String>,
    /// The merchant's customer id (`customer.id`). Adyen requires it as
    /// `shopperReference` to charge a stored payment method (token).
    pub customer_id: Option<String>,
    /// Gateway-side idempotency key: derived from the attempt, stable across
    /// retries of the same attempt, different per gateway.
    pub idempotency_key: String,
    /// Where a shopper returns after a redirect (Adyen requires one).
    pub return_url: String,
    /// How the card is used: once, saved now, saved earlier, or charged
    /// by the merchant with the customer absent.
    pub credential: CredentialUse,
}

#[derive(Debug, Clone)]
pub struct CaptureRequest {
    pub provider_reference: String,
    pub amount: i64,
    pub currency: String,
    pub payment_id: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone)]
pub struct CancelRequest {
    pub provider_reference: String,
    pub payment_id: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub provider_reference: String,
    pub amount: i64,
    pub currency: String,
    pub refund_id: String,
    pub reason: Option<String>,
    pub idempotency_key: String,
}

/// What the reconciler asks a gateway about an authorization whose outcome
/// payroute does not know (timeout after send, crash between writing the
/// attempt and its outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationQuery {
    /// payroute's payment id, which every authorization carries to the
    /// gateway (Stripe `metadata[payroute_payment_id]`, Adyen `reference`).
    pub payment_id: String,
    /// The gateway's id for it, when the reply that carried it was recorded.
    pub provider_reference: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub manual_capture: bool,
    /// The attempt's gateway-side idempotency key. No dialect queries by it
    /// today (neither Stripe nor Adyen offers a read by idempotency key).
    pub idempotency_key: String,
}
