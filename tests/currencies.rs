//! End to end on the currencies whose gateway scale differs from ISO 4217:
//! merchant API → Stripe or Adyen connector → the sandbox's dialect, which
//! reads amounts with its gateway's own table. The ledger must hold the
//! gateway-scaled amount while payroute keeps reporting ISO minor units.

mod common;

use std::path::Path;

use common::{Harness, eventually};
use serde_json::{Value, json};

const APPROVE: &str = "4242424242424242";

/// Routes CLP and IDR to Adyen only, ahead of the shipped routes.
fn route_to_adyen(dir: &Path) {
    let p = dir.join("routes.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let route = "\nroutes:\n  - name: adyen-scaled\n    when: { currency: [CLP, IDR] }\n    gateways: [adyen_sandbox]\n";
    assert!(
        text.contains("\nroutes:\n"),
        "the shipped routes.yaml lists routes"
    );
    std::fs::write(&p, text.replacen("\nroutes:\n", route, 1)).unwrap();
}

async fn status_of(h: &Harness, id: &str) -> Value {
    h.get(&format!("/v1/payments/{id}")).await.json()
}

async fn charge(h: &Harness, provider_reference: &str) -> Value {
    h.ledger()
        .await
        .into_iter()
        .find(|c| c["id"] == provider_reference)
        .unwrap_or_else(|| panic!("no ledger charge {provider_reference}"))
}

/// Authorizes `amount` (ISO minor units) manually, captures it, refunds
/// `refund`, and returns the payment id and provider reference once
/// payroute reports the partial refund.
async fn authorize_capture_refund(
    h: &Harness,
    amount: i64,
    currency: &str,
    refund: i64,
    gateway: &str,
) -> (String, String) {
    let p = h
        .manual_payment(amount, currency, APPROVE, "o-scaled")
        .await;
    assert_eq!(
        (
            p["status"].as_str(),
            p["gateway"].as_str(),
            p["amount"].as_i64()
        ),
        (Some("authorized"), Some(gateway), Some(amount)),
        "{p}"
    );
    let id = p["id"].as_str().unwrap().to_string();
    let psp = p["provider_reference"].as_str().unwrap().to_string();
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    eventually(10, "captured", || async {
        status_of(h, &id).await["status"] == "captured"
    })
    .await;
    let r = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            &json!({ "amount": refund }),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    eventually(10, "partially refunded", || async {
        status_of(h, &id).await["status"] == "partially_refunded"
    })
    .await;
    h.settle().await;
    (id, psp)
}

fn ledger_amounts(c: &Value) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        c["amount"].as_i64(),
        c["amount_captured"].as_i64(),
        c["amount_refunded"].as_i64(),
    )
}

fn payroute_amounts(p: &Value) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        p["amount"].as_i64(),
        p["amount_captured"].as_i64(),
        p["amount_refunded"].as_i64(),
    )
}

#[tokio::test]
async fn mga_amounts_travel_to_stripe_in_whole_ariary_and_come_back_in_iso_cents() {
    let h = Harness::start().await;
    // 1,500.00 MGA: ISO has two decimals, Stripe none, so the wire says 1500.
    let (id, psp) = authorize_capture_refund(&h, 150_000, "MGA", 20_000, "stripe_sandbox").await;
    assert_eq!(
        ledger_amounts(&charge(&h, &psp).await),
        (Some(1500), Some(1500), Some(200))
    );
    assert_eq!(
        payroute_amounts(&status_of(&h, &id).await),
        (Some(150_000), Some(150_000), Some(20_000)),
        "the webhooks' amounts read back in ISO minor units"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn isk_amounts_travel_to_stripe_in_hundredths_and_come_back_in_kronur() {
    let h = Harness::start().await;
    // 500 ISK: ISO has no decimals, Stripe two (divisible by 100).
    let (id, psp) = authorize_capture_refund(&h, 500, "ISK", 120, "stripe_sandbox").await;
    assert_eq!(
        ledger_amounts(&charge(&h, &psp).await),
        (Some(50_000), Some(50_000), Some(12_000))
    );
    assert_eq!(
        payroute_amounts(&status_of(&h, &id).await),
        (Some(500), Some(500), Some(120))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn clp_amounts_travel_to_adyen_in_hundredths_and_come_back_in_pesos() {
    let h = Harness::start_with(|dir, _| route_to_adyen(dir)).await;
    let (id, psp) = authorize_capture_refund(&h, 5000, "CLP", 1200, "adyen_sandbox").await;
    assert_eq!(
        ledger_amounts(&charge(&h, &psp).await),
        (Some(500_000), Some(500_000), Some(120_000))
    );
    assert_eq!(
        payroute_amounts(&status_of(&h, &id).await),
        (Some(5000), Some(5000), Some(1200))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn idr_amounts_travel_to_adyen_in_whole_rupiah_and_come_back_in_iso_cents() {
    let h = Harness::start_with(|dir, _| route_to_adyen(dir)).await;
    // 15,000.00 IDR: ISO has two decimals, Adyen none.
    let (id, psp) = authorize_capture_refund(&h, 1_500_000, "IDR", 500_000, "adyen_sandbox").await;
    assert_eq!(
        ledger_amounts(&charge(&h, &psp).await),
        (Some(15_000), Some(15_000), Some(5000))
    );
    assert_eq!(
        payroute_amounts(&status_of(&h, &id).await),
        (Some(1_500_000), Some(1_500_000), Some(500_000))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn an_amount_finer_than_adyens_scale_is_rejected_before_anything_is_sent() {
    let h = Harness::start_with(|dir, _| route_to_adyen(dir)).await;
    // 15,000.50 IDR: Adyen takes whole rupiah only.
    let r = h
        .post(
            "/v1/payments",
            &common::card_payment(1_500_050, "IDR", APPROVE, "o-fine"),
            None,
        )
        .await;
    let p = r.json();
    assert_eq!(
        (
            p["status"].as_str(),
            p["route"]["attempts"][0]["error_code"].as_str()
        ),
        (Some("failed"), Some("invalid_request")),
        "{p}"
    );
    assert!(
        p["failure"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Adyen's amount scale")),
        "{p}"
    );
    assert!(
        h.ledger().await.iter().all(|c| c["currency"] != "IDR"),
        "nothing reached Adyen"
    );
    h.shutdown().await;
}
