//! Adyen's standalone `POST /cancels` (by merchant reference) over HTTP.

use super::super::{ChargeStatus, OutboxEvent};
use super::*;

fn payment_with_reference(reference: &str, manual_capture: bool) -> Value {
    let mut body = adyen_payment("4242424242424242", manual_capture);
    body["reference"] = json!(reference);
    body
}

async fn pay(addr: SocketAddr, reference: &str, manual_capture: bool) -> String {
    let resp = adyen(
        addr,
        "/payments",
        &payment_with_reference(reference, manual_capture),
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.json["resultCode"], "Authorised", "{}", resp.json);
    resp.json["pspReference"].as_str().unwrap().to_string()
}

fn cancel_body(payment_reference: &str) -> Value {
    json!({
        "merchantAccount": MERCHANT,
        "paymentReference": payment_reference,
        "reference": "cancel-1",
    })
}

fn technical_cancels(events: &[OutboxEvent]) -> Vec<&OutboxEvent> {
    events
        .iter()
        .filter(|e| e.event == "TECHNICAL_CANCEL")
        .collect()
}

#[tokio::test]
async fn cancels_voids_an_authorised_uncaptured_payment_by_its_reference() {
    let gw = gateway().await;
    let psp = pay(gw.addr, "order-7", true).await;
    let resp = adyen(gw.addr, "/cancels", &cancel_body("order-7"), None)
        .await
        .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.json);
    assert_eq!(resp.json["status"], "received");
    assert_eq!(resp.json["merchantAccount"], MERCHANT);
    assert_eq!(resp.json["paymentReference"], "order-7");
    assert_eq!(resp.json["reference"], "cancel-1");
    let cancel_psp = resp.json["pspReference"].as_str().unwrap();
    assert_eq!(cancel_psp.len(), 16);
    assert_ne!(cancel_psp, psp);
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.status, ChargeStatus::Voided);
    assert!(!entry.live);
    let outbox = gw.state().outbox();
    let events = technical_cancels(&outbox);
    assert_eq!(events.len(), 1);
    assert!(events[0].success);
    assert_eq!(events[0].object_id, cancel_psp);
    assert_eq!(events[0].original_reference.as_deref(), Some(psp.as_str()));
    assert_eq!(events[0].merchant_reference.as_deref(), Some("cancel-1"));
    assert_eq!(events[0].amount, 1500);
}

#[tokio::test]
async fn cancels_of_a_captured_payment_fails_by_webhook_and_leaves_the_ledger() {
    let gw = gateway().await;
    let psp = pay(gw.addr, "order-8", false).await;
    let resp = adyen(gw.addr, "/cancels", &cancel_body("order-8"), None)
        .await
        .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.json);
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.status, ChargeStatus::Captured);
    assert!(entry.live);
    let outbox = gw.state().outbox();
    let events = technical_cancels(&outbox);
    assert_eq!(events.len(), 1);
    assert!(!events[0].success);
    assert_eq!(
        events[0].reason.as_deref(),
        Some("Payment already captured")
    );
    assert_eq!(events[0].original_reference.as_deref(), Some(psp.as_str()));
}

#[tokio::test]
async fn cancel_before_authorisation_voids_the_payment_when_it_arrives() {
    let gw = gateway().await;
    let resp = adyen(gw.addr, "/cancels", &cancel_body("order-late"), None)
        .await
        .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.json);
    let cancel_psp = resp.json["pspReference"].as_str().unwrap().to_string();
    assert!(gw.state().outbox().is_empty(), "nothing to cancel yet");
    // Auto-capture: the queued cancel must still win over the capture.
    let psp = pay(gw.addr, "order-late", false).await;
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.status, ChargeStatus::Voided);
    assert_eq!(entry.amount_captured, 0);
    assert!(!entry.live);
    let outbox = gw.state().outbox();
    let codes: Vec<&str> = outbox.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(codes, vec!["AUTHORISATION", "TECHNICAL_CANCEL"]);
    assert!(outbox[1].success);
    assert_eq!(outbox[1].object_id, cancel_psp);
    assert_eq!(outbox[1].original_reference.as_deref(), Some(psp.as_str()));
    // The remembered cancel is used up: a later payment stands.
    pay(gw.addr, "order-late", false).await;
    assert_eq!(gw.state().live_charges().len(), 1);
    assert_eq!(technical_cancels(&gw.state().outbox()).len(), 1);
}

