//! Gateway connectors: turn one payroute operation into one gateway API call
//! and classify the reply into an [`Outcome`] (design §5). Connectors know
//! nothing of routing or storage; they are built from [`ConnectorSettings`].

pub mod adyen;
pub mod http;
pub mod stripe;
#[cfg(test)]
pub(crate) mod test_server;
pub mod webhook;

/// Checkout.com: only its webhook signature check so far; the connector
/// itself (and its registration as a kind) comes in this folder.
pub mod checkout {
    pub mod verify;
}

use std::time::Duration;

pub use http::HttpClient;

use crate::domain::method::MethodData;
use crate::domain::outcome::{Lookup, Outcome};
use crate::domain::sensitive::Sensitive;

/// Which gateway API dialect a connector speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayKind {
    Stripe,
    Adyen,
}

impl GatewayKind {
    pub fn parse(s: &str) -> Option<GatewayKind> {
        match s {
            "stripe" => Some(GatewayKind::Stripe),
            "adyen" => Some(GatewayKind::Adyen),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Stripe => "stripe",
            GatewayKind::Adyen => "adyen",
        }
    }
}

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

/// One configured gateway, ready to call. An enum rather than a trait object:
/// the set of dialects is closed and known at compile time.
#[derive(Debug, Clone)]
pub enum Connector {
    Stripe(stripe::StripeConnector),
    Adyen(adyen::AdyenConnector),
}

impl Connector {
    pub fn new(settings: ConnectorSettings, client: HttpClient) -> Connector {
        match settings.kind {
            GatewayKind::Stripe => {
                Connector::Stripe(stripe::StripeConnector::new(settings, client))
            }
            GatewayKind::Adyen => Connector::Adyen(adyen::AdyenConnector::new(settings, client)),
        }
    }

    pub fn settings(&self) -> &ConnectorSettings {
        match self {
            Connector::Stripe(c) => c.settings(),
            Connector::Adyen(c) => c.settings(),
        }
    }

    pub async fn authorize(&self, req: &AuthorizeRequest) -> Outcome {
        match self {
            Connector::Stripe(c) => c.authorize(req).await,
            Connector::Adyen(c) => c.authorize(req).await,
        }
    }

    pub async fn capture(&self, req: &CaptureRequest) -> Outcome {
        match self {
            Connector::Stripe(c) => c.capture(req).await,
            Connector::Adyen(c) => c.capture(req).await,
        }
    }

    pub async fn cancel(&self, req: &CancelRequest) -> Outcome {
        match self {
            Connector::Stripe(c) => c.cancel(req).await,
            Connector::Adyen(c) => c.cancel(req).await,
        }
    }

    pub async fn refund(&self, req: &RefundRequest) -> Outcome {
        match self {
            Connector::Stripe(c) => c.refund(req).await,
            Connector::Adyen(c) => c.refund(req).await,
        }
    }

    /// What the gateway knows of the authorization payroute attempted for
    /// `q.payment_id`. Read-only: never moves money.
    pub async fn find_authorization(&self, q: &AuthorizationQuery) -> Lookup {
        match self {
            Connector::Stripe(c) => c.find_authorization(q).await,
            Connector::Adyen(c) => c.find_authorization(q).await,
        }
    }

    /// Undoes whatever the gateway holds for payroute's payment: by
    /// payroute's reference when payroute never learned the gateway's (a
    /// "timeout reversal"). Each dialect documents its replies; in short:
    /// - `Succeeded { effect: Voided | Refunded }`: released now (Stripe);
    ///   `Succeeded { provider_reference: "", effect: Voided }` means the
    ///   gateway shows nothing to reverse (Stripe search, see
    ///   [`stripe::SEARCH_LAG`]);
    /// - `Pending { provider_reference }`: accepted, confirmed later by
    ///   webhook (Adyen TECHNICAL_CANCEL; a pending Stripe refund);
    /// - `Unavailable`: nothing was done (the lookup failed), try later;
    /// - anything else as for [`Connector::cancel`] / [`Connector::refund`].
    ///
    /// `known` is the gateway's own reference when one of its events named
    /// the payment (a late authorization): then the reversal acts on that
    /// payment directly, captured or not (Stripe: read the PaymentIntent,
    /// cancel or refund; Adyen: `/payments/{psp}/reversals`, which cancels
    /// or refunds, where a standalone `/cancels` cannot undo a capture).
    pub async fn reverse(
        &self,
        payment_id: &str,
        known: Option<&str>,
        idempotency_key: &str,
    ) -> Outcome {
        match (self, known.filter(|r| !r.is_empty())) {
            (Connector::Stripe(c), Some(id)) => {
                c.reverse_intent_id(id, payment_id, idempotency_key).await
            }
            (Connector::Stripe(c), None) => {
                c.reverse_by_reference(payment_id, idempotency_key).await
            }
            (Connector::Adyen(c), Some(psp)) => {
                c.reverse_psp(psp, payment_id, idempotency_key).await
            }
            (Connector::Adyen(c), None) => {
                c.reverse_by_reference(payment_id, idempotency_key).await
            }
        }
    }
}
