//! Merchant events: gateway webhooks (sent by the sandbox, signed the real
//! way) applied to payments become signed deliveries to the merchant,
//! retried until the endpoint is back, stopped by a permanent refusal, and
//! redeliverable by hand.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    Harness, Receiver, card_payment, eventually, metric, set_merchant_webhook, stripe_signature,
    unix_now,
};
use http::Method;
use payroute::domain::clock::Clock;
use serde_json::{Value, json};

const STRIPE_SECRET: &str = "whsec_sandbox_secret";
const MERCHANT_SECRET: &str = "whsec_demo";

async fn start(receiver: &Receiver) -> Harness {
    let url = receiver.url.clone();
    Harness::start_opts(
        move |dir, _| set_merchant_webhook(dir, &url),
        |s| {
            s.delivery.base = Duration::from_millis(50);
            s.delivery.max_delay = Duration::from_millis(200);
        },
    )
    .await
}

async fn deliveries(h: &Harness, status: &str) -> Vec<Value> {
    let r = h
        .http
        .send(
            Method::GET,
            &format!("{}/admin/deliveries?status={status}", h.ops),
            &[],
            None,
        )
        .await;
    r.json()["data"].as_array().unwrap().clone()
}

fn verify_payroute_signature(header: &str, body: &[u8]) -> bool {
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    stripe_signature(MERCHANT_SECRET, t, std::str::from_utf8(body).unwrap()) == header
}

