//! Gateway connectors: turn one payroute operation into one gateway API call
//! and classify the reply into an [`Outcome`] (design §5). Connectors know
//! nothing of routing or storage; they are built from [`ConnectorSettings`].

pub mod adyen;
pub mod http;
pub mod stripe;
#[cfg(test)]
pub(crate) mod test_server;

use std::fmt;
use std::time::Duration;

pub use http::HttpClient;

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

/// A string that must never reach logs: card numbers, CVCs, API keys.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive(pub String);

impl Sensitive {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
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
pub struct CardData {
    pub number: Sensitive,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvc: Option<Sensitive>,
    pub holder_name: Option<String>,
}

/// The payment method as the chosen gateway must receive it.
#[derive(Debug, Clone)]
pub enum MethodData {
    Card(CardData),
    /// A gateway-specific stored token (Stripe `pm_...`, Adyen
    /// `storedPaymentMethodId`) chosen for this gateway from the request's
    /// `tokens` map.
    GatewayToken(Sensitive),
    /// Wallet payload as provided by the merchant (opaque to payroute).
    ApplePay(Sensitive),
    GooglePay(Sensitive),
    SepaDebit {
        iban: Sensitive,
        owner_name: String,
    },
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

/// What a successful gateway reply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Funds held, not captured (manual capture).
    Authorized,
    /// Funds captured (automatic capture, or a synchronous capture).
    Captured,
    /// Authorization released (synchronous cancel).
    Voided,
    /// Refund completed synchronously.
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    pub provider_reference: Option<String>,
    /// Normalized code: `card_declined`, `insufficient_funds`, `expired_card`,
    /// `incorrect_cvc`, `processing_error`, `invalid_request` ...
    pub code: String,
    /// The gateway's own decline code or refusal reason.
    pub decline_code: Option<String>,
    pub message: String,
    /// A soft decline may succeed elsewhere (issuer unavailable, try again
    /// later); hard declines (stolen card, insufficient funds) never cascade.
    pub soft: bool,
}

/// Every gateway reply falls into exactly one of these (design §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The gateway confirmed the operation.
    Succeeded {
        provider_reference: String,
        effect: Effect,
    },
    /// The gateway accepted the request and will confirm later (Adyen
    /// modifications answer `received`; a Stripe refund may be `pending`).
    Pending { provider_reference: String },
    /// The shopper must act (3-D Secure, redirect).
    RequiresAction {
        provider_reference: String,
        action: serde_json::Value,
    },
    /// A definitive refusal by the gateway or the issuer.
    Declined(Decline),
    /// Provably not processed: safe to try another gateway.
    Unavailable { reason: String },
    /// May have been processed: never fail over blindly.
    Ambiguous { reason: String },
    /// Not processed because of our request or our credentials (400/401/403):
    /// nothing was charged, but it will fail the same way again.
    Rejected { code: String, message: String },
}

impl Outcome {
    /// The metrics / attempt label of this outcome.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded { .. } => "approved",
            Outcome::Pending { .. } => "pending",
            Outcome::RequiresAction { .. } => "requires_action",
            Outcome::Declined(_) => "declined",
            Outcome::Unavailable { .. } => "unavailable",
            Outcome::Ambiguous { .. } => "ambiguous",
            Outcome::Rejected { .. } => "error",
        }
    }
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

/// What a gateway knows of an authorization payroute attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The gateway has it: its current effect (Authorized / Captured /
    /// Voided) with the provider reference.
    Found {
        provider_reference: String,
        effect: Effect,
    },
    /// The gateway has it and it failed / was refused.
    Declined(Decline),
    /// The gateway has it, outcome still pending (requires_action, processing).
    Pending { provider_reference: String },
    /// Several live (Authorized or Captured) authorizations carry this
    /// payment id: a double charge to settle, every one listed as found.
    Multiple(Vec<(String, Effect)>),
    /// The gateway provably has no such payment (safe to consider it never
    /// charged). From Stripe's search (no provider reference given) this is
    /// only as fresh as the search index: trust it once the attempt is older
    /// than [`stripe::SEARCH_LAG`].
    NotFound,
    /// The gateway cannot tell now (unreachable, 5xx, no query API): try
    /// again later.
    Unknown { reason: String },
}

impl Lookup {
    /// A short label for logs and audit entries.
    pub fn label(&self) -> &'static str {
        match self {
            Lookup::Found { .. } => "found",
            Lookup::Declined(_) => "declined",
            Lookup::Pending { .. } => "pending",
            Lookup::Multiple(_) => "multiple",
            Lookup::NotFound => "not_found",
            Lookup::Unknown { .. } => "unknown",
        }
    }
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
