//! Merchant events: a gateway event applied to a payment becomes a signed
//! delivery to the merchant, retried until the endpoint is back, stopped by
//! a permanent refusal, and redeliverable by hand.

mod common;

use std::time::Duration;

use common::{
    Harness, Receiver, card_payment, eventually, metric, set_merchant_webhook, stripe_signature,
    unix_now,
};
use http::Method;
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

/// What Stripe would send once the PaymentIntent succeeded.
async fn send_succeeded(h: &Harness, pi: &str, amount: i64, event_id: &str) {
    let body = serde_json::to_string_pretty(&json!({
        "id": event_id, "object": "event", "api_version": "2024-06-20", "created": unix_now(),
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": pi, "object": "payment_intent", "amount": amount, "amount_received": amount,
                            "currency": "usd", "status": "succeeded", "metadata": {}}}
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
    assert_eq!(r.status, 200, "{}", r.text());
}

fn verify_payroute_signature(header: &str, body: &[u8]) -> bool {
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    let expected = stripe_signature(MERCHANT_SECRET, t, std::str::from_utf8(body).unwrap());
    expected == header
}

#[tokio::test]
async fn a_merchant_endpoint_that_is_down_then_up_receives_every_event_with_a_stable_id() {
    let receiver = Receiver::start().await;
    receiver.set_status(503);
    let h = start(&receiver).await;
    let mut payments = Vec::new();
    for i in 0..3 {
        let mut body = card_payment(1000 + i, "USD", "4242424242424242", &format!("o-wh-{i}"));
        body["capture"] = json!("manual");
        let p = h.post("/v1/payments", &body, None).await.json();
        let cap = h
            .post(
                &format!("/v1/payments/{}/capture", p["id"].as_str().unwrap()),
                &json!({}),
                None,
            )
            .await;
        assert_eq!(cap.status, 200);
        send_succeeded(
            &h,
            p["provider_reference"].as_str().unwrap(),
            1000 + i,
            &format!("evt_test_{i}"),
        )
        .await;
        payments.push(p["id"].as_str().unwrap().to_string());
    }
    // Down: deliveries are tried and refused.
    eventually(10, "failed tries while down", || async {
        receiver.requests.lock().unwrap().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver.set_status(200);
    eventually(10, "every event delivered", || async {
        let body = h
            .http
            .send(
                Method::GET,
                &format!("{}/admin/deliveries?status=delivered", h.ops),
                &[],
                None,
            )
            .await
            .json();
        body["data"].as_array().unwrap().len() == 3
    })
    .await;

    let requests = receiver.requests.lock().unwrap().clone();
    let mut by_event: std::collections::HashMap<String, Vec<bytes::Bytes>> = Default::default();
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
    assert_eq!(by_event.len(), 3, "one merchant event per gateway event");
    assert!(requests.len() > 3, "some were retried");
    for (id, bodies) in &by_event {
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "{id}: every retry sends the same event"
        );
        let v: Value = serde_json::from_slice(&bodies[0]).unwrap();
        assert!(id.starts_with("evt_"));
        assert_eq!(v["type"], "payment.captured");
        assert!(payments.contains(&v["data"]["id"].as_str().unwrap().to_string()));
        assert_eq!(v["data"]["status"], "captured");
    }
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_webhook_deliveries_total",
            &[("result", "delivered")]
        ),
        3.0
    );
    assert!(
        metric(
            &m,
            "payroute_webhook_deliveries_total",
            &[("result", "retry")]
        ) >= 3.0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_permanent_refusal_marks_the_delivery_failed_and_it_can_be_redelivered() {
    let receiver = Receiver::start().await;
    receiver.set_status(410);
    let h = start(&receiver).await;
    let mut body = card_payment(777, "USD", "4242424242424242", "o-wh-fail");
    body["capture"] = json!("manual");
    let p = h.post("/v1/payments", &body, None).await.json();
    h.post(
        &format!("/v1/payments/{}/capture", p["id"].as_str().unwrap()),
        &json!({}),
        None,
    )
    .await;
    send_succeeded(
        &h,
        p["provider_reference"].as_str().unwrap(),
        777,
        "evt_test_fail",
    )
    .await;
    let failed_url = format!("{}/admin/deliveries?status=failed", h.ops);
    eventually(10, "delivery marked failed", || async {
        h.http
            .send(Method::GET, &failed_url, &[], None)
            .await
            .json()["data"]
            .as_array()
            .unwrap()
            .len()
            == 1
    })
    .await;
    assert_eq!(
        receiver.requests.lock().unwrap().len(),
        1,
        "410 is not retried"
    );
    let failed = h
        .http
        .send(Method::GET, &failed_url, &[], None)
        .await
        .json();
    let id = failed["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(failed["data"][0]["last_status"], 410);

    receiver.set_status(200);
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
    eventually(10, "redelivered", || async {
        receiver.requests.lock().unwrap().len() == 2
    })
    .await;
    let bodies = receiver.bodies();
    assert_eq!(bodies[0]["id"], bodies[1]["id"], "the same event id");
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
    let pi = p["provider_reference"].as_str().unwrap();
    let body = serde_json::to_string_pretty(&json!({
        "id": "evt_late_auth", "object": "event", "created": unix_now(), "type": "payment_intent.payment_failed",
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
    eventually(5, "event processed", || async {
        let e = h
            .http
            .send(
                Method::GET,
                &format!("{}/admin/events?status=applied", h.ops),
                &[],
                None,
            )
            .await
            .json();
        e["data"].as_array().unwrap().iter().any(|e| {
            e["provider_event_id"] == "evt_late_auth"
                && e["note"].as_str().unwrap_or("").contains("stale")
        })
    })
    .await;
    let now = h
        .get(&format!("/v1/payments/{}", p["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(now["status"], "captured", "never moved backwards");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        receiver.requests.lock().unwrap().is_empty(),
        "a stale event is not forwarded"
    );
    h.shutdown().await;
}
