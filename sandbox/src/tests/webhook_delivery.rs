//! Webhook delivery: queueing until a target exists, retries, batching,
//! counters, shutdown, and each webhook fault mode.

use std::time::{Duration, Instant};

use super::super::{Dialect, FaultMode, FaultRule, FaultScope, WebhookTarget};
use super::receiver::{ADYEN_HMAC_HEX, Receiver, WHSEC, adyen_item_ok, item, stripe_signature_ok};
use super::webhooks::{admin_post, adyen_modify, point_adyen_at, point_stripe_at, settled};
use super::*;

async fn report(gw: &SandboxHandle) -> Value {
    let resp = send(gw.addr, "GET", "/__sandbox/webhooks", &[], "")
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    resp.json
}

async fn stripe_paid(gw: &SandboxHandle) -> String {
    let resp = stripe_charge(gw.addr, "4242424242424242", "", None)
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.json);
    resp.json["id"].as_str().unwrap().to_string()
}

/// An Adyen manual-capture payment plus its capture: AUTHORISATION, CAPTURE.
async fn adyen_auth_and_capture(gw: &SandboxHandle) -> String {
    let auth = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", true),
        None,
    )
    .await
    .unwrap();
    let psp = auth.json["pspReference"].as_str().unwrap().to_string();
    assert_eq!(
        adyen_modify(gw.addr, &psp, "captures", 1500).await.status,
        201
    );
    psp
}

#[tokio::test]
async fn events_wait_in_the_queue_until_a_target_is_set() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    stripe_paid(&gw).await;
    stripe_paid(&gw).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = report(&gw).await;
    assert_eq!(before["queued"], 2);
    assert_eq!(before["targets"]["stripe"], Value::Null);
    assert!(rx.hits().is_empty());
    point_stripe_at(&gw, &rx).await;
    settled(&gw).await;
    assert_eq!(rx.hits().len(), 2);
    let after = report(&gw).await;
    assert_eq!(after["queued"], 0);
    assert_eq!(after["sent"], 2);
    assert_eq!(after["acknowledged"], 2);
    assert_eq!(after["dialects"]["stripe"]["acknowledged"], 2);
    assert_eq!(after["targets"]["stripe"]["url"], rx.url.as_str());
    assert!(
        !after.to_string().contains(WHSEC),
        "secrets are never shown"
    );
}

#[tokio::test]
async fn a_null_url_disables_the_target_and_events_queue_again() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_stripe_at(&gw, &rx).await;
    let off = admin_post(
        gw.addr,
        "/__sandbox/webhooks",
        &json!({"dialect": "stripe", "url": null}),
    )
    .await;
    assert_eq!(off.status, 200);
    assert_eq!(off.json["targets"]["stripe"], Value::Null);
    stripe_paid(&gw).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.hits().is_empty());
    assert_eq!(gw.state().webhook_stats().queued, 1);
    let bad = admin_post(
        gw.addr,
        "/__sandbox/webhooks",
        &json!({"dialect": "adyen", "url": rx.url, "secret": "not-hex"}),
    )
    .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_event_until_acknowledged() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    rx.answer_next(&[500, 503]);
    point_stripe_at(&gw, &rx).await;
    stripe_paid(&gw).await;
    settled(&gw).await;
    let hits = rx.hits();
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    assert!(
        hits.windows(2).all(|w| w[0].body == w[1].body),
        "same event each time"
    );
    assert!(hits.iter().all(|h| stripe_signature_ok(h, WHSEC)));
    let stats = gw.state().webhook_stats();
    assert_eq!((stats.sent, stats.acknowledged, stats.failed), (3, 1, 0));
}

#[tokio::test]
async fn a_delivery_that_never_succeeds_counts_as_failed() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    rx.answer_next(&[500, 500]);
    point_adyen_at(&gw, &rx, json!({"max_attempts": 2})).await;
    adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    settled(&gw).await;
    assert_eq!(rx.hits().len(), 2);
    let stats = gw.state().webhook_stats();
    assert_eq!((stats.sent, stats.acknowledged, stats.failed), (2, 0, 1));
}

