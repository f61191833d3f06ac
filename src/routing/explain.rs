//! A [`Decision`] rendered for people (`payroute rules explain`) and for
//! the `/v1/routing/explain` JSON answer. No gateway is called.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Decision, Strategy};

pub fn explain_json(d: &Decision) -> Value {
    let skipped: Vec<Value> = d
        .skipped
        .iter()
        .map(|s| json!({"gateway": s.gateway, "reason": s.reason}))
        .collect();
    let signals: Vec<Value> = d
        .risk
        .signals
        .iter()
        .map(|s| json!({"name": s.name, "score": s.score}))
        .collect();
    json!({
        "rule": d.rule,
        "candidates": d.candidates,
        "skipped": skipped,
        "strategy": strategy_str(d.strategy),
        "cascade_on_soft_decline": d.cascade_on_soft_decline,
        "risk": {
            "score": d.risk.score,
            "signals": signals,
            "block_at": d.risk.block_at,
            "blocked": d.risk.blocked,
        },
        "ruleset_version": d.ruleset_version,
    })
}

fn strategy_str(s: Strategy) -> &'static str {
    match s {
        Strategy::Priority => "priority",
        Strategy::ApprovalRate => "approval_rate",
    }
}

pub fn explain_text(d: &Decision) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ruleset {}", d.ruleset_version);
    match &d.rule {
        Some(rule) => {
            let _ = writeln!(out, "rule: {rule}");
        }
        None => {
            let _ = writeln!(out, "rule: none matched (the payment would be refused)");
        }
    }
    if d.candidates.is_empty() {
        let _ = writeln!(out, "candidates: none");
    } else {
        let _ = writeln!(out, "candidates, in order:");
        for (i, c) in d.candidates.iter().enumerate() {
            let role = if i == 0 { "first" } else { "failover" };
            let _ = writeln!(out, "  {}. {c} ({role})", i + 1);
        }
    }
    for s in &d.skipped {
        let _ = writeln!(out, "skipped: {} ({})", s.gateway, s.reason);
    }
    if d.rule.is_some() {
        let cascade = if d.cascade_on_soft_decline {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(
            out,
            "strategy: {}; soft declines cascade: {cascade}",
            strategy_str(d.strategy)
        );
    }
    write_risk(&mut out, d);
    out
}

fn write_risk(out: &mut String, d: &Decision) {
    let parts: Vec<String> = d
        .risk
        .signals
        .iter()
        .map(|s| format!("{} +{}", s.name, s.score))
        .collect();
    let parts = if parts.is_empty() {
        "no signals".to_string()
    } else {
        parts.join(", ")
    };
    let _ = writeln!(out, "risk score: {}/100 ({parts})", d.risk.score);
    let verdict = match (d.risk.blocked, d.risk.block_at) {
        (true, Some(b)) => {
            format!("BLOCKED (score reaches block_at {b}); no gateway would be called")
        }
        (false, Some(b)) => format!("not blocked (blocks at {b})"),
        (_, None) => "not blocked (no block_at configured)".to_string(),
    };
    let _ = writeln!(out, "{verdict}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::{RiskAssessment, SignalHit};
    use crate::routing::Skipped;

    fn decision() -> Decision {
        Decision {
            rule: Some("eu-cards".into()),
            candidates: vec!["adyen_eu".into(), "stripe_main".into()],
            skipped: vec![Skipped {
                gateway: "other".into(),
                reason: "does not accept currency EUR".into(),
            }],
            strategy: Strategy::Priority,
            cascade_on_soft_decline: true,
            risk: RiskAssessment {
                score: 42,
                signals: vec![
                    SignalHit {
                        name: "merchant".into(),
                        score: 12,
                    },
                    SignalHit {
                        name: "large-amount".into(),
                        score: 30,
                    },
                ],
                block_at: Some(90),
                blocked: false,
            },
            ruleset_version: "abc123def456".into(),
        }
    }

    #[test]
    fn json_carries_rule_candidates_skips_and_signal_parts() {
        let v = explain_json(&decision());
        assert_eq!(v["rule"], "eu-cards");
        assert_eq!(v["candidates"], json!(["adyen_eu", "stripe_main"]));
        assert_eq!(v["skipped"][0]["reason"], "does not accept currency EUR");
        assert_eq!(v["strategy"], "priority");
        assert_eq!(v["risk"]["score"], 42);
        assert_eq!(
            v["risk"]["signals"][1],
            json!({"name": "large-amount", "score": 30})
        );
        assert_eq!(v["risk"]["blocked"], false);
        assert_eq!(v["ruleset_version"], "abc123def456");
    }

    #[test]
    fn text_lists_everything_in_order() {
        let t = explain_text(&decision());
        let first = t.find("1. adyen_eu").unwrap();
        let second = t.find("2. stripe_main").unwrap();
        assert!(first < second);
        assert!(t.contains("rule: eu-cards"));
        assert!(t.contains("skipped: other (does not accept currency EUR)"));
        assert!(t.contains("risk score: 42/100 (merchant +12, large-amount +30)"));
        assert!(t.contains("not blocked (blocks at 90)"));
        assert!(t.contains("soft declines cascade: yes"));
    }

    #[test]
    fn text_says_blocked_and_no_route() {
        let mut d = decision();
        d.rule = None;
        d.candidates.clear();
        d.risk.blocked = true;
        let t = explain_text(&d);
        assert!(t.contains("rule: none matched"));
        assert!(t.contains("BLOCKED"));
    }
}
