//! Inbound gateway webhooks over real HTTP: the SDK-made signature vectors,
//! and every way a delivery can be forged, each refused with nothing stored.

mod common;

use common::{Harness, metric};
use http::Method;
use payroute::domain::clock::Clock;
use serde_json::Value;

const STRIPE_VECTORS: &str = include_str!("fixtures/vectors/stripe_webhook_vectors.json");
const ADYEN_VECTORS: &str = include_str!("fixtures/vectors/adyen_hmac_vectors.json");

/// Adds gateways keyed with the vectors' secrets: one Stripe, and one Adyen
/// per HMAC key the vectors use.
fn vector_gateways(dir: &std::path::Path, sandbox: std::net::SocketAddr) {
    let stripe: Value = serde_json::from_str(STRIPE_VECTORS).unwrap();
    let secret = stripe["vectors"][0]["secret"].as_str().unwrap();
    let mut extra = format!(
        "\n  - id: stripe_vec\n    kind: stripe\n    base_url: http://{sandbox}/stripe\n    credentials:\n      api_key: ${{VEC_KEY:-sk_test_x}}\n      webhook_secret: ${{VEC_STRIPE_SECRET:-{secret}}}\n"
    );
    let adyen: Value = serde_json::from_str(ADYEN_VECTORS).unwrap();
    let mut keys: Vec<String> = adyen["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hmac_key_hex"].as_str().unwrap().to_string())
        .collect();
    keys.dedup();
    keys.sort();
    keys.dedup();
    for (i, k) in keys.iter().enumerate() {
        extra.push_str(&format!(
            "\n  - id: adyen_vec{i}\n    kind: adyen\n    base_url: http://{sandbox}/adyen/v71\n    merchant_account: TestMerchant\n    credentials:\n      api_key: ${{VEC_KEY:-k}}\n      hmac_key: ${{VEC_ADYEN_KEY_{i}:-{k}}}\n"
        ));
    }
    let p = dir.join("gateways.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("{text}{extra}")).unwrap();
}

