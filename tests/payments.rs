//! End to end: merchant API → routing → real connector → sandbox gateway,
//! over real HTTP on loopback.

mod common;

use common::{Harness, card_payment, metric, stripe_signature, unix_now};
use serde_json::{Value, json};

const APPROVE: &str = "4242424242424242";

fn charge_for<'a>(ledger: &'a [Value], provider_reference: &str) -> &'a Value {
    ledger
        .iter()
        .find(|c| c["id"] == provider_reference)
        .unwrap_or_else(|| panic!("no ledger charge {provider_reference} in {ledger:?}"))
}

#[tokio::test]
async fn eur_cards_route_to_adyen_and_usd_to_stripe_with_the_ledgers_reference() {
    let h = Harness::start().await;
    let eur = h
        .post(
            "/v1/payments",
            &card_payment(1999, "EUR", APPROVE, "o-eur"),
            None,
        )
        .await;
    assert_eq!(eur.status, 201, "{}", eur.text());
    let eur = eur.json();
    assert_eq!(eur["status"], "captured");
    assert_eq!(eur["gateway"], "adyen_sandbox");
    assert_eq!(eur["route"]["rule"], "eu-cards");
    assert_eq!(eur["amount_captured"], 1999);

    let usd = h
        .post(
            "/v1/payments",
            &card_payment(500, "USD", APPROVE, "o-usd"),
            None,
        )
        .await;
    assert_eq!(usd.status, 201, "{}", usd.text());
    let usd = usd.json();
    assert_eq!(usd["gateway"], "stripe_sandbox");
    assert!(
        usd["provider_reference"]
            .as_str()
            .unwrap()
            .starts_with("pi_")
    );

    let ledger = h.ledger().await;
    let a = charge_for(&ledger, eur["provider_reference"].as_str().unwrap());
    assert_eq!(
        (
            a["dialect"].as_str(),
            a["amount"].as_i64(),
            a["currency"].as_str()
        ),
        (Some("adyen"), Some(1999), Some("EUR"))
    );
    let s = charge_for(&ledger, usd["provider_reference"].as_str().unwrap());
    assert_eq!(
        (s["dialect"].as_str(), s["amount"].as_i64()),
        (Some("stripe"), Some(500))
    );

    // What the API returned is what a later read returns.
    let read = h
        .get(&format!("/v1/payments/{}", usd["id"].as_str().unwrap()))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["provider_reference"], usd["provider_reference"]);
    assert_eq!(
        read.json()["route"]["ruleset_version"],
        usd["route"]["ruleset_version"]
    );
    h.shutdown().await;
}

