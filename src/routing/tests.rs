//! Routing decisions over whole rulesets: first match, every `when` key,
//! candidate filtering, weighted splits, and risk.

use std::path::PathBuf;

use super::Strategy;
use super::decide::decide_with_roll;
use crate::domain::facts::{MethodKind, PaymentFacts};
use crate::risk::Velocity;
use crate::routing::Ruleset;

const GATEWAYS: &str = "\
gateways:
  - id: stripe_main
    kind: stripe
    base_url: http://127.0.0.1:4010/stripe
    credentials: {api_key: '${K:-k}'}
  - id: adyen_eu
    kind: adyen
    base_url: http://127.0.0.1:4010/adyen/v71
    merchant_account: Acme
    currencies: [EUR, GBP, USD]
    credentials: {api_key: '${K:-k}'}
  - id: wallets
    kind: stripe
    base_url: http://127.0.0.1:4010/stripe
    methods: [apple_pay, google_pay, card]
    credentials: {api_key: '${K:-k}'}
merchants:
  - id: acme
    api_key_sha256: 5d48f1024f38b44ad9ddc03dc12b2a8287c7ec690065dcef384cb1fd1753626d
  - id: other
    api_key_sha256: 0000000000000000000000000000000000000000000000000000000000000000
";

fn ruleset(rest: &str) -> Ruleset {
    let texts = vec![
        (PathBuf::from("gateways.yaml"), GATEWAYS.to_string()),
        (PathBuf::from("rest.yaml"), rest.to_string()),
    ];
    match crate::config::from_texts(&texts, &|_: &str| None) {
        Ok(rs) => rs,
        Err(e) => panic!("test ruleset refused: {e}"),
    }
}

fn card(amount: i64, currency: &str) -> PaymentFacts {
    PaymentFacts {
        merchant: "acme".into(),
        amount,
        currency: currency.into(),
        method: Some(MethodKind::Card),
        country: Some("DE".into()),
        card_network: Some("visa".into()),
        card_bin: Some("424242".into()),
        card_fingerprint: Some("fp_1".into()),
        ..PaymentFacts::default()
    }
}

fn rule_of(rs: &Ruleset, f: &PaymentFacts) -> Option<String> {
    rs.decide(f, &Velocity::default()).rule
}

#[test]
fn first_matching_route_wins_and_lists_its_gateways_in_order() {
    let rs = ruleset(
        "routes:
  - name: eu-cards
    when: {method: [card], currency: [EUR, GBP]}
    gateways: [adyen_eu, stripe_main]
    cascade_on_soft_decline: true
  - name: eur
    when: {currency: [EUR]}
    gateways: [stripe_main]
  - name: default
    gateways: [stripe_main, adyen_eu]
    strategy: approval_rate
",
    );
    let d = rs.decide(&card(100, "EUR"), &Velocity::default());
    assert_eq!(d.rule.as_deref(), Some("eu-cards"));
    assert_eq!(d.candidates, ["adyen_eu", "stripe_main"]);
    assert!(d.cascade_on_soft_decline);
    assert_eq!(d.ruleset_version, rs.version);
    let d = rs.decide(&card(100, "USD"), &Velocity::default());
    assert_eq!(d.rule.as_deref(), Some("default"));
    assert_eq!(d.candidates, ["stripe_main", "adyen_eu"]);
    assert_eq!(d.strategy, Strategy::ApprovalRate);
}

#[test]
fn every_when_key_selects_its_route() {
    let rs = ruleset(
        "routes:
  - {name: by-method, when: {method: [apple_pay]}, gateways: [wallets]}
  - {name: by-currency, when: {currency: [JPY]}, gateways: [stripe_main]}
  - {name: by-country, when: {country: [FR]}, gateways: [stripe_main]}
  - {name: by-amount, when: {amount: {min: 500000}}, gateways: [stripe_main]}
  - {name: by-merchant, when: {merchant: [other]}, gateways: [stripe_main]}
  - {name: by-network, when: {card_network: [amex]}, gateways: [stripe_main]}
  - {name: by-bin, when: {card_bin: ['5555']}, gateways: [stripe_main]}
  - {name: by-metadata, when: {metadata: {channel: [pos]}}, gateways: [stripe_main]}
  - {name: by-risk, when: {risk: {min: 50}}, gateways: [stripe_main]}
  - {name: fallback, gateways: [stripe_main]}
",
    );
    let base = card(100, "EUR");
    assert_eq!(rule_of(&rs, &base).as_deref(), Some("fallback"));
    let edit = |f: fn(&mut PaymentFacts)| {
        let mut p = base.clone();
        f(&mut p);
        p
    };
    let cases = [
        ("by-method", edit(|p| p.method = Some(MethodKind::ApplePay))),
        ("by-currency", edit(|p| p.currency = "JPY".into())),
        ("by-country", edit(|p| p.country = Some("FR".into()))),
        ("by-amount", edit(|p| p.amount = 500_000)),
        ("by-merchant", edit(|p| p.merchant = "other".into())),
        ("by-network", edit(|p| p.card_network = Some("amex".into()))),
        ("by-bin", edit(|p| p.card_bin = Some("555555".into()))),
        (
            "by-metadata",
            edit(|p| {
                p.metadata.insert("channel".into(), "pos".into());
            }),
        ),
        ("by-risk", edit(|p| p.risk_score = Some(50))),
    ];
    for (want, facts) in cases {
        assert_eq!(rule_of(&rs, &facts).as_deref(), Some(want));
    }
}