async fn start() -> (Harness, Clock, Vec<String>) {
    let clock = Clock::manual(0);
    let c = clock.clone();
    let h = Harness::start_opts(vector_gateways, move |s| {
        s.clock = c;
    })
    .await;
    let adyen: Value = serde_json::from_str(ADYEN_VECTORS).unwrap();
    let mut keys: Vec<String> = adyen["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hmac_key_hex"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys.dedup();
    (h, clock, keys)
}

/// Distinct stored events (one may move from `received` to `orphan` while
/// the lists are read).
async fn stored_events(h: &Harness) -> usize {
    let mut ids = std::collections::HashSet::new();
    for status in ["received", "applied", "orphan", "ignored"] {
        for e in h.events(status).await {
            ids.insert(e["id"].as_str().unwrap().to_string());
        }
    }
    ids.len()
}

async fn post_webhook(
    h: &Harness,
    gateway: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> common::Reply {
    h.http
        .send(
            Method::POST,
            &format!("{}/webhooks/{gateway}", h.api),
            headers,
            Some(body.to_vec()),
        )
        .await
}

#[tokio::test]
async fn every_stripe_vector_is_judged_as_the_official_sdk_judges_it() {
    let (h, clock, _) = start().await;
    let vectors: Value = serde_json::from_str(STRIPE_VECTORS).unwrap();
    let mut accepted = 0;
    for v in vectors["vectors"].as_array().unwrap() {
        clock.set_unix(v["now"].as_i64().unwrap());
        let before = stored_events(&h).await;
        let header = v["header"].as_str().unwrap();
        let r = post_webhook(
            &h,
            "stripe_vec",
            &[("stripe-signature", header)],
            v["payload"].as_str().unwrap().as_bytes(),
        )
        .await;
        let name = v["name"].as_str().unwrap();
        if v["expected_valid"] == true {
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            accepted += 1;
            assert_eq!(stored_events(&h).await, before + 1, "{name}: stored");
        } else {
            assert!(
                r.status.is_client_error(),
                "{name}: {} {}",
                r.status,
                r.text()
            );
            assert_eq!(
                r.json()["error"]["code"],
                "webhook_verification_failed",
                "{name}"
            );
            assert_eq!(stored_events(&h).await, before, "{name}: nothing stored");
        }
    }
    assert!(accepted >= 1);
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_webhooks_received_total",
            &[("gateway", "stripe_vec"), ("result", "accepted")]
        ),
        accepted as f64
    );
    assert!(
        metric(
            &m,
            "payroute_webhooks_received_total",
            &[("gateway", "stripe_vec"), ("result", "bad_signature")]
        ) >= 1.0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn every_adyen_vector_is_judged_as_the_official_sdk_judges_it() {
    let (h, _clock, keys) = start().await;
    let vectors: Value = serde_json::from_str(ADYEN_VECTORS).unwrap();
    for v in vectors["vectors"].as_array().unwrap() {
        let key = v["hmac_key_hex"].as_str().unwrap();
        let gateway = format!("adyen_vec{}", keys.iter().position(|k| k == key).unwrap());
        let before = stored_events(&h).await;
        let body = v["notification_json"].as_str().unwrap();
        let r = post_webhook(&h, &gateway, &[], body.as_bytes()).await;
        let name = v["name"].as_str().unwrap();
        if v["expected_valid"] == true {
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(r.text(), "[accepted]", "{name}: Adyen's ack");
            assert_eq!(stored_events(&h).await, before + 1, "{name}: stored");
        } else {
            assert_eq!(r.status, 400, "{name}: {}", r.text());
            assert_eq!(stored_events(&h).await, before, "{name}: nothing stored");
        }
    }
    h.shutdown().await;
}

#[tokio::test]
async fn tampered_wrong_secret_expired_and_unsigned_stripe_events_are_refused_and_nothing_is_stored()
 {
    let (h, clock, _) = start().await;
    let vectors: Value = serde_json::from_str(STRIPE_VECTORS).unwrap();
    let good = &vectors["vectors"][0];
    assert_eq!(good["expected_valid"], true);
    let payload = good["payload"].as_str().unwrap();
    let header = good["header"].as_str().unwrap();
    let t = good["timestamp"].as_i64().unwrap();
    // (what, headers, body, verification time)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, String, i64);
    let cases: Vec<Case> = vec![
        (
            "tampered body",
            vec![("stripe-signature", header.to_string())],
            payload.replace("2000", "2001"),
            t + 10,
        ),
        (
            "wrong secret",
            vec![("stripe-signature", format!("t={t},v1={}", "ab".repeat(32)))],
            payload.to_string(),
            t + 10,
        ),
        (
            "expired",
            vec![("stripe-signature", header.to_string())],
            payload.to_string(),
            t + 301,
        ),
        ("missing header", vec![], payload.to_string(), t + 10),
    ];
    for (name, headers, body, now) in cases {
        clock.set_unix(now);
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post_webhook(&h, "stripe_vec", &hdrs, body.as_bytes()).await;
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(stored_events(&h).await, 0, "{name}: nothing stored");
    }
    // The untouched event at exactly the tolerance still passes.
    clock.set_unix(t + 300);
    let r = post_webhook(
        &h,
        "stripe_vec",
        &[("stripe-signature", header)],
        payload.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // And the same event again is acknowledged as a duplicate, stored once.
    let r = post_webhook(
        &h,
        "stripe_vec",
        &[("stripe-signature", header)],
        payload.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(stored_events(&h).await, 1);
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_webhooks_received_total",
            &[("gateway", "stripe_vec"), ("result", "bad_signature")]
        ),
        4.0
    );
    assert_eq!(
        metric(
            &m,
            "payroute_webhooks_received_total",
            &[("gateway", "stripe_vec"), ("result", "duplicate")]
        ),
        1.0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn an_adyen_batch_with_one_forged_item_is_refused_whole() {
    let (h, _clock, keys) = start().await;
    let vectors: Value = serde_json::from_str(ADYEN_VECTORS).unwrap();
    let v = &vectors["vectors"][0];
    let key = v["hmac_key_hex"].as_str().unwrap();
    let gateway = format!("adyen_vec{}", keys.iter().position(|k| k == key).unwrap());
    let mut n: Value = serde_json::from_str(v["notification_json"].as_str().unwrap()).unwrap();
    let good = n["notificationItems"][0].clone();
    let mut forged = good.clone();
    forged["NotificationRequestItem"]["pspReference"] = Value::from("9999999999999999");
    n["notificationItems"] = Value::from(vec![good, forged]);
    let r = post_webhook(&h, &gateway, &[], n.to_string().as_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(stored_events(&h).await, 0);
    let r = post_webhook(&h, "no_such_gateway", &[], b"{}").await;
    assert_eq!(r.status, 404);
    h.shutdown().await;
}
