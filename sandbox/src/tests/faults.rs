//! Each fault mode's observable effect on the client, the ledger and the
//! idempotency cache, plus the admin endpoints over HTTP.

use std::time::{Duration, Instant};

use super::super::{FaultMode, FaultRule, FaultScope};
use super::*;

fn once(dialect: FaultScope, mode: FaultMode) -> FaultRule {
    FaultRule::new(dialect, mode).count(1)
}

#[tokio::test]
async fn latency_delays_a_normal_answer() {
    let gw = gateway().await;
    gw.state()
        .add_fault(once(FaultScope::Any, FaultMode::Latency).latency_ms(300))
        .unwrap();
    let started = Instant::now();
    let resp = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.json["resultCode"], "Authorised");
}

#[tokio::test]
async fn latency_range_sleeps_within_the_bounds_and_varies() {
    let gw = gateway().await;
    let rule = FaultRule::new(FaultScope::Stripe, FaultMode::Latency)
        .latency_ms(100)
        .latency_ms_max(400)
        .path_contains("/payment_intents/");
    gw.state().add_fault(rule.clone()).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let resp = stripe(gw.addr, "GET", "/v1/payment_intents/pi_x", "", None)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(resp.status, 404, "the normal answer follows the sleep");
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1400), "{elapsed:?}");
    }
    let draws: Vec<Duration> = (0..200).map(|_| gw.state().latency_of(&rule)).collect();
    assert!(draws.iter().all(|d| (100..=400).contains(&d.as_millis())));
    assert!(draws.iter().any(|d| d.as_millis() < 200));
    assert!(draws.iter().any(|d| d.as_millis() > 300));
    let fixed = rule.clone().latency_ms_max(100);
    assert_eq!(gw.state().latency_of(&fixed), Duration::from_millis(100));
}

#[tokio::test]
async fn timeout_after_charge_records_then_never_answers_and_retry_replays() {
    let gw = gateway().await;
    gw.state()
        .add_fault(once(FaultScope::Stripe, FaultMode::TimeoutAfterCharge))
        .unwrap();
    let pm = stripe_card(gw.addr, "4242424242424242").await;
    let body = format!("amount=900&currency=eur&payment_method={pm}&confirm=true");
    let hung = tokio::time::timeout(
        Duration::from_millis(400),
        stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("t-1")),
    )
    .await;
    assert!(hung.is_err(), "the client must time out");
    assert_eq!(gw.state().live_charges().len(), 1, "the charge happened");
    let retry = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("t-1"))
        .await
        .unwrap();
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json["id"], gw.state().ledger()[0].id.as_str());
    assert_eq!(gw.state().live_charges().len(), 1, "no second charge");
}

#[tokio::test]
async fn reset_after_charge_records_then_drops_the_connection() {
    let gw = gateway().await;
    gw.state()
        .add_fault(once(FaultScope::Adyen, FaultMode::ResetAfterCharge))
        .unwrap();
    let body = adyen_payment("4242424242424242", false);
    let reset = adyen(gw.addr, "/payments", &body, Some("r-1")).await;
    assert!(reset.is_err(), "expected a transport error, got {reset:?}");
    assert_eq!(gw.state().live_charges().len(), 1);
    let retry = adyen(gw.addr, "/payments", &body, Some("r-1"))
        .await
        .unwrap();
    assert_eq!(retry.json["resultCode"], "Authorised");
    assert_eq!(
        retry.json["pspReference"],
        gw.state().ledger()[0].id.as_str()
    );
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn stripe_500_after_charge_is_stored_and_replayed_as_500() {
    let gw = gateway().await;
    gw.state()
        .add_fault(once(FaultScope::Stripe, FaultMode::Error500AfterCharge))
        .unwrap();
    let pm = stripe_card(gw.addr, "4242424242424242").await;
    let body = format!("amount=900&currency=eur&payment_method={pm}&confirm=true");
    let first = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("s500"))
        .await
        .unwrap();
    assert_eq!(first.status, 500);
    assert_eq!(first.json["error"]["type"], "api_error");
    assert_eq!(gw.state().live_charges().len(), 1, "charged before the 500");
    let retry = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("s500"))
        .await
        .unwrap();
    assert_eq!(retry.status, 500);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn adyen_500_after_charge_is_transient_and_retry_gets_the_real_result() {
    let gw = gateway().await;
    gw.state()
        .add_fault(once(FaultScope::Adyen, FaultMode::Error500AfterCharge))
        .unwrap();
    let body = adyen_payment("4242424242424242", false);
    let first = adyen(gw.addr, "/payments", &body, Some("a500"))
        .await
        .unwrap();
    assert_eq!(first.status, 500);
    assert_eq!(first.header("transient-error"), Some("true"));
    assert_eq!(gw.state().live_charges().len(), 1);
    let retry = adyen(gw.addr, "/payments", &body, Some("a500"))
        .await
        .unwrap();
    assert_eq!(retry.json["resultCode"], "Authorised");
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn before_charge_faults_record_nothing_and_a_retry_charges_once() {
    for (mode, status) in [
        (FaultMode::Error500BeforeCharge, 500),
        (FaultMode::Error503BeforeCharge, 503),
        (FaultMode::RateLimited, 429),
    ] {
        let gw = gateway().await;
        gw.state().add_fault(once(FaultScope::Any, mode)).unwrap();
        let pm = stripe_card(gw.addr, "4242424242424242").await;
        let body = format!("amount=900&currency=eur&payment_method={pm}&confirm=true");
        let first = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("b-1"))
            .await
            .unwrap();
        assert_eq!(first.status, status, "{mode:?}");
        assert!(gw.state().ledger().is_empty(), "{mode:?}");
        let retry = stripe(gw.addr, "POST", "/v1/payment_intents", &body, Some("b-1"))
            .await
            .unwrap();
        assert_eq!(retry.status, 200, "{mode:?}");
        assert_eq!(retry.header("idempotent-replayed"), None);
        assert_eq!(gw.state().live_charges().len(), 1);
    }
}