#[tokio::test]
async fn a_merchant_endpoint_that_is_down_then_up_receives_every_event_with_a_stable_id() {
    let receiver = Receiver::start().await;
    receiver.set_status(503);
    let h = start(&receiver).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(captured_payment(&h, 1000 + i, &format!("o-wh-{i}")).await);
    }
    h.settle().await;
    eventually(10, "every event tried while down", || async {
        let pending = deliveries(&h, "pending").await;
        pending.len() >= 3 && pending.iter().all(|d| d["attempts"].as_u64().unwrap() >= 1)
    })
    .await;
    assert!(
        deliveries(&h, "delivered").await.is_empty(),
        "nothing delivered while down"
    );
    receiver.set_status(200);
    eventually(10, "every event delivered", || async {
        deliveries(&h, "pending").await.is_empty()
    })
    .await;

    let requests = receiver.requests.lock().unwrap().clone();
    let mut by_event: HashMap<String, Vec<bytes::Bytes>> = HashMap::new();
    for (headers, body) in &requests {
        let sig = headers.get("payroute-signature").unwrap().to_str().unwrap();
        assert!(
            verify_payroute_signature(sig, body),
            "Payroute-Signature verifies"
        );
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            headers.get("payroute-event-id").unwrap().to_str().unwrap(),
            v["id"].as_str().unwrap()
        );
        by_event
            .entry(v["id"].as_str().unwrap().to_string())
            .or_default()
            .push(body.clone());
    }
    for (id, bodies) in &by_event {
        assert!(
            bodies.len() >= 2,
            "{id} was refused while down, then delivered"
        );
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "{id}: every retry sends the same event"
        );
    }
    // Each payment's capture reached the merchant. (Its authorization may
    // have been applied after the capture: then it is stale and not sent.)
    for id in &ids {
        let types: Vec<String> = by_event
            .values()
            .map(|b| serde_json::from_slice::<Value>(&b[0]).unwrap())
            .filter(|v| v["data"]["id"] == id.as_str())
            .map(|v| v["type"].as_str().unwrap().to_string())
            .collect();
        assert!(
            types.contains(&"payment.captured".to_string()),
            "{id}: {types:?}"
        );
    }
    let delivered = deliveries(&h, "delivered").await.len();
    assert_eq!(delivered, by_event.len());
    assert!(deliveries(&h, "failed").await.is_empty());
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_webhook_deliveries_total",
            &[("result", "delivered")]
        ),
        delivered as f64
    );
    assert!(
        metric(
            &m,
            "payroute_webhook_deliveries_total",
            &[("result", "retry")]
        ) >= delivered as f64
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_permanent_refusal_marks_the_delivery_failed_and_it_can_be_redelivered() {
    let receiver = Receiver::start().await;
    receiver.set_status(410);
    let h = start(&receiver).await;
    h.post(
        "/v1/payments",
        &card_payment(777, "USD", "4242424242424242", "o-wh-fail"),
        None,
    )
    .await;
    h.settle().await;
    eventually(10, "deliveries marked failed", || async {
        deliveries(&h, "pending").await.is_empty()
    })
    .await;
    let failed = deliveries(&h, "failed").await;
    assert!(!failed.is_empty());
    assert_eq!(
        receiver.requests.lock().unwrap().len(),
        failed.len(),
        "410 is not retried"
    );
    assert_eq!(failed[0]["last_status"], 410);

    receiver.set_status(200);
    let id = failed[0]["id"].as_str().unwrap();
    let r = h
        .http
        .send(
            Method::POST,
            &format!("{}/admin/deliveries/{id}/redeliver", h.ops),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let n = failed.len();
    eventually(10, "redelivered", || async {
        receiver.requests.lock().unwrap().len() == n + 1
    })
    .await;
    let bodies = receiver.bodies();
    assert_eq!(bodies[n]["id"], failed[0]["event_id"], "the same event id");
    h.shutdown().await;
}

#[tokio::test]
async fn a_late_event_that_would_move_a_payment_backwards_is_recorded_and_ignored() {
    let receiver = Receiver::start().await;
    let h = start(&receiver).await;
    let p = h
        .post(
            "/v1/payments",
            &card_payment(500, "USD", "4242424242424242", "o-late"),
            None,
        )
        .await
        .json();
    assert_eq!(p["status"], "captured");
    h.settle().await;
    let pi = p["provider_reference"].as_str().unwrap();
    let body = serde_json::to_string_pretty(&json!({
        "id": "evt_late_fail", "object": "event", "created": unix_now(), "type": "payment_intent.payment_failed",
        "data": {"object": {"id": pi, "object": "payment_intent", "amount": 500, "currency": "usd", "status": "requires_payment_method",
                 "last_payment_error": {"decline_code": "generic_decline"}, "metadata": {}}}
    }))
    .unwrap();
    let sig = stripe_signature(STRIPE_SECRET, unix_now(), &body);
    let r = h
        .http
        .send(
            Method::POST,
            &format!("{}/webhooks/stripe_sandbox", h.api),
            &[("stripe-signature", &sig)],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200);
    h.wait_applied_with_note("evt_late_fail", "stale").await;
    let now = h
        .get(&format!("/v1/payments/{}", p["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(now["status"], "captured", "never moved backwards");
    // A merchant event is queued in the commit that applies the gateway's:
    // with the event applied, the queue holds all it will ever cause.
    // Once the queue is drained, the receiver has had all of it.
    eventually(10, "the queue drained", || async {
        deliveries(&h, "pending").await.is_empty()
    })
    .await;
    let queued = [
        deliveries(&h, "delivered").await,
        deliveries(&h, "failed").await,
    ]
    .concat();
    assert!(
        queued.iter().all(|d| d["event_type"] != "payment.failed"),
        "a stale event is not queued: {queued:?}"
    );
    assert!(
        !receiver
            .bodies()
            .iter()
            .any(|b| b["type"] == "payment.failed"),
        "a stale event is not forwarded"
    );
    h.shutdown().await;
}

/// What the sandbox's stand-in merchant backend has recorded.
async fn sandbox_merchant_events(h: &Harness) -> Vec<Value> {
    let url = format!("{}/__sandbox/merchant-events", h.sandbox_url);
    let r = h.http.send(Method::GET, &url, &[], None).await;
    r.json()["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_shipped_demo_merchant_gets_signed_events_at_the_sandboxs_receiver() {
    // The shipped webhook_url, pointed at this test's sandbox like the
    // gateways: what `serve --sandbox` does on the default port.
    let h = Harness::start().await;
    let id = captured_payment(&h, 1234, "o-wh-demo").await;
    let captured_for = |e: &Value| {
        e["event"]["type"] == "payment.captured" && e["event"]["data"]["id"] == id.as_str()
    };
    eventually(10, "payment.captured at the sandbox's receiver", || async {
        sandbox_merchant_events(&h).await.iter().any(captured_for)
    })
    .await;
    let events = sandbox_merchant_events(&h).await;
    let e = events.iter().find(|e| captured_for(e)).unwrap();
    let sig = e["headers"]["payroute-signature"].as_str().unwrap();
    let body = e["body"].as_str().unwrap();
    assert!(
        verify_payroute_signature(sig, body.as_bytes()),
        "signed with the demo merchant's secret"
    );
    assert_eq!(e["headers"]["payroute-event-id"], e["event"]["id"]);
    eventually(10, "every delivery acknowledged", || async {
        deliveries(&h, "pending").await.is_empty()
    })
    .await;
    assert!(deliveries(&h, "failed").await.is_empty());
    h.shutdown().await;
}

/// A USD card payment authorized, then captured; its id.
async fn captured_payment(h: &Harness, amount: i64, reference: &str) -> String {
    let p = h
        .manual_payment(amount, "USD", "4242424242424242", reference)
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    id
}

/// Retries fall due on payroute's clock: a failed delivery is not sent
/// again before the clock reaches its backoff, however often the sender
/// looks, and is sent as soon as it does. The clock moves; nothing sleeps.
#[tokio::test]
async fn a_failed_delivery_is_retried_when_the_clock_reaches_its_backoff_and_not_before() {
    let receiver = Receiver::start().await;
    receiver.set_status(503);
    let clock = Clock::manual_at_system_time();
    let (url, c) = (receiver.url.clone(), clock.clone());
    // Backoffs of 60–120 s: far beyond the test, within the gateways'
    // 300 s signature tolerance once the clock has moved past them.
    let h = Harness::start_opts(
        move |dir, _| set_merchant_webhook(dir, &url),
        move |s| {
            s.clock = c;
            s.delivery.base = Duration::from_secs(120);
            s.delivery.max_delay = Duration::from_secs(120);
        },
    )
    .await;
    captured_payment(&h, 700, "o-clock-1").await;
    h.settle().await;
    eventually(10, "the first events refused once", || async {
        let pending = deliveries(&h, "pending").await;
        !pending.is_empty() && pending.iter().all(|d| d["attempts"] == 1)
    })
    .await;
    let refused = deliveries(&h, "pending").await;
    let due = |d: &Value| d["next_attempt_at"].as_i64().unwrap();
    let first_due = refused.iter().map(due).min().unwrap();
    let last_due = refused.iter().map(due).max().unwrap();
    assert!(first_due >= clock.now_unix() + 60, "backoff on the clock");
    let sent_before = receiver.arrived.load(std::sync::atomic::Ordering::SeqCst);

    // One second short of the first retry, the sender delivers a new event:
    // it has looked at the queue on this clock, and left the refused ones.
    receiver.set_status(200);
    clock.set_unix(first_due - 1);
    captured_payment(&h, 800, "o-clock-2").await;
    h.settle().await;
    let refused_ids: Vec<_> = refused.iter().map(|d| d["id"].clone()).collect();
    eventually(10, "the new events delivered", || async {
        let delivered = deliveries(&h, "delivered").await;
        delivered.iter().any(|d| !refused_ids.contains(&d["id"]))
    })
    .await;
    let still = deliveries(&h, "pending").await;
    for id in &refused_ids {
        assert!(
            still.iter().any(|d| &d["id"] == id && d["attempts"] == 1),
            "{id} not retried before its time: {still:?}"
        );
    }

    clock.set_unix(last_due);
    let engine = &h.payroute.as_ref().unwrap().state.engine;
    engine.deliveries_pending.notify_one();
    eventually(10, "the refused events retried and delivered", || async {
        deliveries(&h, "pending").await.is_empty()
    })
    .await;
    let retried = deliveries(&h, "delivered").await;
    for id in &refused_ids {
        let d = retried.iter().find(|d| &d["id"] == id).unwrap();
        assert_eq!(d["attempts"], 2, "{d}");
    }
    let sent = receiver.arrived.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent > sent_before);
    h.shutdown().await;
}
