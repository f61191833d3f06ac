//! The Checkout.com dialect through the shared machinery: idempotency,
//! faults, and signed webhooks per account at a real receiver.

use std::time::Duration;

use super::super::{Dialect, FaultMode, FaultRule, FaultScope};
use super::receiver::{Receiver, checkout_signature_ok};
use super::webhooks::{admin_post, settled};
use super::*;

const SIGNATURE_KEY: &str = "cko_workflow_signature_key_0123";

async fn pay_keyed(addr: SocketAddr, key: &str) -> Resp {
    checkout(
        addr,
        "POST",
        "/payments",
        &checkout_payment("4242424242424242", true),
        Some(key),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn same_key_replays_the_payment_without_a_second_charge() {
    let gw = gateway().await;
    let first = pay_keyed(gw.addr, "idem-1").await;
    let again = pay_keyed(gw.addr, "idem-1").await;
    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(gw.state().ledger().len(), 1);
    let mut other = checkout_payment("4242424242424242", true);
    other["amount"] = json!(999);
    let reused = checkout(gw.addr, "POST", "/payments", &other, Some("idem-1"))
        .await
        .unwrap();
    assert_eq!(reused.status, 422);
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn only_2xx_results_are_stored_so_a_fixed_retry_runs_afresh() {
    let gw = gateway().await;
    let mut bad = checkout_payment("4242424242424242", true);
    bad["currency"] = json!("XXX1");
    let refused = checkout(gw.addr, "POST", "/payments", &bad, Some("idem-2"))
        .await
        .unwrap();
    assert_eq!(refused.status, 422);
    let fixed = pay_keyed(gw.addr, "idem-2").await;
    assert_eq!(fixed.status, 201, "{}", fixed.json);
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn a_key_still_in_flight_gets_409() {
    let gw = gateway().await;
    gw.state()
        .add_fault(
            FaultRule::new(FaultScope::Checkout, FaultMode::Latency)
                .latency_ms(400)
                .count(1),
        )
        .unwrap();
    let addr = gw.addr;
    let slow = tokio::spawn(async move { pay_keyed(addr, "idem-3").await });
    // The slow request holds the key once its latency fault has fired.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !gw.state().faults().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow request never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = pay_keyed(gw.addr, "idem-3").await;
    assert_eq!(second.status, 409);
    assert_eq!(slow.await.unwrap().status, 201);
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn after_charge_500_keeps_the_real_result_for_the_retry() {
    let gw = gateway().await;
    gw.state()
        .add_fault(FaultRule::new(FaultScope::Checkout, FaultMode::Error500AfterCharge).count(1))
        .unwrap();
    let first = pay_keyed(gw.addr, "idem-4").await;
    assert_eq!(first.status, 500);
    assert_eq!(gw.state().ledger().len(), 1, "charged before the 500");
    let retry = pay_keyed(gw.addr, "idem-4").await;
    assert_eq!(retry.status, 201);
    assert_eq!(
        retry.json["id"].as_str(),
        Some(gw.state().ledger()[0].id.as_str())
    );
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn rate_limit_fault_hits_only_the_checkout_charge_call() {
    let gw = gateway().await;
    let rule: FaultRule =
        serde_json::from_str(r#"{"dialect":"checkout","mode":"429","count":1}"#).unwrap();
    gw.state().add_fault(rule).unwrap();
    let ok = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "another dialect is untouched");
    assert_eq!(pay_keyed(gw.addr, "idem-5").await.status, 429);
    assert_eq!(pay_keyed(gw.addr, "idem-5").await.status, 201);
    assert_eq!(gw.state().ledger_for(Dialect::Checkout).len(), 1);
}

#[tokio::test]
async fn action_declined_fault_accepts_then_declines_and_moves_nothing() {
    let gw = gateway().await;
    let auth = checkout(
        gw.addr,
        "POST",
        "/payments",
        &checkout_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    let id = auth.json["id"].as_str().unwrap().to_string();
    let refused = FaultRule::new(FaultScope::Any, FaultMode::ActionDeclined);
    assert!(gw.state().add_fault(refused).is_err(), "checkout only");
    gw.state()
        .add_fault(
            FaultRule::new(FaultScope::Checkout, FaultMode::ActionDeclined)
                .path_contains("/captures")
                .count(1),
        )
        .unwrap();
    let path = format!("/payments/{id}/captures");
    let capture = checkout(gw.addr, "POST", &path, &json!({}), None)
        .await
        .unwrap();
    assert_eq!(capture.status, 202);
    assert_eq!(gw.state().ledger()[0].amount_captured, 0);
    let last = gw.state().outbox().into_iter().last().unwrap();
    assert_eq!(last.event, "payment_capture_declined");
    assert_eq!(last.object.unwrap()["response_code"], "20005");
    let again = checkout(gw.addr, "POST", &path, &json!({}), None)
        .await
        .unwrap();
    assert_eq!(again.status, 202);
    assert_eq!(gw.state().ledger()[0].amount_captured, 2500);
}

#[tokio::test]
async fn webhooks_are_signed_per_account_and_carry_the_payment_data() {
    let gw = gateway_with(SandboxConfig::default()).await;
    let ours = Receiver::start().await;
    let theirs = Receiver::start().await;
    let target = |rx: &Receiver, account: &str| json!({"dialect": "checkout", "account": account, "url": rx.url, "secret": SIGNATURE_KEY});
    assert_eq!(
        admin_post(gw.addr, "/__sandbox/webhooks", &target(&ours, CKO_SK))
            .await
            .status,
        200
    );
    assert_eq!(
        admin_post(gw.addr, "/__sandbox/webhooks", &target(&theirs, "sk_other"))
            .await
            .status,
        200
    );
    let paid = pay_keyed(gw.addr, "idem-6").await;
    let id = paid.json["id"].as_str().unwrap().to_string();
    let refund =
        json!({"amount": 500, "reference": "rf-ref", "metadata": {"payroute_refund_id": "rf_9"}});
    let path = format!("/payments/{id}/refunds");
    assert_eq!(
        checkout(gw.addr, "POST", &path, &refund, None)
            .await
            .unwrap()
            .status,
        202
    );
    settled(&gw).await;
    assert_eq!(
        ours.kinds(),
        ["payment_approved", "payment_captured", "payment_refunded"]
    );
    assert!(
        theirs.hits().is_empty(),
        "another account's endpoint got our events"
    );
    for hit in ours.hits() {
        assert!(checkout_signature_ok(&hit, SIGNATURE_KEY), "{}", hit.json());
        let body = hit.json();
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(body["data"]["id"], id.as_str());
        assert_eq!(body["data"]["currency"], "EUR");
    }
    let refunded = ours.hits()[2].json();
    assert_eq!(refunded["data"]["amount"], 500);
    assert_eq!(refunded["data"]["reference"], "rf-ref");
    assert_eq!(refunded["data"]["metadata"]["payroute_refund_id"], "rf_9");
    assert_eq!(
        refunded["data"]["metadata"]["payroute_payment_id"],
        "pay_ref_42"
    );
    let report = send(gw.addr, "GET", "/__sandbox/webhooks", &[], "")
        .await
        .unwrap();
    assert_eq!(report.json["dialects"]["checkout"]["acknowledged"], 3);
    let ledger = send(
        gw.addr,
        "GET",
        "/__sandbox/ledger?dialect=checkout",
        &[],
        "",
    )
    .await
    .unwrap();
    assert_eq!(ledger.json["charges"][0]["id"], id.as_str());
}
