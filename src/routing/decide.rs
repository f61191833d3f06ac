//! The routing decision: risk first (routes may condition on the score),
//! then the first matching route, then its gateways filtered by what each
//! accepts and ordered by the route's target (priority list or weighted
//! split).

use super::routes::{Route, Target};
use super::{Decision, GatewayConfig, Ruleset, Skipped, Strategy};
use crate::domain::facts::{MethodKind, PaymentFacts};
use crate::risk::{RiskAssessment, Velocity};

/// See [`Ruleset::decide`].
pub fn decide(rs: &Ruleset, facts: &PaymentFacts, velocity: &Velocity) -> Decision {
    decide_with_roll(rs, facts, velocity, &mut |total| {
        rand::random_range(0..total)
    })
}

/// `roll(total)` returns a number in `0..total` for the weighted pick;
/// injectable so tests are deterministic.
pub fn decide_with_roll(
    rs: &Ruleset,
    facts: &PaymentFacts,
    velocity: &Velocity,
    roll: &mut dyn FnMut(u64) -> u64,
) -> Decision {
    let risk = rs.risk.assess(facts, velocity);
    let Some(route) = rs.routes.iter().find(|r| r.when.matches(facts, risk.score)) else {
        return no_route(risk, &rs.version);
    };
    let (eligible, skipped) = filter_candidates(rs, route, facts);
    let candidates = match &route.target {
        Target::Priority(_) => eligible.into_iter().map(|(id, _)| id).collect(),
        Target::Split(_) => split_order(eligible, roll),
    };
    Decision {
        rule: Some(route.name.clone()),
        candidates,
        skipped,
        strategy: route.strategy,
        cascade_on_soft_decline: route.cascade_on_soft_decline,
        risk,
        ruleset_version: rs.version.clone(),
    }
}

fn no_route(risk: RiskAssessment, version: &str) -> Decision {
    Decision {
        rule: None,
        candidates: Vec::new(),
        skipped: Vec::new(),
        strategy: Strategy::Priority,
        cascade_on_soft_decline: false,
        risk,
        ruleset_version: version.to_string(),
    }
}

/// The route's gateways (with split weights; 0 for priority lists) that
/// can take this payment, in the route's order, and the others with why.
fn filter_candidates(
    rs: &Ruleset,
    route: &Route,
    facts: &PaymentFacts,
) -> (Vec<(String, u32)>, Vec<Skipped>) {
    let named: Vec<(String, u32)> = match &route.target {
        Target::Priority(ids) => ids.iter().map(|id| (id.clone(), 0)).collect(),
        Target::Split(weights) => weights.clone(),
    };
    let mut eligible = Vec::with_capacity(named.len());
    let mut skipped = Vec::new();
    for (id, weight) in named {
        match rs.gateway(&id).map(|g| why_not(g, facts)) {
            Some(None) => eligible.push((id, weight)),
            Some(Some(reason)) => skipped.push(Skipped {
                gateway: id,
                reason,
            }),
            // Validation guarantees every named gateway exists; say so
            // rather than silently dropping it if that ever breaks.
            None => skipped.push(Skipped {
                gateway: id,
                reason: "gateway is not configured".to_string(),
            }),
        }
    }
    (eligible, skipped)
}

fn why_not(g: &GatewayConfig, facts: &PaymentFacts) -> Option<String> {
    if let Some(m) = facts.method
        && !g.supports_method(m)
    {
        return Some(format!("does not accept method {}", m.as_str()));
    }
    if !g.supports_currency(&facts.currency) {
        return Some(format!("does not accept currency {}", facts.currency));
    }
    if facts.method == Some(MethodKind::GatewayToken) {
        let has_token = facts
            .token_gateways
            .as_ref()
            .is_some_and(|t| t.contains(&g.id));
        if !has_token {
            return Some("the payment has no gateway_token for this gateway".to_string());
        }
    }
    None
}

/// Weighted random first pick; the rest keep their order (weight
/// descending, as compiled) as failover.
fn split_order(mut eligible: Vec<(String, u32)>, roll: &mut dyn FnMut(u64) -> u64) -> Vec<String> {
    let total: u64 = eligible.iter().map(|(_, w)| u64::from(*w)).sum();
    if total > 0 {
        let mut r = roll(total);
        let pick = eligible.iter().position(|(_, w)| {
            let w = u64::from(*w);
            if r < w {
                return true;
            }
            r -= w;
            false
        });
        if let Some(i) = pick {
            let first = eligible.remove(i);
            eligible.insert(0, first);
        }
    }
    eligible.into_iter().map(|(id, _)| id).collect()
}
