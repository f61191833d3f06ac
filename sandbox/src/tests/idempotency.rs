//! Gateway-side idempotency in both dialects.

use std::time::Duration;

use super::super::{FaultMode, FaultRule, FaultScope};
use super::*;

#[tokio::test]
async fn stripe_replays_the_first_result_without_a_second_charge() {
    let gw = gateway().await;
    let pm = stripe_card(gw.addr, "4242424242424242").await;
    let body = format!("amount=700&currency=eur&payment_method={pm}&confirm=true");
    let first = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("key-1"))
        .await
        .unwrap();
    let second = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("key-1"))
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json, second.json);
    assert_eq!(gw.state().ledger().len(), 1);
    assert_eq!(
        gw.state().ledger()[0].idempotency_key.as_deref(),
        Some("key-1")
    );
}

#[tokio::test]
async fn stripe_replays_a_402_decline() {
    let gw = gateway().await;
    let pm = stripe_card(gw.addr, "4000000000000002").await;
    let body = format!("amount=700&currency=eur&payment_method={pm}&confirm=true");
    let first = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("k402"))
        .await
        .unwrap();
    let second = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("k402"))
        .await
        .unwrap();
    assert_eq!((first.status, second.status), (402, 402));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn stripe_same_key_other_parameters_or_path_is_idempotency_error() {
    let gw = gateway().await;
    stripe(
        gw.addr,
        "POST",
        "/v1/payment_intents",
        "amount=100&currency=eur",
        Some("k"),
    )
    .await
    .unwrap();
    let other = stripe(
        gw.addr,
        "POST",
        "/v1/payment_intents",
        "amount=200&currency=eur",
        Some("k"),
    )
    .await
    .unwrap();
    assert_eq!(other.status, 400);
    assert_eq!(other.json["error"]["type"], "idempotency_error");
    let path = stripe(
        gw.addr,
        "POST",
        "/v1/refunds",
        "amount=100&currency=eur",
        Some("k"),
    )
    .await
    .unwrap();
    assert_eq!(path.status, 400);
    assert_eq!(path.json["error"]["type"], "idempotency_error");
    let reordered = stripe(
        gw.addr,
        "POST",
        "/v1/payment_intents",
        "currency=eur&amount=100",
        Some("k"),
    )
    .await
    .unwrap();
    assert_eq!(reordered.status, 200, "parameter order does not matter");
}

#[tokio::test]
async fn stripe_validation_failures_are_not_stored() {
    let gw = gateway().await;
    let bad = stripe(
        gw.addr,
        "POST",
        "/v1/payment_intents",
        "currency=eur",
        Some("kv"),
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
    let good = stripe(
        gw.addr,
        "POST",
        "/v1/payment_intents",
        "amount=5&currency=eur",
        Some("kv"),
    )
    .await
    .unwrap();
    assert_eq!(good.status, 200);
}

#[tokio::test]
async fn stripe_same_key_while_in_flight_is_409() {
    let gw = gateway().await;
    gw.state()
        .add_fault(
            FaultRule::new(FaultScope::Stripe, FaultMode::Latency)
                .latency_ms(400)
                .count(1),
        )
        .unwrap();
    let addr = gw.addr;
    let slow = tokio::spawn(async move {
        stripe(
            addr,
            "POST",
            "/v1/payment_intents",
            "amount=5&currency=eur",
            Some("busy"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let clash = stripe(
        addr,
        "POST",
        "/v1/payment_intents",
        "amount=5&currency=eur",
        Some("busy"),
    )
    .await
    .unwrap();
    assert_eq!(clash.status, 409);
    assert_eq!(clash.json["error"]["code"], "idempotency_key_in_use");
    assert_eq!(clash.json["error"]["type"], "invalid_request_error");
    assert_eq!(slow.await.unwrap().unwrap().status, 200);
    let after = stripe(
        addr,
        "POST",
        "/v1/payment_intents",
        "amount=5&currency=eur",
        Some("busy"),
    )
    .await
    .unwrap();
    assert_eq!(after.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn stripe_keys_are_scoped_per_api_key() {
    let gw = gateway_with(SandboxConfig::default()).await;
    let call = |key: &'static str| {
        let auth = format!("Bearer {key}");
        async move {
            send(
                gw.addr,
                "POST",
                "/stripe/v1/payment_intents",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("idempotency-key", "shared"),
                ],
                "amount=5&currency=eur",
            )
            .await
            .unwrap()
        }
    };
    let a = call("sk_test_account_a").await;
    let b = call("sk_test_account_b").await;
    assert_eq!(b.header("idempotent-replayed"), None);
    assert_ne!(a.json["id"], b.json["id"]);
}

#[tokio::test]
async fn adyen_replays_same_body_and_echoes_the_key() {
    let gw = gateway().await;
    let body = adyen_payment("4242424242424242", false);
    let first = adyen(gw.addr, "/payments", &body, Some("ady-1"))
        .await
        .unwrap();
    let second = adyen(gw.addr, "/payments", &body, Some("ady-1"))
        .await
        .unwrap();
    assert_eq!(first.json, second.json);
    assert_eq!(second.header("idempotency-key"), Some("ady-1"));
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn adyen_same_key_other_body_is_422_704() {
    let gw = gateway().await;
    adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        Some("ady-2"),
    )
    .await
    .unwrap();
    let other = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("5555555555554444", false),
        Some("ady-2"),
    )
    .await
    .unwrap();
    assert_eq!(other.status, 422);
    assert_eq!(other.json["errorCode"], "704");
    assert_eq!(other.header("transient-error"), None);
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn adyen_same_key_in_flight_is_422_704_transient() {
    let gw = gateway().await;
    gw.state()
        .add_fault(
            FaultRule::new(FaultScope::Adyen, FaultMode::Latency)
                .latency_ms(400)
                .count(1),
        )
        .unwrap();
    let addr = gw.addr;
    let body = adyen_payment("4242424242424242", false);
    let slow = {
        let body = body.clone();
        tokio::spawn(async move { adyen(addr, "/payments", &body, Some("ady-3")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let clash = adyen(addr, "/payments", &body, Some("ady-3"))
        .await
        .unwrap();
    assert_eq!(clash.status, 422);
    assert_eq!(clash.json["errorCode"], "704");
    assert_eq!(clash.header("transient-error"), Some("true"));
    assert_eq!(slow.await.unwrap().unwrap().status, 200);
}

#[tokio::test]
async fn adyen_keys_longer_than_64_are_refused() {
    let gw = gateway().await;
    let long = "k".repeat(65);
    let resp = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        Some(&long),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json["errorType"], "validation");
    assert!(gw.state().ledger().is_empty());
}
