//! The compiled ruleset's decision: which rule matches a payment, the ordered
//! gateway candidates, and the risk assessment. Knows nothing of HTTP or
//! storage; `explain` is the same decision rendered for people.

pub mod decide;
pub mod explain;
pub mod gateways;
pub mod routes;
pub mod ruleset;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use explain::{explain_json, explain_text};
pub use gateways::{GatewayConfig, MerchantConfig};
pub use ruleset::Ruleset;

use crate::risk::RiskAssessment;

/// How a route orders its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Priority,
    ApprovalRate,
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