#[tokio::test]
async fn adyen_batches_queued_items_when_configured() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    adyen_auth_and_capture(&gw).await;
    adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4000000000000002", false),
        None,
    )
    .await
    .unwrap();
    point_adyen_at(&gw, &rx, json!({"batch_size": 3})).await;
    settled(&gw).await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 1, "one request carries all three");
    let body = hits[0].json();
    let codes: Vec<&str> = (0..3)
        .map(|i| item(&body, i)["eventCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["AUTHORISATION", "CAPTURE", "AUTHORISATION"]);
    assert!((0..3).all(|i| adyen_item_ok(item(&body, i), ADYEN_HMAC_HEX)));
    assert_eq!(gw.state().webhook_stats().acknowledged, 3);
}

#[tokio::test]
async fn webhook_duplicate_sends_the_identical_event_twice() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    let rule = json!({"dialect": "stripe", "mode": "webhook_duplicate", "count": 1});
    assert_eq!(
        admin_post(gw.addr, "/__sandbox/faults", &rule).await.status,
        201
    );
    point_stripe_at(&gw, &rx).await;
    stripe_paid(&gw).await;
    stripe_paid(&gw).await;
    settled(&gw).await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].body, hits[1].body);
    assert_eq!(hits[0].json()["id"], hits[1].json()["id"]);
    assert_ne!(hits[1].json()["id"], hits[2].json()["id"]);
    assert_eq!(gw.state().webhook_stats().acknowledged, 3);
}

#[tokio::test]
async fn webhook_out_of_order_sends_the_event_after_the_next_one() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    gw.state()
        .add_fault(FaultRule::new(FaultScope::Adyen, FaultMode::WebhookOutOfOrder).count(1))
        .unwrap();
    adyen_auth_and_capture(&gw).await;
    point_adyen_at(&gw, &rx, json!({})).await;
    settled(&gw).await;
    assert_eq!(rx.kinds(), ["CAPTURE", "AUTHORISATION"]);
}

#[tokio::test]
async fn webhook_out_of_order_without_a_next_event_sends_after_200_ms() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    gw.state()
        .add_fault(FaultRule::new(FaultScope::Stripe, FaultMode::WebhookOutOfOrder).count(1))
        .unwrap();
    stripe_paid(&gw).await;
    let started = Instant::now();
    point_stripe_at(&gw, &rx).await;
    let hits = rx.wait_hits(1).await;
    assert!(hits[0].at - started >= Duration::from_millis(190));
    settled(&gw).await;
}

#[tokio::test]
async fn webhook_delay_sends_late_while_later_events_go_first() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    let rule = FaultRule::new(FaultScope::Adyen, FaultMode::WebhookDelay)
        .latency_ms(500)
        .event_contains("AUTHORISATION")
        .count(1);
    gw.state().add_fault(rule).unwrap();
    adyen_auth_and_capture(&gw).await;
    let started = Instant::now();
    point_adyen_at(&gw, &rx, json!({})).await;
    rx.wait_hits(1).await;
    assert_eq!(gw.state().webhook_stats().held, 1);
    settled(&gw).await;
    assert_eq!(rx.kinds(), ["CAPTURE", "AUTHORISATION"]);
    assert!(rx.hits()[1].at - started >= Duration::from_millis(500));
}

#[tokio::test]
async fn webhook_drop_never_sends_and_counts_the_event_dropped() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    let rule = json!({"dialect": "adyen", "mode": "webhook_drop", "event_contains": "CAPTURE"});
    assert_eq!(
        admin_post(gw.addr, "/__sandbox/faults", &rule).await.status,
        201
    );
    point_adyen_at(&gw, &rx, json!({})).await;
    adyen_auth_and_capture(&gw).await;
    settled(&gw).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.kinds(), ["AUTHORISATION"]);
    let stats = report(&gw).await;
    assert_eq!(
        (stats["dropped"].as_u64(), stats["acknowledged"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn webhook_faults_leave_api_requests_alone() {
    let gw = gateway().await;
    gw.state()
        .add_fault(FaultRule::new(FaultScope::Any, FaultMode::WebhookDrop))
        .unwrap();
    let resp = stripe_charge(gw.addr, "4242424242424242", "", None)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let refused = admin_post(
        gw.addr,
        "/__sandbox/faults",
        &json!({"mode": "webhook_drop", "path_contains": "/v1"}),
    )
    .await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn shutdown_stops_a_sender_that_is_still_retrying() {
    let gw = gateway().await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", closed.local_addr().unwrap());
    drop(closed);
    gw.state()
        .set_webhook_target(Dialect::Stripe, Some(WebhookTarget::new(&url, WHSEC)));
    stripe_paid(&gw).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gw.state().webhook_stats().in_flight, 1, "still retrying");
    let stopped = tokio::time::timeout(Duration::from_secs(2), gw.shutdown()).await;
    assert!(stopped.is_ok(), "shutdown must not wait for retries");
}