#[tokio::test]
async fn stripe_manual_capture_then_partial_refunds_until_fully_refunded() {
    let h = Harness::start().await;
    let p = h.manual_payment(10_000, "USD", APPROVE, "o-cap").await;
    assert_eq!(p["status"], "authorized");
    let id = p["id"].as_str().unwrap();

    let cap = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            &json!({"amount": 8000}),
            None,
        )
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    assert_eq!(cap.json()["status"], "captured");
    assert_eq!(cap.json()["amount_captured"], 8000);

    let r1 = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            &json!({"amount": 3000}),
            None,
        )
        .await;
    assert_eq!(r1.status, 201, "{}", r1.text());
    assert_eq!(r1.json()["status"], "succeeded");
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(
        (p["status"].as_str(), p["amount_refunded"].as_i64()),
        (Some("partially_refunded"), Some(3000))
    );

    let too_much = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            &json!({"amount": 5001}),
            None,
        )
        .await;
    assert_eq!(too_much.status, 400);
    assert_eq!(too_much.json()["error"]["code"], "amount_too_large");

    let rest = h
        .post(&format!("/v1/payments/{id}/refunds"), &json!({}), None)
        .await;
    assert_eq!(
        rest.json()["amount"],
        5000,
        "no amount refunds the remainder"
    );
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(
        (p["status"].as_str(), p["amount_refunded"].as_i64()),
        (Some("refunded"), Some(8000))
    );
    assert_eq!(p["refunds"].as_array().unwrap().len(), 2);

    let refund_id = rest.json()["id"].as_str().unwrap().to_string();
    let r = h.get(&format!("/v1/refunds/{refund_id}")).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["status"].as_str()),
        (200, Some("succeeded"))
    );

    let charge = charge_for(&h.ledger().await, p["provider_reference"].as_str().unwrap()).clone();
    assert_eq!(
        (
            charge["amount_captured"].as_i64(),
            charge["amount_refunded"].as_i64()
        ),
        (Some(8000), Some(8000))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn adyen_capture_and_refund_stay_pending_until_the_gateway_confirms() {
    let h = Harness::start().await;
    let p = h.manual_payment(4200, "EUR", APPROVE, "o-adyen-cap").await;
    assert_eq!(
        (p["status"].as_str(), p["gateway"].as_str()),
        (Some("authorized"), Some("adyen_sandbox"))
    );
    let id = p["id"].as_str().unwrap();
    let cap = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            &json!({"amount": 4000}),
            None,
        )
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    assert_eq!(
        cap.json()["status"],
        "capture_pending",
        "Adyen confirms captures only by webhook"
    );
    assert_eq!(
        cap.json()["amount_captured"],
        0,
        "no money movement before confirmation"
    );
    let charge = charge_for(&h.ledger().await, p["provider_reference"].as_str().unwrap()).clone();
    assert_eq!(
        charge["amount_captured"], 4000,
        "the gateway did receive the capture"
    );

    // An automatically captured Adyen payment: a partial refund is pending.
    // Its REFUND notification is held back, so "until the gateway confirms"
    // is what the test sees, however fast the sandbox is.
    h.fault(json!({"dialect": "adyen", "mode": "webhook_delay", "latency_ms": 3000, "event_contains": "REFUND"}))
        .await;
    let p = h
        .post(
            "/v1/payments",
            &card_payment(3000, "GBP", APPROVE, "o-adyen-ref"),
            None,
        )
        .await
        .json();
    assert_eq!(p["status"], "captured");
    let id = p["id"].as_str().unwrap();
    // A pending refund still counts against what can be refunded.
    h.pending_refund_holds_its_amount(id, 1000, 2001).await;
    h.shutdown().await;
}

#[tokio::test]
async fn cancel_voids_on_stripe_and_is_pending_on_adyen() {
    let h = Harness::start().await;
    for (currency, expected) in [("USD", "voided"), ("EUR", "void_pending")] {
        let p = h
            .manual_payment(700, currency, APPROVE, &format!("o-cancel-{currency}"))
            .await;
        let id = p["id"].as_str().unwrap();
        let c = h
            .post(&format!("/v1/payments/{id}/cancel"), &json!({}), None)
            .await;
        assert_eq!(c.status, 200, "{}", c.text());
        assert_eq!(c.json()["status"], expected, "{currency}");
        let again = h
            .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
            .await;
        assert_eq!(again.status, 409, "a cancelled payment cannot be captured");
        assert_eq!(again.json()["error"]["code"], "payment_invalid_state");
        let charge =
            charge_for(&h.ledger().await, p["provider_reference"].as_str().unwrap()).clone();
        assert_eq!(
            charge["live"], false,
            "{currency}: the gateway released the authorization"
        );
    }
    h.shutdown().await;
}

