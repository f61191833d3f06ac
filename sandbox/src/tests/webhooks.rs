//! Webhooks each dialect sends for authorise, capture, refund, cancel,
//! decline and dispute, checked at a real receiver with independent
//! signature code.

use std::time::Duration;

use super::receiver::{ADYEN_HMAC_HEX, Receiver, WHSEC, adyen_item_ok, item, stripe_signature_ok};
use super::*;

pub(super) async fn admin_post(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    send(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        &body.to_string(),
    )
    .await
    .unwrap()
}

pub(super) async fn point_stripe_at(gw: &SandboxHandle, rx: &Receiver) {
    let target = json!({"dialect": "stripe", "url": rx.url, "secret": WHSEC});
    let resp = admin_post(gw.addr, "/__sandbox/webhooks", &target).await;
    assert_eq!(resp.status, 200, "{}", resp.json);
}

pub(super) async fn point_adyen_at(gw: &SandboxHandle, rx: &Receiver, extra: Value) {
    let mut target = json!({"dialect": "adyen", "url": rx.url, "secret": ADYEN_HMAC_HEX});
    for (k, v) in extra.as_object().unwrap() {
        target[k] = v.clone();
    }
    let resp = admin_post(gw.addr, "/__sandbox/webhooks", &target).await;
    assert_eq!(resp.status, 200, "{}", resp.json);
}

pub(super) async fn settled(gw: &SandboxHandle) {
    assert!(
        gw.state().wait_for_webhooks(Duration::from_secs(5)).await,
        "webhooks still pending: {:?}",
        gw.state().webhook_stats()
    );
}

pub(super) async fn adyen_modify(addr: SocketAddr, psp: &str, kind: &str, value: i64) -> Resp {
    let mut body = json!({"merchantAccount": MERCHANT});
    if kind != "cancels" {
        body["amount"] = json!({"currency": "EUR", "value": value});
    }
    adyen(addr, &format!("/payments/{psp}/{kind}"), &body, None)
        .await
        .unwrap()
}

#[tokio::test]
async fn stripe_manual_capture_and_refund_send_signed_events_in_order() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_stripe_at(&gw, &rx).await;
    let auth = stripe_charge(
        gw.addr,
        "4242424242424242",
        "&capture_method=manual&metadata[order_id]=ord_1",
        Some("key-auth"),
    )
    .await
    .unwrap();
    let pi = auth.json["id"].as_str().unwrap().to_string();
    let path = format!("/v1/payment_intents/{pi}/capture");
    let capture = stripe(gw.addr, "POST", &path, "", None).await.unwrap();
    assert_eq!(capture.status, 200, "{}", capture.json);
    let body = format!("payment_intent={pi}&amount=500");
    let refund = stripe(gw.addr, "POST", "/v1/refunds", &body, None)
        .await
        .unwrap();
    assert_eq!(refund.status, 200, "{}", refund.json);
    settled(&gw).await;
    assert_eq!(
        rx.kinds(),
        [
            "payment_intent.amount_capturable_updated",
            "payment_intent.succeeded",
            "refund.created",
            "refund.updated",
            "charge.refunded"
        ]
    );
    let hits = rx.hits();
    for hit in &hits {
        assert!(stripe_signature_ok(hit, WHSEC), "bad signature");
        assert!(!stripe_signature_ok(hit, "whsec_other"));
        assert!(
            hit.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
        assert!(
            hit.body.starts_with(b"{\n  \"id\": \"evt_"),
            "pretty-printed"
        );
    }
    let first = hits[0].json();
    assert_eq!(first["object"], "event");
    assert_eq!(first["api_version"], "2024-06-20");
    assert_eq!(first["livemode"], false);
    assert_eq!(first["request"]["idempotency_key"], "key-auth");
    assert_eq!(first["data"]["object"]["id"], pi.as_str());
    assert_eq!(first["data"]["object"]["status"], "requires_capture");
    assert_eq!(first["data"]["object"]["metadata"]["order_id"], "ord_1");
    assert_eq!(hits[1].json()["data"]["object"]["status"], "succeeded");
    assert_eq!(hits[2].json()["data"]["object"]["status"], "pending");
    let updated = hits[3].json();
    assert_eq!(updated["data"]["object"]["status"], "succeeded");
    assert_eq!(updated["data"]["object"]["amount"], 500);
    assert_eq!(updated["data"]["object"]["payment_intent"], pi.as_str());
    assert_eq!(hits[4].json()["data"]["object"]["object"], "charge");
    let ids: std::collections::HashSet<String> = hits
        .iter()
        .map(|h| h.json()["id"].as_str().unwrap().into())
        .collect();
    assert_eq!(ids.len(), 5, "every event has its own id");
}

