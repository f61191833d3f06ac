//! Compiled routes: a `when` condition and where a matching payment goes.

use super::Strategy;
use crate::domain::when::When;

/// Where a matching route sends the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Try in this order.
    Priority(Vec<String>),
    /// Weighted random first pick; the rest by weight as failover. Weights
    /// are positive.
    Split(Vec<(String, u32)>),
}

impl Target {
    /// Every gateway id the target names, in file order (split: weight
    /// descending).
    pub fn gateway_ids(&self) -> Vec<&str> {
        match self {
            Target::Priority(ids) => ids.iter().map(String::as_str).collect(),
            Target::Split(w) => w.iter().map(|(id, _)| id.as_str()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    pub when: When,
    pub target: Target,
    pub strategy: Strategy,
    pub cascade_on_soft_decline: bool,
}
