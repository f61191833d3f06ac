//! End to end on Checkout.com: merchant API → routing → the Checkout.com
//! connector → the sandbox's Checkout.com dialect, over real HTTP on
//! loopback, with the simulator's signed webhooks coming back. Every test
//! checks that the simulator's ledger agrees with what payroute says.

mod common;

use std::path::Path;

use common::{Harness, card_payment, eventually, metric};
use http::Method;
use serde_json::{Value, json};

const APPROVE: &str = "4242424242424242";
/// The test gateway's secret key: the simulator's account for it.
const CKO_KEY: &str = "sk_sbox_checkout_blackbox";
/// The test gateway's webhook signature key.
const CKO_SIGNING_KEY: &str = "cko_blackbox_signature_key";

/// Adds gateway `cko_test` (Checkout.com at `base_url`) and a first route
/// sending NOK and CLP to it, with Stripe as failover, to a rules folder.
fn add_checkout(dir: &Path, base_url: &str) {
    let p = dir.join("gateways.yaml");
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(&format!(
        "\n  - id: cko_test\n    kind: checkout\n    base_url: {base_url}\n    timeout_ms: 8000\n    credentials:\n      api_key: ${{CKO_BLACKBOX_KEY:-{CKO_KEY}}}\n      webhook_secret: ${{CKO_BLACKBOX_SIGNING:-{CKO_SIGNING_KEY}}}\n"
    ));
    std::fs::write(&p, text).unwrap();
    let p = dir.join("routes.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let route = "\nroutes:\n  - name: nok-checkout\n    when: { currency: [NOK, CLP] }\n    gateways: [cko_test, stripe_sandbox]\n";
    assert!(
        text.contains("\nroutes:\n"),
        "the shipped routes.yaml lists routes"
    );
    std::fs::write(&p, text.replacen("\nroutes:\n", route, 1)).unwrap();
}

/// Sandbox + payroute on the shipped rules plus the Checkout.com gateway.
async fn start() -> Harness {
    Harness::start_with(|dir, sandbox| add_checkout(dir, &format!("http://{sandbox}/checkout")))
        .await
}

async fn status_of(h: &Harness, id: &str) -> Value {
    h.get(&format!("/v1/payments/{id}")).await.json()
}

/// The simulator's Checkout.com ledger entry for `pay_id`.
async fn checkout_charge(h: &Harness, pay_id: &str) -> Value {
    let url = format!("{}/__sandbox/ledger?dialect=checkout", h.sandbox_url);
    let r = h.http.send(Method::GET, &url, &[], None).await;
    let charges = r.json()["charges"].as_array().cloned().unwrap_or_default();
    charges
        .into_iter()
        .find(|c| c["id"] == pay_id)
        .unwrap_or_else(|| panic!("no Checkout.com ledger entry {pay_id}"))
}

fn cko_signature(body: &str, key: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn an_auto_capture_payment_is_captured_at_checkout_com_under_payroutes_reference() {
    let h = start().await;
    let r = h
        .post(
            "/v1/payments",
            &card_payment(2500, "NOK", APPROVE, "o-cko"),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let p = r.json();
    assert_eq!(
        (
            p["status"].as_str(),
            p["gateway"].as_str(),
            p["amount_captured"].as_i64()
        ),
        (Some("captured"), Some("cko_test"), Some(2500))
    );
    let pay = p["provider_reference"].as_str().unwrap();
    assert!(pay.starts_with("pay_"), "{pay}");

    let c = checkout_charge(&h, pay).await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(
        (
            c["amount"].as_i64(),
            c["currency"].as_str(),
            c["amount_captured"].as_i64(),
            c["live"].as_bool()
        ),
        (Some(2500), Some("NOK"), Some(2500), Some(true))
    );
    assert_eq!(c["reference"], id);
    assert_eq!(c["metadata"]["payroute_payment_id"], id);
    h.settle().await;
    assert_eq!(status_of(&h, id).await["status"], "captured");
    h.shutdown().await;
}

#[tokio::test]
async fn a_partial_manual_capture_is_captured_by_the_signed_payment_captured_webhook_then_refunded_in_parts()
 {
    let h = start().await;
    let p = h.manual_payment(3000, "NOK", APPROVE, "o-cko-cap").await;
    assert_eq!(
        (p["status"].as_str(), p["gateway"].as_str()),
        (Some("authorized"), Some("cko_test")),
        "{p}"
    );
    let id = p["id"].as_str().unwrap();
    let pay = p["provider_reference"].as_str().unwrap();
    assert_eq!(checkout_charge(&h, pay).await["amount_captured"], 0);

    let cap = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            &json!({"amount": 2500}),
            None,
        )
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    assert_eq!(
        cap.json()["status"],
        "capture_pending",
        "Checkout.com answers 202: the capture is confirmed by webhook"
    );
    eventually(10, "captured by payment_captured", || async {
        status_of(&h, id).await["status"] == "captured"
    })
    .await;
    assert_eq!(status_of(&h, id).await["amount_captured"], 2500);

    // A partial refund, then the rest: each completes by payment_refunded.
    let path = format!("/v1/payments/{id}/refunds");
    let r1 = h.post(&path, &json!({"amount": 1000}), None).await;
    assert_eq!(r1.status, 201, "{}", r1.text());
    assert_eq!(r1.json()["status"], "pending");
    let rid = r1.json()["id"].as_str().unwrap().to_string();
    eventually(10, "partial refund succeeded", || async {
        h.get(&format!("/v1/refunds/{rid}")).await.json()["status"] == "succeeded"
    })
    .await;
    let mid = status_of(&h, id).await;
    assert_eq!(
        (mid["status"].as_str(), mid["amount_refunded"].as_i64()),
        (Some("partially_refunded"), Some(1000))
    );
    let rest = h.post(&path, &json!({}), None).await;
    assert_eq!(rest.status, 201, "{}", rest.text());
    assert_eq!(
        rest.json()["amount"],
        1500,
        "no amount refunds the remainder"
    );
    eventually(10, "fully refunded", || async {
        status_of(&h, id).await["status"] == "refunded"
    })
    .await;
    h.settle().await;
    let end = status_of(&h, id).await;
    assert_eq!(
        (
            end["amount_captured"].as_i64(),
            end["amount_refunded"].as_i64()
        ),
        (Some(2500), Some(2500))
    );
    let c = checkout_charge(&h, pay).await;
    assert_eq!(
        (
            c["amount_captured"].as_i64(),
            c["amount_refunded"].as_i64(),
            c["status"].as_str()
        ),
        (Some(2500), Some(2500), Some("refunded"))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_void_of_an_authorization_ends_voided_here_and_not_live_at_checkout_com() {
    let h = start().await;
    let p = h.manual_payment(900, "NOK", APPROVE, "o-cko-void").await;
    assert_eq!(p["gateway"], "cko_test", "{p}");
    let id = p["id"].as_str().unwrap();
    let pay = p["provider_reference"].as_str().unwrap();
    let c = h
        .post(&format!("/v1/payments/{id}/cancel"), &json!({}), None)
        .await;
    assert_eq!(c.status, 200, "{}", c.text());
    assert_eq!(c.json()["status"], "void_pending");
    eventually(10, "voided by payment_voided", || async {
        status_of(&h, id).await["status"] == "voided"
    })
    .await;
    let charge = checkout_charge(&h, pay).await;
    assert_eq!(
        (charge["status"].as_str(), charge["live"].as_bool()),
        (Some("voided"), Some(false))
    );
    assert!(h.live_charges().await.is_empty(), "nothing live anywhere");
    h.shutdown().await;
}

#[tokio::test]
async fn a_hard_decline_at_checkout_com_fails_the_payment_without_failover() {
    let h = start().await;
    for (card, decline) in [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ] {
        let r = h
            .post(
                "/v1/payments",
                &card_payment(1000, "NOK", card, "o-cko-decline"),
                None,
            )
            .await;
        assert_eq!(r.status, 402, "{card}: {}", r.text());
        let p = r.json();
        assert_eq!(p["status"], "failed");
        assert_eq!(p["gateway"], "cko_test");
        assert_eq!(p["failure"]["decline_code"], decline, "{p}");
        assert_eq!(
            p["route"]["attempts"].as_array().unwrap().len(),
            1,
            "a hard decline never fails over"
        );
        let c = checkout_charge(&h, p["provider_reference"].as_str().unwrap()).await;
        assert_eq!(
            (c["status"].as_str(), c["live"].as_bool()),
            (Some("declined"), Some(false))
        );
    }
    assert!(
        h.live_charges().await.is_empty(),
        "declines are not charges, at Stripe either"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_refused_connection_to_checkout_com_fails_over_to_stripe_with_one_live_charge() {
    let dead = common::dead_addr();
    let h =
        Harness::start_with(|dir, _| add_checkout(dir, &format!("http://{dead}/checkout"))).await;
    let r = h
        .post(
            "/v1/payments",
            &card_payment(4100, "NOK", APPROVE, "o-cko-failover"),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let p = r.json();
    assert_eq!(
        (p["status"].as_str(), p["gateway"].as_str()),
        (Some("captured"), Some("stripe_sandbox"))
    );
    let attempts = p["route"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{p}");
    assert_eq!(attempts[0]["gateway"], "cko_test");
    let live = h.live_charges().await;
    assert_eq!(live.len(), 1, "exactly one live charge: {live:?}");
    assert_eq!(
        (live[0]["dialect"].as_str(), live[0]["id"].as_str()),
        (Some("stripe"), p["provider_reference"].as_str())
    );
    assert_eq!(live[0]["amount"], 4100);
    h.shutdown().await;
}

/// A `payment_approved` event for payroute payment `id`, as Checkout.com
/// sends it.
fn approved_event(event_id: &str, pay: &str, id: &str, amount: i64) -> String {
    json!({
        "id": event_id,
        "type": "payment_approved",
        "version": "1.0.33",
        "created_on": "2026-01-01T00:00:00Z",
        "data": {
            "id": pay, "action_id": "act_blackboxapproval", "reference": id,
            "amount": amount, "currency": "NOK",
            "response_code": "10000", "response_summary": "Approved",
            "metadata": {"payroute_payment_id": id},
        },
    })
    .to_string()
}

#[tokio::test]
async fn a_checkout_com_webhook_with_a_bad_signature_is_refused_with_400_and_not_stored() {
    let h = start().await;
    let p = h.manual_payment(1200, "NOK", APPROVE, "o-cko-sig").await;
    assert_eq!(p["status"], "authorized", "{p}");
    let id = p["id"].as_str().unwrap();
    let pay = p["provider_reference"].as_str().unwrap();
    h.settle().await;
    let url = format!("{}/webhooks/cko_test", h.api);
    let body = approved_event("evt_blackbox_forged", pay, id, 1200);

    for bad in [
        cko_signature(&body, "not_the_signature_key"),
        "00".repeat(32),
        String::new(),
    ] {
        let r = h
            .http
            .send(
                Method::POST,
                &url,
                &[("cko-signature", &bad)],
                Some(body.clone().into_bytes()),
            )
            .await;
        assert_eq!(r.status, 400, "signature {bad:?}: {}", r.text());
    }
    let r = h
        .http
        .send(Method::POST, &url, &[], Some(body.clone().into_bytes()))
        .await;
    assert_eq!(r.status, 400, "no signature: {}", r.text());
    assert_eq!(status_of(&h, id).await["status"], "authorized");
    assert!(
        h.events("applied")
            .await
            .iter()
            .chain(h.events("received").await.iter())
            .all(|e| e["provider_event_id"] != "evt_blackbox_forged"),
        "a refused delivery is not stored"
    );

    // The same body signed with the gateway's key is taken: what refused the
    // others was the signature alone.
    let good = cko_signature(&body, CKO_SIGNING_KEY);
    let r = h
        .http
        .send(
            Method::POST,
            &url,
            &[("cko-signature", &good)],
            Some(body.into_bytes()),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    h.wait_applied_with_note("evt_blackbox_forged", "").await;
    assert_eq!(status_of(&h, id).await["status"], "authorized");
    let c = checkout_charge(&h, pay).await;
    assert_eq!(
        (c["status"].as_str(), c["amount_captured"].as_i64()),
        (Some("authorized"), Some(0))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_lost_authorization_answer_is_found_by_reference_and_charged_once() {
    let h = Harness::start_opts(
        |dir, sandbox| {
            add_checkout(dir, &format!("http://{sandbox}/checkout"));
            let p = dir.join("gateways.yaml");
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, text.replace("timeout_ms: 8000", "timeout_ms: 400")).unwrap();
        },
        |_| {},
    )
    .await;
    h.fault(json!({"dialect": "checkout", "mode": "timeout_after_charge", "count": 1}))
        .await;
    let r = h
        .post(
            "/v1/payments",
            &card_payment(1700, "NOK", APPROVE, "o-cko-lost"),
            Some("key-cko-lost"),
        )
        .await;
    let p = r.json();
    let id = p["id"].as_str().unwrap().to_string();
    let faults = h
        .http
        .send(
            Method::GET,
            &format!("{}/__sandbox/faults", h.sandbox_url),
            &[],
            None,
        )
        .await
        .json();
    assert_eq!(
        faults["faults"],
        json!([]),
        "the one-shot fault fired: the answer was lost"
    );
    // The answer was lost; the lookup by reference (or the webhook) tells.
    eventually(15, "the lost authorization settled", || async {
        status_of(&h, &id).await["status"] == "captured"
    })
    .await;
    let p = status_of(&h, &id).await;
    assert_eq!(p["gateway"], "cko_test", "never failed over: {p}");
    let live = h.live_charges().await;
    assert_eq!(live.len(), 1, "one charge: {live:?}");
    assert_eq!(
        (live[0]["dialect"].as_str(), live[0]["id"].as_str()),
        (Some("checkout"), p["provider_reference"].as_str())
    );
    assert_eq!(live[0]["reference"], id.as_str());
    h.shutdown().await;
}

#[tokio::test]
async fn a_capture_checkout_com_declines_after_accepting_it_leaves_the_payment_authorized() {
    let h = start().await;
    let p = h
        .manual_payment(2200, "NOK", APPROVE, "o-cko-capdecl")
        .await;
    assert_eq!(p["status"], "authorized", "{p}");
    let id = p["id"].as_str().unwrap();
    let pay = p["provider_reference"].as_str().unwrap();
    h.settle().await;
    h.fault(json!({"dialect": "checkout", "mode": "action_declined", "path_contains": "/captures", "count": 1}))
        .await;
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.json()["status"], "capture_pending", "{}", cap.text());
    h.settle().await;
    let mid = status_of(&h, id).await;
    assert_eq!(
        (mid["status"].as_str(), mid["amount_captured"].as_i64()),
        (Some("authorized"), Some(0)),
        "payment_capture_declined undoes the pending capture: {mid}"
    );
    assert_eq!(checkout_charge(&h, pay).await["amount_captured"], 0);

    // A second capture goes through.
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    eventually(10, "captured", || async {
        status_of(&h, id).await["status"] == "captured"
    })
    .await;
    assert_eq!(checkout_charge(&h, pay).await["amount_captured"], 2200);
    h.shutdown().await;
}

#[tokio::test]
async fn clp_amounts_travel_in_checkout_coms_hundredths_and_come_back_in_pesos() {
    let h = start().await;
    // 5,000 pesos (CLP has no minor unit in ISO 4217): Checkout.com reads
    // every currency outside its full-amount and thousandths lists in
    // hundredths, so the wire says 500000.
    let p = h.manual_payment(5000, "CLP", APPROVE, "o-cko-clp").await;
    assert_eq!(
        (p["status"].as_str(), p["gateway"].as_str()),
        (Some("authorized"), Some("cko_test")),
        "{p}"
    );
    let id = p["id"].as_str().unwrap();
    let pay = p["provider_reference"].as_str().unwrap();
    assert_eq!(checkout_charge(&h, pay).await["amount"], 500_000);
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    eventually(10, "captured", || async {
        status_of(&h, id).await["status"] == "captured"
    })
    .await;
    let r = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            &json!({"amount": 1200}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    eventually(10, "partially refunded", || async {
        status_of(&h, id).await["status"] == "partially_refunded"
    })
    .await;
    h.settle().await;
    let end = status_of(&h, id).await;
    assert_eq!(
        (
            end["amount_captured"].as_i64(),
            end["amount_refunded"].as_i64()
        ),
        (Some(5000), Some(1200)),
        "the webhooks' amounts read back in pesos: {end}"
    );
    let c = checkout_charge(&h, pay).await;
    assert_eq!(
        (c["amount_captured"].as_i64(), c["amount_refunded"].as_i64()),
        (Some(500_000), Some(120_000))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_duplicated_payment_captured_webhook_is_stored_once_and_applied_once() {
    let h = start().await;
    h.fault(json!({"dialect": "checkout", "mode": "webhook_duplicate", "event_contains": "payment_captured"}))
        .await;
    let p = h.manual_payment(4000, "NOK", APPROVE, "o-cko-dup").await;
    let id = p["id"].as_str().unwrap();
    let cap = h
        .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
        .await;
    assert_eq!(cap.status, 200, "{}", cap.text());
    // The second copy is the event that must come: once payroute has
    // counted it as a duplicate, both copies have been received.
    let labels = [("gateway", "cko_test"), ("result", "duplicate")];
    eventually(10, "the second copy counted as a duplicate", || async {
        metric(
            &h.metrics().await,
            "payroute_webhooks_received_total",
            &labels,
        ) >= 1.0
    })
    .await;
    h.settle().await;
    let end = status_of(&h, id).await;
    assert_eq!(
        (end["status"].as_str(), end["amount_captured"].as_i64()),
        (Some("captured"), Some(4000)),
        "{end}"
    );
    let pay = p["provider_reference"].as_str().unwrap();
    assert_eq!(checkout_charge(&h, pay).await["amount_captured"], 4000);
    let captured_events = h
        .events("applied")
        .await
        .iter()
        .filter(|e| e["gateway"] == "cko_test")
        .count();
    assert_eq!(
        captured_events, 2,
        "the authorization and one capture, applied once each"
    );
}
