//! Idempotency as merchants rely on it: one gateway charge per key whatever
//! the concurrency, replays marked, a different body refused.

mod common;

use common::{Harness, card_payment};
use serde_json::json;

#[tokio::test]
async fn fifty_concurrent_creates_with_one_key_make_exactly_one_charge() {
    let h = std::sync::Arc::new(Harness::start().await);
    let body = card_payment(1234, "USD", "4242424242424242", "o-concurrent");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let h = h.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            h.post("/v1/payments", &body, Some("key-concurrent")).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let (mut ok, mut conflicts) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            201 => {
                ok += 1;
                ids.insert(r.json()["id"].as_str().unwrap().to_string());
            }
            409 => {
                conflicts += 1;
                assert_eq!(r.json()["error"]["code"], "idempotency_key_in_use");
            }
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    assert!(ok >= 1, "one request ran");
    assert_eq!(ok + conflicts, 50);
    assert_eq!(ids.len(), 1, "every success is the same payment");
    let charges = h.live_charges().await;
    assert_eq!(charges.len(), 1, "exactly one gateway charge: {charges:?}");
    // After the dust settles, the key replays the one payment.
    let r = h.post("/v1/payments", &body, Some("key-concurrent")).await;
    assert_eq!(r.status, 201);
    assert!(ids.contains(r.json()["id"].as_str().unwrap()));
    match std::sync::Arc::try_unwrap(h) {
        Ok(h) => h.shutdown().await,
        Err(_) => panic!("harness still shared"),
    }
}

#[tokio::test]
async fn a_repeated_request_is_replayed_and_a_different_body_is_refused() {
    let h = Harness::start().await;
    let body = card_payment(5000, "EUR", "4242424242424242", "o-replay");
    let first = h.post("/v1/payments", &body, Some("key-1")).await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = h.post("/v1/payments", &body, Some("key-1")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        again.json(),
        first.json(),
        "the stored response, byte for byte"
    );

    let mut other = body.clone();
    other["amount"] = json!(5001);
    let clash = h.post("/v1/payments", &other, Some("key-1")).await;
    assert_eq!(clash.status, 422);
    assert_eq!(clash.json()["error"]["code"], "idempotency_key_reused");
    assert_eq!(h.live_charges().await.len(), 1);

    // Keys are per merchant-and-key: a new key is a new payment.
    let second = h.post("/v1/payments", &body, Some("key-2")).await;
    assert_ne!(second.json()["id"], first.json()["id"]);
    assert_eq!(h.live_charges().await.len(), 2);
    h.shutdown().await;
}

#[tokio::test]
async fn a_declined_payment_replays_its_decline_without_calling_the_gateway_again() {
    let h = Harness::start().await;
    let body = card_payment(5000, "USD", "4000000000000002", "o-decl");
    let first = h.post("/v1/payments", &body, Some("key-d")).await;
    assert_eq!(first.status, 402);
    let n = h.ledger().await.len();
    let again = h.post("/v1/payments", &body, Some("key-d")).await;
    assert_eq!(again.status, 402);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(h.ledger().await.len(), n, "no second gateway call");
    h.shutdown().await;
}

#[tokio::test]
async fn a_validation_error_does_not_burn_the_key() {
    let h = Harness::start().await;
    let mut bad = card_payment(5000, "USD", "4242424242424242", "o-fix");
    bad["currency"] = json!("XXX");
    let r = h.post("/v1/payments", &bad, Some("key-fix")).await;
    assert_eq!(r.status, 400);
    let good = card_payment(5000, "USD", "4242424242424242", "o-fix");
    let r = h.post("/v1/payments", &good, Some("key-fix")).await;
    assert_eq!(r.status, 201, "the corrected request runs: {}", r.text());
    h.shutdown().await;
}

#[tokio::test]
async fn refusals_before_any_gateway_call_give_the_key_back() {
    let h = Harness::start().await;
    let replayed = |r: &common::Reply| r.headers.get("idempotent-replayed").is_some();
    let unknown = "/v1/payments/pay_nope/capture";
    for _ in 0..2 {
        let r = h.post(unknown, &json!({}), Some("key-404")).await;
        assert_eq!(r.status, 404);
        assert!(!replayed(&r), "a 404 is not stored");
    }
    let mut body = card_payment(700, "USD", "4242424242424242", "o-state");
    body["capture"] = json!("manual");
    let id = h.post("/v1/payments", &body, None).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cancel = h
        .post(&format!("/v1/payments/{id}/cancel"), &json!({}), None)
        .await;
    assert_eq!(cancel.status, 200);
    let capture = format!("/v1/payments/{id}/capture");
    for _ in 0..2 {
        let r = h.post(&capture, &json!({}), Some("key-409")).await;
        assert_eq!(r.json()["error"]["code"], "payment_invalid_state");
        assert!(!replayed(&r), "a refusal in the wrong state is not stored");
    }
    // A typo is refused before the key is claimed; the fixed body then runs.
    let r = h
        .post(&capture, &json!({"amout": 700}), Some("key-typo"))
        .await;
    assert_eq!(r.json()["error"]["code"], "parameter_unknown");
    let r = h
        .post(&capture, &json!({"amount": 700}), Some("key-typo"))
        .await;
    assert_eq!(r.json()["error"]["code"], "payment_invalid_state");
    h.shutdown().await;
}
