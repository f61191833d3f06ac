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

    /// The one outcome to report for several reversals of one payment (a
    /// gateway may hold more than one charge under payroute's reference):
    /// the one that most needs the caller's attention (anything unfinished
    /// before a refund before a void), the first such when tied. None at
    /// all: nothing to reverse, reported as a void of no payment
    /// (`provider_reference` empty).
    pub fn most_telling(outcomes: Vec<Outcome>) -> Outcome {
        let weight = |o: &Outcome| match o {
            Outcome::Succeeded {
                effect: Effect::Voided,
                ..
            } => 0,
            Outcome::Succeeded { .. } => 1,
            Outcome::Pending { .. } | Outcome::RequiresAction { .. } => 2,
            Outcome::Declined(_) | Outcome::Rejected { .. } => 3,
            Outcome::Unavailable { .. } => 4,
            Outcome::Ambiguous { .. } => 5,
        };
        outcomes
            .into_iter()
            .min_by_key(|o| std::cmp::Reverse(weight(o)))
            .unwrap_or(Outcome::Succeeded {
                provider_reference: String::new(),
                effect: Effect::Voided,
            })
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

    /// One verdict for every record a gateway holds under one payroute
    /// payment, given most recent first:
    /// - two or more live (Authorized / Captured) → `Multiple` (a double
    ///   charge to settle);
    /// - exactly one live → `Found` for it, whatever the others say;
    /// - otherwise, when the records seen are not all there are
    ///   (`incomplete` says why) → `Unknown`;
    /// - otherwise the most telling, most recent first: `Unknown` (a status
    ///   the connector does not know might be live) before `Pending` before
    ///   the settled ones (`Found` Voided, `Declined`); none → `NotFound`.
    pub fn summarize(lookups: Vec<Lookup>, incomplete: Option<String>) -> Lookup {
        let live: Vec<(String, Effect)> = lookups.iter().filter_map(Lookup::live).collect();
        if live.len() > 1 {
            return Lookup::Multiple(live);
        }
        if let Some((provider_reference, effect)) = live.into_iter().next() {
            return Lookup::Found {
                provider_reference,
                effect,
            };
        }
        if let Some(reason) = incomplete {
            return Lookup::Unknown { reason };
        }
        let rank = |l: &Lookup| match l {
            Lookup::Unknown { .. } => 0,
            Lookup::Pending { .. } => 1,
            _ => 2,
        };
        lookups
            .into_iter()
            .min_by_key(rank)
            .unwrap_or(Lookup::NotFound)
    }

    /// The reference and effect of a live (Authorized or Captured) record.
    fn live(&self) -> Option<(String, Effect)> {
        match self {
            Lookup::Found {
                provider_reference,
                effect: effect @ (Effect::Authorized | Effect::Captured),
            } => Some((provider_reference.clone(), *effect)),
            _ => None,
        }
    }
}
