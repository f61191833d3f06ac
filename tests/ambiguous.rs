//! Ambiguous outcomes never fail over: a timeout, reset or 5xx after the
//! gateway may have charged is asked again with the same idempotency key,
//! and when it stays unknown the merchant hears `processing` (202) while the
//! sandbox ledger holds exactly one charge.

mod common;

use common::{Harness, card_payment, metric};
use serde_json::{Value, json};

/// Shipped rules with short gateway timeouts, so a hung call ends quickly.
async fn start() -> Harness {
    Harness::start_with(|dir, _| {
        let p = dir.join("gateways.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace("timeout_ms: 8000", "timeout_ms: 400")).unwrap();
    })
    .await
}

fn attempts(p: &Value) -> Vec<(String, String)> {
    p["route"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["gateway"].as_str().unwrap().to_string(),
                a["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_timeout_after_the_charge_is_resolved_by_asking_again_with_the_same_key() {
    let h = start().await;
    for (mode, currency, gateway) in [
        ("timeout_after_charge", "USD", "stripe_sandbox"),
        ("reset_after_charge", "USD", "stripe_sandbox"),
        ("timeout_after_charge", "EUR", "adyen_sandbox"),
        ("500_after_charge", "EUR", "adyen_sandbox"),
        ("500_before_charge", "USD", "stripe_sandbox"),
    ] {
        let dialect = if gateway.starts_with("stripe") {
            "stripe"
        } else {
            "adyen"
        };
        h.fault(json!({"dialect": dialect, "mode": mode, "count": 1}))
            .await;
        let before = h.live_charges().await.len();
        let r = h
            .post(
                "/v1/payments",
                &card_payment(1500, currency, "4242424242424242", &format!("o-{mode}")),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{mode}/{currency}: {}", r.text());
        let p = r.json();
        assert_eq!(p["status"], "captured", "{mode}/{currency}");
        assert_eq!(
            attempts(&p),
            vec![(gateway.to_string(), "approved".to_string())],
            "{mode}: one attempt, no failover"
        );
        assert_eq!(
            h.live_charges().await.len(),
            before + 1,
            "{mode}: exactly one charge"
        );
        reset_faults(&h).await;
    }
    h.shutdown().await;
}

async fn reset_faults(h: &Harness) {
    h.http
        .send(
            http::Method::DELETE,
            &format!("{}/__sandbox/faults", h.sandbox_url),
            &[],
            None,
        )
        .await;
}

#[tokio::test]
async fn an_outcome_that_stays_unknown_answers_processing_and_never_tries_another_gateway() {
    let h = start().await;
    // Stripe replays its stored 500 for every retry with the same key.
    h.fault(json!({"dialect": "stripe", "mode": "500_after_charge"}))
        .await;
    let r = h
        .post(
            "/v1/payments",
            &card_payment(2500, "USD", "4242424242424242", "o-unknown"),
            Some("k-unknown"),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let p = r.json();
    assert_eq!(p["status"], "processing");
    assert_eq!(
        attempts(&p),
        vec![("stripe_sandbox".to_string(), "ambiguous".to_string())],
        "Adyen was never called"
    );
    let charges = h.live_charges().await;
    assert_eq!(charges.len(), 1, "the one charge Stripe made");
    assert_eq!(charges[0]["dialect"], "stripe");
    // The merchant's retry with the same key gets the same answer, no new call.
    let again = h
        .post(
            "/v1/payments",
            &card_payment(2500, "USD", "4242424242424242", "o-unknown"),
            Some("k-unknown"),
        )
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["id"], p["id"]);
    assert_eq!(h.live_charges().await.len(), 1);
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_payment_attempts_total",
            &[("outcome", "ambiguous")]
        ),
        1.0
    );
    assert_eq!(metric(&m, "payroute_failovers_total", &[]), 0.0);
    h.shutdown().await;
}

#[tokio::test]
async fn a_rate_limited_gateway_did_not_charge_so_the_payment_fails_over() {
    let h = start().await;
    h.fault(json!({"dialect": "stripe", "mode": "429"})).await;
    let r = h
        .post(
            "/v1/payments",
            &card_payment(800, "USD", "4242424242424242", "o-429"),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let p = r.json();
    assert_eq!(
        attempts(&p),
        vec![
            ("stripe_sandbox".to_string(), "unavailable".to_string()),
            ("adyen_sandbox".to_string(), "approved".to_string())
        ]
    );
    assert_eq!(h.live_charges().await.len(), 1);
    h.shutdown().await;
}