#[test]
fn no_matching_route_gives_no_rule_and_no_candidates() {
    let rs =
        ruleset("routes:\n  - {name: eur, when: {currency: [EUR]}, gateways: [stripe_main]}\n");
    let d = rs.decide(&card(100, "USD"), &Velocity::default());
    assert_eq!(d.rule, None);
    assert!(d.candidates.is_empty());
}

#[test]
fn gateways_that_do_not_accept_the_payment_are_skipped_with_reasons() {
    let rs = ruleset("routes:\n  - {name: all, gateways: [wallets, adyen_eu, stripe_main]}\n");
    let sepa = PaymentFacts {
        method: Some(MethodKind::SepaDebit),
        ..card(100, "CHF")
    };
    let d = rs.decide(&sepa, &Velocity::default());
    assert_eq!(d.candidates, ["stripe_main"]);
    let reasons: Vec<(&str, &str)> = d
        .skipped
        .iter()
        .map(|s| (s.gateway.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("wallets", "does not accept method sepa_debit"),
            ("adyen_eu", "does not accept currency CHF")
        ]
    );
}

#[test]
fn gateway_token_payments_only_go_to_gateways_holding_a_token() {
    let rs = ruleset("routes:\n  - {name: all, gateways: [stripe_main, adyen_eu]}\n");
    let token = PaymentFacts {
        method: Some(MethodKind::GatewayToken),
        token_gateways: Some(vec!["adyen_eu".into()]),
        ..card(100, "EUR")
    };
    let d = rs.decide(&token, &Velocity::default());
    assert_eq!(d.candidates, ["adyen_eu"]);
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].gateway, "stripe_main");
    assert!(d.skipped[0].reason.contains("gateway_token"));
    let none = PaymentFacts {
        token_gateways: None,
        ..token
    };
    assert!(rs.decide(&none, &Velocity::default()).candidates.is_empty());
}

#[test]
fn split_roll_picks_by_cumulative_weight_then_fails_over_by_weight() {
    let rs =
        ruleset("routes:\n  - {name: s, split: {stripe_main: 70, adyen_eu: 20, wallets: 10}}\n");
    let f = card(100, "EUR");
    let v = Velocity::default();
    let order = |r: u64| decide_with_roll(&rs, &f, &v, &mut |_| r).candidates;
    assert_eq!(order(0), ["stripe_main", "adyen_eu", "wallets"]);
    assert_eq!(order(69), ["stripe_main", "adyen_eu", "wallets"]);
    assert_eq!(order(70), ["adyen_eu", "stripe_main", "wallets"]);
    assert_eq!(order(89), ["adyen_eu", "stripe_main", "wallets"]);
    assert_eq!(order(90), ["wallets", "stripe_main", "adyen_eu"]);
    assert_eq!(order(99), ["wallets", "stripe_main", "adyen_eu"]);
}

#[test]
fn split_is_weighted_over_many_picks() {
    let rs = ruleset("routes:\n  - {name: s, split: {stripe_main: 80, adyen_eu: 20}}\n");
    let f = card(100, "USD");
    let v = Velocity::default();
    let n = 10_000;
    let stripe_first = (0..n)
        .filter(|_| rs.decide(&f, &v).candidates.first().map(String::as_str) == Some("stripe_main"))
        .count();
    // 80% ± 4 standard deviations (sd = sqrt(10000 * 0.8 * 0.2) = 40).
    assert!(
        (7840..=8160).contains(&stripe_first),
        "stripe first {stripe_first} of {n}"
    );
    assert_eq!(
        rs.decide(&f, &v).candidates.len(),
        2,
        "the other gateway stays as failover"
    );
}

#[test]
fn split_picks_among_eligible_gateways_only() {
    let rs = ruleset("routes:\n  - {name: s, split: {adyen_eu: 99, stripe_main: 1}}\n");
    let chf = card(100, "CHF");
    let d = decide_with_roll(&rs, &chf, &Velocity::default(), &mut |total| {
        assert_eq!(total, 1, "the skipped gateway's weight is not in the draw");
        0
    });
    assert_eq!(d.candidates, ["stripe_main"]);
    assert_eq!(d.skipped[0].gateway, "adyen_eu");
}

#[test]
fn risk_score_drives_route_choice_and_blocking() {
    let rs = ruleset(
        "risk:
  signals:
    - {name: large-amount, when: {amount: {min: 100000}}, add: 30}
    - {name: card-velocity, velocity: {key: card, window: 10m, max: 2}, add: 50}
  block_at: 90
routes:
  - {name: low-risk, when: {risk: {max: 40}}, gateways: [adyen_eu]}
  - {name: default, gateways: [stripe_main]}
",
    );
    let v = Velocity::default();
    let small = PaymentFacts {
        risk_score: Some(10),
        ..card(100, "EUR")
    };
    assert_eq!(rs.decide(&small, &v).rule.as_deref(), Some("low-risk"));
    let large = PaymentFacts {
        risk_score: Some(20),
        ..card(200_000, "EUR")
    };
    let d = rs.decide(&large, &v);
    assert_eq!(d.rule.as_deref(), Some("default"));
    assert_eq!(d.risk.score, 50);
    assert!(!d.risk.blocked);
    v.record(&large);
    v.record(&large);
    let d = rs.decide(&large, &v);
    assert_eq!(d.risk.score, 100);
    assert!(d.risk.blocked);
    let names: Vec<&str> = d.risk.signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["merchant", "large-amount", "card-velocity"]);
}

#[test]
fn decide_never_records_into_velocity() {
    let rs = ruleset("routes:\n  - {name: all, gateways: [stripe_main]}\n");
    let v = Velocity::default();
    for _ in 0..3 {
        rs.decide(&card(100, "EUR"), &v);
    }
    assert_eq!(v.tracked_keys(), 0);
}