#[tokio::test]
async fn cancels_replays_with_the_same_idempotency_key_without_a_second_cancel() {
    let gw = gateway().await;
    pay(gw.addr, "order-i", true).await;
    let body = cancel_body("order-i");
    let first = adyen(gw.addr, "/cancels", &body, Some("cancel-key-1"))
        .await
        .unwrap();
    assert_eq!(first.status, 201, "{}", first.json);
    assert_eq!(first.header("idempotency-key"), Some("cancel-key-1"));
    let again = adyen(gw.addr, "/cancels", &body, Some("cancel-key-1"))
        .await
        .unwrap();
    assert_eq!(again.status, 201);
    assert_eq!(again.json, first.json, "same pspReference replayed");
    assert_eq!(again.header("idempotency-key"), Some("cancel-key-1"));
    assert_eq!(technical_cancels(&gw.state().outbox()).len(), 1);
    let other = adyen(
        gw.addr,
        "/cancels",
        &cancel_body("order-other"),
        Some("cancel-key-1"),
    )
    .await
    .unwrap();
    assert_eq!(other.status, 422);
    assert_eq!(other.json["errorCode"], "704");
}

#[tokio::test]
async fn cancels_validates_required_fields_key_and_merchant() {
    let gw = gateway().await;
    let cases = [
        (json!({"merchantAccount": MERCHANT}), 422, "14_004"),
        (json!({"paymentReference": "o"}), 422, "14_003"),
        (
            json!({"merchantAccount": MERCHANT, "paymentReference": "o", "amount": 1}),
            422,
            "702",
        ),
        (
            json!({"merchantAccount": MERCHANT, "paymentReference": "o", "reference": "x".repeat(81)}),
            422,
            "702",
        ),
        (
            json!({"merchantAccount": "Other", "paymentReference": "o"}),
            403,
            "901",
        ),
    ];
    for (body, status, code) in cases {
        let resp = adyen(gw.addr, "/cancels", &body, None).await.unwrap();
        assert_eq!(resp.status, status, "{body}: {}", resp.json);
        assert_eq!(resp.json["errorCode"], code, "{body}");
    }
    let unauthenticated = send(
        gw.addr,
        "POST",
        "/adyen/v71/cancels",
        &[("content-type", "application/json")],
        &cancel_body("o").to_string(),
    )
    .await
    .unwrap();
    assert_eq!(unauthenticated.status, 401);
    assert!(gw.state().outbox().is_empty());
    // Refused requests remember nothing: a payment "o" now stands.
    pay(gw.addr, "o", true).await;
    assert_eq!(gw.state().ledger()[0].status, ChargeStatus::Authorized);
    assert!(technical_cancels(&gw.state().outbox()).is_empty());
}

fn cancel_or_refund(events: &[OutboxEvent]) -> Vec<&OutboxEvent> {
    events
        .iter()
        .filter(|e| e.event == "CANCEL_OR_REFUND")
        .collect()
}

#[tokio::test]
async fn reversals_refunds_a_captured_payment_in_full() {
    let gw = gateway().await;
    let psp = pay(gw.addr, "order-rev-1", false).await;
    let body = json!({"merchantAccount": MERCHANT, "reference": "order-rev-1-reversal"});
    let resp = adyen(gw.addr, &format!("/payments/{psp}/reversals"), &body, None)
        .await
        .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.json);
    assert_eq!(resp.json["paymentPspReference"], psp.as_str());
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.amount_refunded, entry.amount_captured);
    assert_eq!(entry.status, ChargeStatus::Refunded);
    let outbox = gw.state().outbox();
    let events = cancel_or_refund(&outbox);
    assert_eq!(events.len(), 1);
    assert!(events[0].success);
    assert_eq!(events[0].modification_action.as_deref(), Some("refund"));
    assert_eq!(events[0].original_reference.as_deref(), Some(psp.as_str()));
}

#[tokio::test]
async fn reversals_cancels_an_uncaptured_authorisation() {
    let gw = gateway().await;
    let psp = pay(gw.addr, "order-rev-2", true).await;
    let body = json!({"merchantAccount": MERCHANT});
    let resp = adyen(gw.addr, &format!("/payments/{psp}/reversals"), &body, None)
        .await
        .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.json);
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.status, ChargeStatus::Voided);
    assert!(!entry.live);
    let outbox = gw.state().outbox();
    let events = cancel_or_refund(&outbox);
    assert_eq!(events[0].modification_action.as_deref(), Some("cancel"));
    assert!(events[0].success);
}