#[tokio::test]
async fn each_decline_card_fails_the_payment_with_its_decline_code_on_both_gateways() {
    let h = Harness::start().await;
    for currency in ["USD", "EUR"] {
        for (card, decline) in [
            ("4000000000000002", "generic_decline"),
            ("4000000000009995", "insufficient_funds"),
        ] {
            let r = h
                .post(
                    "/v1/payments",
                    &card_payment(1000, currency, card, "o-decline"),
                    None,
                )
                .await;
            assert_eq!(r.status, 402, "{currency} {card}: {}", r.text());
            let p = r.json();
            assert_eq!(p["status"], "failed");
            assert_eq!(p["failure"]["decline_code"], decline, "{currency}: {p}");
            assert_eq!(p["error"]["decline_code"], decline);
            assert_eq!(
                p["route"]["attempts"].as_array().unwrap().len(),
                1,
                "a hard decline never fails over"
            );
        }
    }
    assert!(
        h.live_charges().await.is_empty(),
        "declines are not charges"
    );
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_payment_attempts_total",
            &[("outcome", "declined")]
        ),
        4.0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_refused_connection_fails_over_to_the_next_gateway_and_is_counted() {
    let dead = common::dead_addr();
    let h = Harness::start_with(|dir, sandbox| {
        let p = dir.join("gateways.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        // Only Adyen's address is dead; Stripe still points at the sandbox.
        let text = text.replace(
            &format!("http://{sandbox}/adyen"),
            &format!("http://{dead}/adyen"),
        );
        std::fs::write(p, text).unwrap();
    })
    .await;
    let r = h
        .post(
            "/v1/payments",
            &card_payment(2500, "EUR", APPROVE, "o-failover"),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let p = r.json();
    assert_eq!(p["gateway"], "stripe_sandbox");
    let attempts = p["route"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (
            attempts[0]["gateway"].as_str(),
            attempts[0]["outcome"].as_str()
        ),
        (Some("adyen_sandbox"), Some("unavailable"))
    );
    assert_eq!(
        (
            attempts[1]["gateway"].as_str(),
            attempts[1]["outcome"].as_str()
        ),
        (Some("stripe_sandbox"), Some("approved"))
    );
    let stored = h
        .get(&format!("/v1/payments/{}", p["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(
        stored["route"]["attempts"].as_array().unwrap().len(),
        2,
        "both attempts recorded"
    );
    assert_eq!(h.live_charges().await.len(), 1);
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_failovers_total",
            &[
                ("from", "adyen_sandbox"),
                ("to", "stripe_sandbox"),
                ("reason", "unavailable")
            ]
        ),
        1.0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn payments_are_found_by_the_merchants_reference() {
    let h = Harness::start().await;
    let a = h
        .post(
            "/v1/payments",
            &card_payment(100, "USD", APPROVE, "order-77"),
            None,
        )
        .await
        .json();
    h.post(
        "/v1/payments",
        &card_payment(100, "USD", APPROVE, "order-78"),
        None,
    )
    .await;
    let found = h.get("/v1/payments?reference=order-77").await;
    assert_eq!(found.status, 200);
    let data = found.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], a["id"]);
    let none = h.get("/v1/payments?reference=nope").await.json();
    assert!(none["data"].as_array().unwrap().is_empty());
    let missing = h.get("/v1/payments").await;
    assert_eq!(missing.status, 400);
    h.shutdown().await;
}

#[tokio::test]
async fn a_risk_score_at_the_threshold_is_refused_before_any_gateway_call() {
    let h = Harness::start().await;
    let mut body = card_payment(100, "USD", APPROVE, "o-risky");
    body["risk_score"] = json!(95);
    let r = h.post("/v1/payments", &body, None).await;
    assert_eq!(r.status, 402, "{}", r.text());
    assert_eq!(r.json()["failure"]["code"], "risk_blocked");
    assert!(r.json()["route"]["attempts"].as_array().unwrap().is_empty());
    assert!(h.ledger().await.is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn gateway_tokens_route_only_to_gateways_that_have_one() {
    let h = Harness::start().await;
    // USD prefers Stripe, but only Adyen has a token.
    let body = json!({"amount": 900, "currency": "USD", "reference": "o-tok",
        "customer": {"id": "cus_42"},
        "payment_method": {"type": "gateway_token", "tokens": {"adyen_sandbox": "8415000000000001"}}});
    let r = h.post("/v1/payments", &body, None).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["gateway"], "adyen_sandbox");
    h.shutdown().await;
}

#[tokio::test]
async fn capture_and_cancel_answer_the_payment_as_get_shows_it() {
    let h = Harness::start().await;
    let same_shape = |answer: &Value, read: &Value| {
        assert_eq!(answer["object"], "payment", "{answer}");
        assert_eq!(answer["disputes"], json!([]), "{answer}");
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(answer), keys(read));
        assert_eq!(
            (&answer["id"], &answer["status"]),
            (&read["id"], &read["status"])
        );
    };
    let p = h.manual_payment(900, "USD", APPROVE, "o-shape-cap").await;
    let id = p["id"].as_str().unwrap();
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    same_shape(
        &cap.json(),
        &h.get(&format!("/v1/payments/{id}")).await.json(),
    );

    let p = h
        .manual_payment(900, "USD", APPROVE, "o-shape-cancel")
        .await;
    let id = p["id"].as_str().unwrap();
    let cancel = h
        .post(&format!("/v1/payments/{id}/cancel"), &json!({}), None)
        .await;
    assert_eq!(cancel.status, 200, "{}", cancel.text());
    same_shape(
        &cancel.json(),
        &h.get(&format!("/v1/payments/{id}")).await.json(),
    );
    h.shutdown().await;
}

/// The SQLite writer's count of committed units of work.
async fn units(h: &Harness) -> f64 {
    metric(&h.metrics().await, "payroute_store_units_total", &[])
}

/// A harness in which nothing but the test's own calls writes: no merchant
/// events and no gateway webhooks. `None` where the store does not count
/// its units (only SQLite's writer does).
async fn quiet_harness() -> Option<Harness> {
    let h = Harness::start_with(|dir, _| {
        let p = dir.join("merchants.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("webhook_url:"))
            .collect();
        std::fs::write(&p, kept.join("\n")).unwrap();
    })
    .await;
    if !h.store_url.starts_with("sqlite") {
        h.shutdown().await;
        return None;
    }
    for dialect in [
        payroute_sandbox::Dialect::Stripe,
        payroute_sandbox::Dialect::Adyen,
    ] {
        h.sandbox.state().set_webhook_target(dialect, None);
    }
    Some(h)
}

#[tokio::test]
async fn a_payment_and_its_capture_each_commit_two_units_and_a_refused_one_none() {
    let Some(h) = quiet_harness().await else {
        return;
    };
    let before = units(&h).await;
    let mut body = card_payment(5000, "USD", APPROVE, "o-units");
    body["capture"] = json!("manual");
    let created = h.post("/v1/payments", &body, Some("units-1")).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let after_create = units(&h).await;
    assert_eq!(after_create - before, 2.0, "units for one create");

    let id = created.json()["id"].as_str().unwrap().to_owned();
    let cap = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            &json!({}),
            Some("units-2"),
        )
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    let after_capture = units(&h).await;
    assert_eq!(after_capture - after_create, 2.0, "units for one capture");

    let bad = h
        .post(
            "/v1/payments",
            &card_payment(5000, "XXX", APPROVE, "o-bad"),
            Some("units-3"),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(units(&h).await, after_capture, "units for a refused create");
    h.shutdown().await;
}

#[tokio::test]
async fn a_gateway_event_costs_one_unit_to_store_and_one_to_apply() {
    let Some(h) = quiet_harness().await else {
        return;
    };
    let p = h
        .post(
            "/v1/payments",
            &card_payment(500, "USD", APPROVE, "o-wh-units"),
            None,
        )
        .await
        .json();
    assert_eq!(p["status"], "captured");
    let before = units(&h).await;
    let body = serde_json::to_string(&json!({
        "id": "evt_units", "object": "event", "created": unix_now(), "type": "payment_intent.payment_failed",
        "data": {"object": {"id": p["provider_reference"], "object": "payment_intent", "amount": 500,
                 "currency": "usd", "status": "requires_payment_method", "metadata": {}}}
    }))
    .unwrap();
    let sig = stripe_signature("whsec_sandbox_secret", unix_now(), &body);
    let r = h
        .http
        .send(
            http::Method::POST,
            &format!("{}/webhooks/stripe_sandbox", h.api),
            &[("stripe-signature", &sig)],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Stale (a captured payment cannot fail), so applying it only settles
    // the event: one unit, after the one that stored it.
    h.wait_applied_with_note("evt_units", "stale").await;
    let spent = units(&h).await - before;
    if spent != 2.0 {
        // Once seen under CI load, not reproduced since: say who else wrote.
        let mut seen = Vec::new();
        for status in ["received", "applied", "orphan", "ignored"] {
            seen.push((status, h.events(status).await));
        }
        panic!("{spent} units for one event; stored events: {seen:?}");
    }
    h.shutdown().await;
}