#[tokio::test]
async fn stripe_decline_and_cancel_send_failed_and_canceled_events() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_stripe_at(&gw, &rx).await;
    let declined = stripe_charge(gw.addr, "4000000000009995", "", None)
        .await
        .unwrap();
    assert_eq!(declined.status, 402);
    let auth = stripe_charge(gw.addr, "4242424242424242", "&capture_method=manual", None)
        .await
        .unwrap();
    let pi = auth.json["id"].as_str().unwrap();
    let path = format!("/v1/payment_intents/{pi}/cancel");
    assert_eq!(
        stripe(gw.addr, "POST", &path, "", None)
            .await
            .unwrap()
            .status,
        200
    );
    settled(&gw).await;
    assert_eq!(
        rx.kinds(),
        [
            "payment_intent.payment_failed",
            "payment_intent.amount_capturable_updated",
            "payment_intent.canceled"
        ]
    );
    let failed = rx.hits()[0].json();
    let error = &failed["data"]["object"]["last_payment_error"];
    assert_eq!(error["decline_code"], "insufficient_funds");
    assert_eq!(
        failed["data"]["object"]["status"],
        "requires_payment_method"
    );
    assert_eq!(rx.hits()[2].json()["data"]["object"]["status"], "canceled");
}

#[tokio::test]
async fn stripe_dispute_card_is_disputed_after_capture_and_closed_by_admin() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_stripe_at(&gw, &rx).await;
    let paid = stripe_charge(gw.addr, "4000000000000259", "", None)
        .await
        .unwrap();
    assert_eq!(paid.status, 200);
    let pi = paid.json["id"].as_str().unwrap().to_string();
    settled(&gw).await;
    assert_eq!(
        rx.kinds(),
        ["payment_intent.succeeded", "charge.dispute.created"]
    );
    let opened = rx.hits()[1].json();
    let dispute = &opened["data"]["object"];
    assert!(dispute["id"].as_str().unwrap().starts_with("dp_"));
    assert_eq!(dispute["object"], "dispute");
    assert_eq!(dispute["status"], "needs_response");
    assert_eq!(dispute["reason"], "fraudulent");
    assert_eq!(dispute["amount"], 2000);
    assert_eq!(dispute["currency"], "eur");
    assert_eq!(dispute["payment_intent"], pi.as_str());
    assert_eq!(dispute["charge"], paid.json["latest_charge"]);
    assert_eq!(opened["request"]["id"], Value::Null);
    assert_eq!(
        gw.state().ledger()[0].dispute_status.as_deref(),
        Some("needs_response")
    );

    let close = format!("/__sandbox/disputes/{pi}/close");
    let closed = admin_post(gw.addr, &close, &json!({"outcome": "won"})).await;
    assert_eq!(closed.status, 200, "{}", closed.json);
    settled(&gw).await;
    let last = rx.hits().pop().unwrap();
    assert_eq!(last.kind(), "charge.dispute.closed");
    assert_eq!(last.json()["data"]["object"]["status"], "won");
    assert_eq!(last.json()["data"]["object"]["id"], dispute["id"]);
    assert_eq!(
        gw.state().ledger()[0].dispute_status.as_deref(),
        Some("won")
    );
    let again = admin_post(gw.addr, &close, &json!({"outcome": "lost"})).await;
    assert_eq!(again.status, 409);
    let unknown = admin_post(
        gw.addr,
        "/__sandbox/disputes/pi_nope/close",
        &json!({"outcome": "won"}),
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn stripe_manual_capture_of_the_dispute_card_disputes_only_after_capture() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_stripe_at(&gw, &rx).await;
    let auth = stripe_charge(gw.addr, "4000000000000259", "&capture_method=manual", None)
        .await
        .unwrap();
    let pi = auth.json["id"].as_str().unwrap();
    settled(&gw).await;
    assert_eq!(rx.kinds(), ["payment_intent.amount_capturable_updated"]);
    let path = format!("/v1/payment_intents/{pi}/capture");
    stripe(gw.addr, "POST", &path, "", None).await.unwrap();
    settled(&gw).await;
    assert_eq!(
        rx.kinds()[1..],
        ["payment_intent.succeeded", "charge.dispute.created"]
    );
}