#[tokio::test]
async fn rate_limit_bodies_follow_each_dialect() {
    let gw = gateway().await;
    gw.state()
        .add_fault(FaultRule::new(FaultScope::Any, FaultMode::RateLimited).count(2))
        .unwrap();
    let s = stripe_charge(gw.addr, "4242424242424242", "", None)
        .await
        .unwrap();
    assert_eq!(s.status, 429);
    assert_eq!(s.json["error"]["type"], "invalid_request_error");
    assert_eq!(s.json["error"]["code"], "rate_limit");
    let a = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    assert_eq!(a.status, 429);
    assert_eq!(a.json["status"], 429);
    let ok = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "the rule expired after two hits");
}

#[tokio::test]
async fn path_rules_fault_modifications_but_not_charges() {
    let gw = gateway().await;
    let auth = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", true),
        None,
    )
    .await
    .unwrap();
    let psp = auth.json["pspReference"].as_str().unwrap();
    gw.state()
        .add_fault(
            once(FaultScope::Adyen, FaultMode::Error503BeforeCharge).path_contains("/captures"),
        )
        .unwrap();
    let capture =
        json!({"amount": {"currency": "EUR", "value": 1500}, "merchantAccount": MERCHANT});
    let failed = adyen(
        gw.addr,
        &format!("/payments/{psp}/captures"),
        &capture,
        None,
    )
    .await
    .unwrap();
    assert_eq!(failed.status, 503);
    assert_eq!(gw.state().ledger()[0].amount_captured, 0);
    let ok = adyen(
        gw.addr,
        &format!("/payments/{psp}/captures"),
        &capture,
        None,
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn admin_endpoints_manage_faults_and_ledger_over_http() {
    let gw = gateway().await;
    let rule = r#"{"dialect":"adyen","mode":"500_before_charge","count":3}"#;
    let added = send(gw.addr, "POST", "/__sandbox/faults", &[], rule)
        .await
        .unwrap();
    assert_eq!(added.status, 201);
    let listed = send(gw.addr, "GET", "/__sandbox/faults", &[], "")
        .await
        .unwrap();
    assert_eq!(listed.json["faults"][0]["count"], 3);
    let bad = send(
        gw.addr,
        "POST",
        "/__sandbox/faults",
        &[],
        r#"{"mode":"429","rate":2}"#,
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
    send(gw.addr, "DELETE", "/__sandbox/faults", &[], "")
        .await
        .unwrap();
    assert!(gw.state().faults().is_empty());

    stripe_charge(gw.addr, "4242424242424242", "", None)
        .await
        .unwrap();
    adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    let all = send(gw.addr, "GET", "/__sandbox/ledger", &[], "")
        .await
        .unwrap();
    assert_eq!(all.json["charges"].as_array().unwrap().len(), 2);
    let only = send(gw.addr, "GET", "/__sandbox/ledger?dialect=stripe", &[], "")
        .await
        .unwrap();
    let charges = only.json["charges"].as_array().unwrap();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["dialect"], "stripe");
    assert_eq!(charges[0]["live"], true);
    assert_eq!(charges[0]["status"], "captured");
    send(gw.addr, "DELETE", "/__sandbox/ledger", &[], "")
        .await
        .unwrap();
    assert!(gw.state().ledger().is_empty());
}

#[tokio::test]
async fn shutdown_completes_even_with_a_hung_request() {
    let gw = gateway().await;
    gw.state()
        .add_fault(once(FaultScope::Adyen, FaultMode::TimeoutAfterCharge))
        .unwrap();
    let addr = gw.addr;
    let hung = tokio::spawn(async move {
        adyen(
            addr,
            "/payments",
            &adyen_payment("4242424242424242", false),
            None,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    tokio::time::timeout(Duration::from_secs(3), gw.shutdown())
        .await
        .expect("graceful shutdown must not wait for the hung request");
    assert!(
        hung.await.unwrap().is_err(),
        "the hung client sees the connection close"
    );
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}
