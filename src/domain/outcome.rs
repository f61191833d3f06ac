//! What a gateway call came to: the [`Outcome`] taxonomy every connector
//! classifies replies into (design §5), the [`Effect`] of a success, a
//! [`Decline`], and the [`Lookup`] a reconciliation read returns. The
//! engine, the breakers, the reconciler and the webhook applier decide on
//! these without knowing which gateway answered.

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
    /// than the Stripe connector's `SEARCH_LAG`.
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