#[tokio::test]
async fn adyen_lifecycle_sends_signed_items_with_basic_auth() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_adyen_at(&gw, &rx, json!({"username": "hook", "password": "s3cret"})).await;
    let auth = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", true),
        None,
    )
    .await
    .unwrap();
    let psp = auth.json["pspReference"].as_str().unwrap().to_string();
    let capture = adyen_modify(gw.addr, &psp, "captures", 1500).await;
    let refund = adyen_modify(gw.addr, &psp, "refunds", 400).await;
    let refused = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4000000000000002", true),
        None,
    )
    .await
    .unwrap();
    let second = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("5555555555554444", true),
        None,
    )
    .await
    .unwrap();
    let second_psp = second.json["pspReference"].as_str().unwrap().to_string();
    let cancel = adyen_modify(gw.addr, &second_psp, "cancels", 0).await;
    settled(&gw).await;
    assert_eq!(
        rx.kinds(),
        [
            "AUTHORISATION",
            "CAPTURE",
            "REFUND",
            "AUTHORISATION",
            "AUTHORISATION",
            "CANCELLATION"
        ]
    );
    let expected_auth = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "hook:s3cret")
    );
    let bodies: Vec<Value> = rx.hits().iter().map(|h| h.json()).collect();
    for (hit, body) in rx.hits().iter().zip(&bodies) {
        assert_eq!(hit.header("authorization"), Some(expected_auth.as_str()));
        assert_eq!(body["live"], "false");
        assert_eq!(body["notificationItems"].as_array().unwrap().len(), 1);
        let item = item(body, 0);
        assert!(adyen_item_ok(item, ADYEN_HMAC_HEX), "{item}");
        assert_eq!(item["merchantAccountCode"], MERCHANT);
        assert!(item["eventDate"].as_str().unwrap().contains('T'));
    }
    let authorisation = item(&bodies[0], 0);
    assert_eq!(authorisation["pspReference"], psp.as_str());
    assert_eq!(authorisation["merchantReference"], "order-42");
    assert_eq!(authorisation["success"], "true");
    assert_eq!(authorisation["paymentMethod"], "visa");
    assert_eq!(
        authorisation["operations"],
        json!(["CANCEL", "CAPTURE", "REFUND"])
    );
    assert!(authorisation.get("originalReference").is_none());
    let captured = item(&bodies[1], 0);
    assert_eq!(captured["pspReference"], capture.json["pspReference"]);
    assert_eq!(captured["originalReference"], psp.as_str());
    let refunded = item(&bodies[2], 0);
    assert_eq!(refunded["pspReference"], refund.json["pspReference"]);
    assert_eq!(refunded["amount"], json!({"currency": "EUR", "value": 400}));
    let declined = item(&bodies[3], 0);
    assert_eq!(declined["success"], "false");
    assert_eq!(declined["reason"], "Refused");
    assert_eq!(declined["pspReference"], refused.json["pspReference"]);
    assert_eq!(item(&bodies[4], 0)["paymentMethod"], "mc");
    let cancelled = item(&bodies[5], 0);
    assert_eq!(cancelled["pspReference"], cancel.json["pspReference"]);
    assert_eq!(cancelled["originalReference"], second_psp.as_str());
    assert_eq!(cancelled["success"], "true");
}

