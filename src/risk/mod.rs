//! Risk scoring: the merchant's own score plus the rule files' signals
//! (static conditions and velocity counters), capped at 100, and the
//! `block_at` threshold that refuses a payment before any gateway is called.

pub mod velocity;

use std::time::Duration;

pub use velocity::{Velocity, VelocityKey};

use serde::Serialize;

use crate::domain::facts::PaymentFacts;
use crate::domain::when::When;

/// The highest risk score.
pub const MAX_SCORE: u32 = 100;

/// A signal that fired and the points it added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalHit {
    pub name: String,
    pub score: u32,
}

/// A payment's risk score and whether it is refused before any gateway call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskAssessment {
    /// 0–100.
    pub score: u32,
    pub signals: Vec<SignalHit>,
    pub block_at: Option<u32>,
    pub blocked: bool,
}

/// A velocity condition: fires when the key already has `max` payments in
/// `window`, i.e. this one would exceed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VelocityRule {
    pub key: VelocityKey,
    pub window: Duration,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalRule {
    /// A static condition (same keys as routes, except `risk`).
    When(When),
    Velocity(VelocityRule),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub name: String,
    pub rule: SignalRule,
    /// Points added to the score when the signal fires.
    pub add: u32,
}

/// The validated `risk:` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RiskRules {
    pub signals: Vec<Signal>,
    pub block_at: Option<u32>,
}

impl RiskRules {
    /// Scores a payment. Pure: reads `velocity`, never records into it.
    pub fn assess(&self, facts: &PaymentFacts, velocity: &Velocity) -> RiskAssessment {
        let mut hits = Vec::new();
        if let Some(score) = facts.risk_score {
            hits.push(SignalHit {
                name: "merchant".to_string(),
                score: score.min(MAX_SCORE),
            });
        }
        for signal in &self.signals {
            if signal.fires(facts, velocity) {
                hits.push(SignalHit {
                    name: signal.name.clone(),
                    score: signal.add,
                });
            }
        }
        let total = hits.iter().map(|h| h.score).fold(0u32, u32::saturating_add);
        let score = total.min(MAX_SCORE);
        RiskAssessment {
            score,
            signals: hits,
            block_at: self.block_at,
            blocked: self.block_at.is_some_and(|b| score >= b),
        }
    }

    /// The longest velocity window: how long `Velocity` must remember.
    pub fn longest_window(&self) -> Option<Duration> {
        self.signals
            .iter()
            .filter_map(|s| match &s.rule {
                SignalRule::Velocity(v) => Some(v.window),
                SignalRule::When(_) => None,
            })
            .max()
    }
}

impl Signal {
    fn fires(&self, facts: &PaymentFacts, velocity: &Velocity) -> bool {
        match &self.rule {
            // `risk` is refused in signal conditions, so the score passed
            // here is never read.
            SignalRule::When(when) => when.matches(facts, 0),
            SignalRule::Velocity(rule) => rule
                .key
                .value_of(facts)
                .is_some_and(|v| velocity.count(rule.key, &v, rule.window) >= rule.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::when::Bounds;

    fn rules() -> RiskRules {
        RiskRules {
            signals: vec![
                Signal {
                    name: "large-amount".into(),
                    rule: SignalRule::When(When {
                        amount: Some(Bounds {
                            min: Some(100_000),
                            max: None,
                        }),
                        ..When::default()
                    }),
                    add: 30,
                },
                Signal {
                    name: "card-velocity".into(),
                    rule: SignalRule::Velocity(VelocityRule {
                        key: VelocityKey::Card,
                        window: Duration::from_secs(600),
                        max: 2,
                    }),
                    add: 50,
                },
            ],
            block_at: Some(90),
        }
    }

    fn facts(amount: i64, merchant_score: Option<u32>) -> PaymentFacts {
        PaymentFacts {
            amount,
            currency: "EUR".into(),
            card_fingerprint: Some("fp".into()),
            risk_score: merchant_score,
            ..PaymentFacts::default()
        }
    }

    #[test]
    fn score_sums_merchant_score_and_matching_signals() {
        let a = rules().assess(&facts(200_000, Some(12)), &Velocity::default());
        assert_eq!(a.score, 42);
        assert_eq!(
            a.signals,
            vec![
                SignalHit {
                    name: "merchant".into(),
                    score: 12
                },
                SignalHit {
                    name: "large-amount".into(),
                    score: 30
                },
            ]
        );
        assert!(!a.blocked);
    }

    #[test]
    fn velocity_fires_once_prior_count_reaches_max_and_blocks() {
        let v = Velocity::default();
        let f = facts(200_000, Some(20));
        v.record(&f);
        assert!(
            !rules()
                .assess(&f, &v)
                .signals
                .iter()
                .any(|s| s.name == "card-velocity")
        );
        v.record(&f);
        let a = rules().assess(&f, &v);
        assert!(a.signals.iter().any(|s| s.name == "card-velocity"));
        assert_eq!(a.score, 100, "20 + 30 + 50 = 100");
        assert!(a.blocked);
    }

    #[test]
    fn score_is_capped_at_100() {
        let a = rules().assess(&facts(200_000, Some(250)), &Velocity::default());
        assert_eq!(a.score, 100);
        assert_eq!(a.signals[0].score, 100);
    }

    #[test]
    fn assess_does_not_record() {
        let v = Velocity::default();
        rules().assess(&facts(1, None), &v);
        assert_eq!(v.tracked_keys(), 0);
    }

    #[test]
    fn no_block_threshold_never_blocks() {
        let r = RiskRules {
            block_at: None,
            ..rules()
        };
        assert!(
            !r.assess(&facts(200_000, Some(100)), &Velocity::default())
                .blocked
        );
    }

    #[test]
    fn block_at_is_inclusive() {
        let r = RiskRules {
            block_at: Some(42),
            ..rules()
        };
        assert!(
            r.assess(&facts(200_000, Some(12)), &Velocity::default())
                .blocked
        );
    }
}
