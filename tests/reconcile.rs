//! Reconciliation: payments whose outcome stayed unknown are settled from
//! the gateway's own records (or its webhook), never by guessing.

mod common;

use std::time::Duration;

use common::{Harness, card_payment, eventually};
use http::Method;
use payroute::domain::clock::Clock;
use serde_json::{Value, json};

async fn start() -> Harness {
    start_reversing_after(Duration::from_secs(15 * 60)).await
}

/// The reconciler runs only when asked (`POST /admin/reconcile`).
async fn start_reversing_after(reverse_after: Duration) -> Harness {
    start_on(reverse_after, Clock::system()).await
}

/// Like [`start_reversing_after`], on `clock`.
async fn start_on(reverse_after: Duration, clock: Clock) -> Harness {
    Harness::start_short_timeouts(|s| {
        s.reconcile.min_age = Duration::ZERO;
        s.reconcile.not_found_grace = Duration::ZERO;
        s.reconcile.interval = Duration::from_secs(3600);
        s.reconcile.reverse_after = reverse_after;
        s.clock = clock;
    })
    .await
}

async fn reconcile(h: &Harness) -> Value {
    let r = h
        .http
        .send(
            Method::POST,
            &format!("{}/admin/reconcile", h.ops),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn clear_faults(h: &Harness) {
    h.http
        .send(
            Method::DELETE,
            &format!("{}/__sandbox/faults", h.sandbox_url),
            &[],
            None,
        )
        .await;
}

#[tokio::test]
async fn an_unknown_stripe_outcome_is_settled_from_the_gateways_records() {
    let h = start().await;
    // No Stripe webhooks: only the reconciler can settle this one.
    h.sandbox
        .state()
        .set_webhook_target(payroute_sandbox::Dialect::Stripe, None);
    h.fault(json!({"dialect": "stripe", "mode": "500_after_charge", "path_contains": "payment_intents"})).await;
    let id = h.processing_payment(6100, "USD", "o-rec-1").await;
    clear_faults(&h).await;
    let report = reconcile(&h).await;
    assert_eq!(report["settled"], 1, "{report}");
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(p["status"], "captured", "{p}");
    assert_eq!(p["amount_captured"], 6100);
    let charge = h.live_charges().await;
    assert_eq!(charge.len(), 1);
    assert_eq!(
        p["provider_reference"], charge[0]["id"],
        "the reference the gateway holds"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_payment_the_gateway_never_processed_is_failed_and_nothing_is_charged() {
    let h = start().await;
    h.fault(json!({"dialect": "stripe", "mode": "500_before_charge", "path_contains": "payment_intents"})).await;
    let id = h.processing_payment(6200, "USD", "o-rec-2").await;
    clear_faults(&h).await;
    reconcile(&h).await;
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(p["status"], "failed", "{p}");
    assert!(h.live_charges().await.is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn an_unknown_adyen_outcome_is_settled_by_its_authorisation_webhook() {
    let h = start().await;
    // Every try times out after the charge: payroute cannot know.
    h.fault(json!({"dialect": "adyen", "mode": "timeout_after_charge", "count": 5}))
        .await;
    let id = h.processing_payment(6300, "EUR", "o-rec-3").await;
    // Adyen has no status API; its AUTHORISATION notification names our id.
    eventually(10, "settled by webhook", || async {
        h.get(&format!("/v1/payments/{id}")).await.json()["status"] == "captured"
    })
    .await;
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(p["gateway"], "adyen_sandbox");
    assert_eq!(h.live_charges().await.len(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn a_capture_whose_answer_was_lost_is_pending_until_the_gateway_confirms_it() {
    let h = start().await;
    h.sandbox
        .state()
        .set_webhook_target(payroute_sandbox::Dialect::Stripe, None);
    let p = h
        .manual_payment(5100, "USD", "4242424242424242", "o-rec-cap")
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    // The capture happens at Stripe, but its answer is a 500.
    h.fault(json!({"dialect": "stripe", "mode": "500_after_charge", "path_contains": "capture"}))
        .await;
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    assert_eq!(
        cap.json()["status"],
        "capture_pending",
        "not reported captured before it is known"
    );
    assert_eq!(cap.json()["amount_captured"], 0);
    clear_faults(&h).await;
    let report = reconcile(&h).await;
    assert_eq!(report["settled"], 1, "{report}");
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(
        (p["status"].as_str(), p["amount_captured"].as_i64()),
        (Some("captured"), Some(5100))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_stays_pending_and_is_not_counted() {
    let h = start().await;
    let p = h
        .post(
            "/v1/payments",
            &card_payment(5200, "USD", "4242424242424242", "o-rec-ref"),
            None,
        )
        .await
        .json();
    let id = p["id"].as_str().unwrap().to_string();
    h.fault(
        json!({"dialect": "stripe", "mode": "timeout_after_charge", "path_contains": "refunds"}),
    )
    .await;
    // The refund's events are lost too: otherwise they may settle it before
    // the checks below read it, and the answer would no longer be unknown.
    h.fault(json!({"dialect": "stripe", "mode": "webhook_drop", "event_contains": "refund"}))
        .await;
    // A pending refund still holds its amount: no second refund past the captured total.
    h.pending_refund_holds_its_amount(&id, 2000, 3201).await;
    h.shutdown().await;
}

#[tokio::test]
async fn an_adyen_charge_captured_behind_a_lost_answer_is_refunded_and_the_payment_fails() {
    let clock = Clock::manual_at_system_time();
    let h = start_on(Duration::from_secs(1), clock.clone()).await;
    // Adyen charges and captures (automatic capture), every answer is lost,
    // and its AUTHORISATION notification never arrives.
    h.fault(json!({"dialect": "adyen", "mode": "timeout_after_charge", "count": 5}))
        .await;
    h.fault(json!({"dialect": "adyen", "mode": "webhook_drop", "event_contains": "AUTHORISATION"}))
        .await;
    let id = h.processing_payment(6400, "EUR", "o-rec-adyen-cap").await;
    let charge = || async {
        let ledger = h.ledger().await;
        assert_eq!(ledger.len(), 1, "one charge: {ledger:?}");
        ledger[0].clone()
    };
    assert_eq!(charge().await["amount_captured"], 6400);
    // The cancel by payroute's reference cannot undo a capture; Adyen says
    // so in a TECHNICAL_CANCEL that names the payment's pspReference.
    clock.advance(Duration::from_millis(1100));
    reconcile(&h).await;
    eventually(10, "pspReference learned", || async {
        !h.get(&format!("/v1/payments/{id}")).await.json()["provider_reference"].is_null()
    })
    .await;
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(p["status"], "processing", "{p}");
    // Its authorization still not reported after `reverse_after`: the
    // reconciler reverses it by that reference (Adyen refunds the capture)
    // and the payment fails.
    clock.advance(Duration::from_millis(1100));
    reconcile(&h).await;
    eventually(10, "refunded at the gateway", || async {
        charge().await["amount_refunded"] == 6400
    })
    .await;
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(p["status"], "failed", "{p}");
    assert_eq!(
        p["refunds"],
        json!([]),
        "a reversal is not the merchant's refund"
    );
    assert_eq!(p["provider_reference"], charge().await["id"]);
    h.shutdown().await;
}

/// "Old enough to reconcile" is judged on payroute's clock: a payment
/// younger than `min_age` is left to its in-flight call, however often the
/// reconciler runs, and settled by the first pass once the clock passes it.
#[tokio::test]
async fn a_payment_younger_than_min_age_is_left_alone_until_the_clock_passes_it() {
    let clock = Clock::manual_at_system_time();
    let c = clock.clone();
    let h = Harness::start_short_timeouts(move |s| {
        s.reconcile.min_age = Duration::from_secs(30);
        s.reconcile.not_found_grace = Duration::ZERO;
        s.reconcile.interval = Duration::from_secs(3600);
        s.clock = c;
    })
    .await;
    h.sandbox
        .state()
        .set_webhook_target(payroute_sandbox::Dialect::Stripe, None);
    h.fault(json!({"dialect": "stripe", "mode": "500_after_charge", "path_contains": "payment_intents"})).await;
    let id = h.processing_payment(6500, "USD", "o-rec-young").await;
    clear_faults(&h).await;
    clock.advance(Duration::from_secs(29));
    let report = reconcile(&h).await;
    assert_eq!(report["examined"], 0, "29 s old: not yet {report}");
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(p["status"], "processing", "{p}");
    clock.advance(Duration::from_secs(2));
    let report = reconcile(&h).await;
    assert_eq!(
        (report["examined"].as_u64(), report["settled"].as_u64()),
        (Some(1), Some(1)),
        "31 s old: {report}"
    );
    let p = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(p["status"], "captured", "{p}");
    h.shutdown().await;
}