#[tokio::test]
async fn adyen_dispute_card_is_charged_back_and_closed_both_ways() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_adyen_at(&gw, &rx, json!({})).await;
    let auto = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4000000000000259", false),
        None,
    )
    .await
    .unwrap();
    let auto_psp = auto.json["pspReference"].as_str().unwrap().to_string();
    let manual = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4000000000000259", true),
        None,
    )
    .await
    .unwrap();
    let manual_psp = manual.json["pspReference"].as_str().unwrap().to_string();
    settled(&gw).await;
    assert_eq!(rx.kinds(), ["AUTHORISATION", "CHARGEBACK", "AUTHORISATION"]);
    adyen_modify(gw.addr, &manual_psp, "captures", 1500).await;
    settled(&gw).await;
    assert_eq!(rx.kinds()[3..], ["CAPTURE", "CHARGEBACK"]);
    let bodies: Vec<Value> = rx.hits().iter().map(|h| h.json()).collect();
    let chargeback = item(&bodies[1], 0).clone();
    assert_eq!(chargeback["originalReference"], auto_psp.as_str());
    assert_ne!(chargeback["pspReference"], auto_psp.as_str());
    assert_eq!(chargeback["amount"]["value"], 1500);
    assert!(adyen_item_ok(&chargeback, ADYEN_HMAC_HEX));
    assert_eq!(
        item(&bodies[4], 0)["originalReference"],
        manual_psp.as_str()
    );

    let won = admin_post(
        gw.addr,
        &format!("/__sandbox/disputes/{auto_psp}/close"),
        &json!({"outcome": "won"}),
    )
    .await;
    assert_eq!(won.status, 200, "{}", won.json);
    let lost = admin_post(
        gw.addr,
        &format!("/__sandbox/disputes/{manual_psp}/close"),
        &json!({"outcome": "lost"}),
    )
    .await;
    assert_eq!(lost.status, 200, "{}", lost.json);
    settled(&gw).await;
    assert_eq!(
        rx.kinds()[5..],
        ["CHARGEBACK_REVERSED", "SECOND_CHARGEBACK"]
    );
    let reversed = item(&rx.hits()[5].json(), 0).clone();
    assert_eq!(reversed["pspReference"], chargeback["pspReference"]);
    assert!(adyen_item_ok(&reversed, ADYEN_HMAC_HEX));
    let statuses: Vec<Option<String>> = gw
        .state()
        .ledger()
        .into_iter()
        .map(|e| e.dispute_status)
        .collect();
    assert_eq!(statuses, [Some("won".into()), Some("lost".into())]);
}

#[tokio::test]
async fn idempotent_replays_send_no_second_webhook() {
    let gw = gateway().await;
    let rx = Receiver::start().await;
    point_stripe_at(&gw, &rx).await;
    point_adyen_at(&gw, &rx, json!({})).await;
    let pm = stripe_card(gw.addr, "4242424242424242").await;
    let body = format!("amount=700&currency=eur&payment_method={pm}&confirm=true");
    for _ in 0..2 {
        let resp = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("once"))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
    }
    let payment = adyen_payment("4242424242424242", false);
    for _ in 0..2 {
        adyen(gw.addr, "/payments", &payment, Some("once-a"))
            .await
            .unwrap();
    }
    settled(&gw).await;
    let mut kinds = rx.kinds();
    kinds.sort();
    assert_eq!(kinds, ["AUTHORISATION", "payment_intent.succeeded"]);
}

#[tokio::test]
async fn an_accounts_own_target_is_listed_with_its_key_redacted_until_a_dialect_wide_one_replaces_it()
 {
    let gw = gateway().await;
    let own = json!({"dialect": "stripe", "account": "sk_test_account_a_1234",
                     "url": "http://127.0.0.1:9/own", "secret": WHSEC});
    let report = admin_post(gw.addr, "/__sandbox/webhooks", &own).await.json;
    assert_eq!(
        report["account_targets"],
        json!([{"dialect": "stripe", "account": "sk_test_****1234", "url": "http://127.0.0.1:9/own"}])
    );
    assert!(!report.to_string().contains("account_a"), "{report}");
    let wide = json!({"dialect": "stripe", "url": "http://127.0.0.1:9/all", "secret": WHSEC});
    let report = admin_post(gw.addr, "/__sandbox/webhooks", &wide).await.json;
    assert_eq!(report["account_targets"], json!([]));
    assert_eq!(report["targets"]["stripe"]["url"], "http://127.0.0.1:9/all");
}
