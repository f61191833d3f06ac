//! The compiled ruleset's decision: which rule matches a payment, the ordered
//! gateway candidates, and the risk assessment. Knows nothing of HTTP or
//! storage; `explain` is the same decision rendered for people.

pub mod decide;
pub mod explain;
pub mod facts;
pub mod rules;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use explain::{explain_json, explain_text};
pub use facts::card_network;

/// Payment method types of the merchant API (design §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Card,
    ApplePay,
    GooglePay,
    SepaDebit,
    GatewayToken,
}

impl MethodKind {
    pub fn parse(s: &str) -> Option<MethodKind> {
        match s {
            "card" => Some(MethodKind::Card),
            "apple_pay" => Some(MethodKind::ApplePay),
            "google_pay" => Some(MethodKind::GooglePay),
            "sepa_debit" => Some(MethodKind::SepaDebit),
            "gateway_token" => Some(MethodKind::GatewayToken),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Card => "card",
            MethodKind::ApplePay => "apple_pay",
            MethodKind::GooglePay => "google_pay",
            MethodKind::SepaDebit => "sepa_debit",
            MethodKind::GatewayToken => "gateway_token",
        }
    }
}

/// What routing may look at: never the card number itself.
#[derive(Debug, Clone, Default)]
pub struct PaymentFacts {
    pub merchant: String,
    pub amount: i64,
    pub currency: String,
    pub method: Option<MethodKind>,
    pub country: Option<String>,
    /// `visa`, `mastercard`, `amex`, ...
    pub card_network: Option<String>,
    /// First six (or eight) digits.
    pub card_bin: Option<String>,
    /// Keyed fingerprint of the card, for velocity signals.
    pub card_fingerprint: Option<String>,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub customer_ip: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The merchant's own risk score (0–100), if sent.
    pub risk_score: Option<u32>,
    /// For `gateway_token`: the gateway ids that have a token; routing may
    /// only choose these.
    pub token_gateways: Option<Vec<String>>,
}

/// How a route orders its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Priority,
    ApprovalRate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalHit {
    pub name: String,
    pub score: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskAssessment {
    /// 0–100.
    pub score: u32,
    pub signals: Vec<SignalHit>,
    pub block_at: Option<u32>,
    pub blocked: bool,
}

/// The routing decision for one payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The matching route's name; `None` when no route matched.
    pub rule: Option<String>,
    /// Gateway ids in the order to try them, already filtered by what each
    /// gateway supports and by the payment's tokens.
    pub candidates: Vec<String>,
    /// Gateways the route named but that were filtered out, with why.
    pub skipped: Vec<Skipped>,
    pub strategy: Strategy,
    pub cascade_on_soft_decline: bool,
    pub risk: RiskAssessment,
    pub ruleset_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub gateway: String,
    pub reason: String,
}
