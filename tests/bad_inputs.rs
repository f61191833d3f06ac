//! Bad input gets a clear 4xx with a machine-readable code, and nothing is
//! stored or sent to a gateway.

mod common;

use common::{DEMO_KEY, Harness, card_payment};
use http::Method;
use serde_json::{Value, json};

async fn assert_nothing_stored(h: &Harness) {
    let found = h.get("/v1/payments?reference=o-bad").await.json();
    assert_eq!(found["data"], json!([]), "nothing stored");
    assert!(h.ledger().await.is_empty(), "no gateway call");
}

#[tokio::test]
async fn malformed_or_invalid_bodies_get_400_with_a_code_and_nothing_is_stored() {
    let h = Harness::start().await;
    let auth = format!("Bearer {DEMO_KEY}");
    let url = format!("{}/v1/payments", h.api);
    let raw = h
        .http
        .send(
            Method::POST,
            &url,
            &[("authorization", &auth)],
            Some(b"{\"amount\": 12,".to_vec()),
        )
        .await;
    assert_eq!(raw.status, 400);
    assert_eq!(raw.json()["error"]["code"], "invalid_json");

    let mut base = card_payment(1000, "USD", "4242424242424242", "o-bad");
    base["capture"] = json!("automatic");
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/currency", json!("ABC"), "currency_invalid", "currency"),
        ("/currency", json!("usd"), "currency_invalid", "currency"),
        ("/amount", json!(-100), "amount_invalid", "amount"),
        ("/amount", json!(0), "amount_invalid", "amount"),
        ("/amount", json!(10.5), "parameter_invalid", "amount"),
        (
            "/amount",
            json!(10_000_000_000_000_000_000u64),
            "parameter_invalid",
            "amount",
        ),
        ("/amount", json!(100_000_000), "amount_too_large", "amount"),
        ("/amount", json!("100"), "parameter_invalid", "amount"),
        (
            "/payment_method/card/number",
            json!("1234"),
            "card_number_invalid",
            "payment_method.card.number",
        ),
        (
            "/payment_method/card/exp_month",
            json!(13),
            "parameter_invalid",
            "payment_method.card.exp_month",
        ),
        ("/capture", json!("later"), "parameter_invalid", "capture"),
    ];
    for (ptr, value, code, param) in cases {
        let mut body = base.clone();
        *body.pointer_mut(ptr).unwrap() = value.clone();
        let r = h.post("/v1/payments", &body, None).await;
        assert_eq!(r.status, 400, "{ptr}={value}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(
            (e["code"].as_str(), e["param"].as_str()),
            (Some(code), Some(param)),
            "{ptr}={value}"
        );
        assert_eq!(e["type"], "invalid_request_error");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let mut no_amount = base.clone();
    no_amount.as_object_mut().unwrap().remove("amount");
    let r = h.post("/v1/payments", &no_amount, None).await;
    assert_eq!(r.json()["error"]["code"], "parameter_missing");
    // JPY has no minor unit, KWD three: the limit scales with the exponent.
    let r = h
        .post(
            "/v1/payments",
            &card_payment(100_000_000, "JPY", "4242424242424242", "o-bad"),
            None,
        )
        .await;
    assert_eq!(r.json()["error"]["code"], "amount_too_large");
    assert_nothing_stored(&h).await;
    h.shutdown().await;
}

#[tokio::test]
async fn missing_or_wrong_api_keys_get_401() {
    let h = Harness::start().await;
    let url = format!("{}/v1/payments", h.api);
    let body = Some(
        card_payment(1000, "USD", "4242424242424242", "o-bad")
            .to_string()
            .into_bytes(),
    );
    for headers in [
        vec![],
        vec![("authorization", "Bearer sk_wrong")],
        vec![("authorization", "Basic c2s6")],
    ] {
        let r = h
            .http
            .send(Method::POST, &url, &headers, body.clone())
            .await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    }
    assert_nothing_stored(&h).await;
    h.shutdown().await;
}

#[tokio::test]
async fn a_body_over_64_kib_gets_413() {
    let h = Harness::start().await;
    let mut body = card_payment(1000, "USD", "4242424242424242", "o-bad");
    body["metadata"] = json!({"pad": "x".repeat(70 * 1024)});
    let r = h.post("/v1/payments", &body, None).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "body_too_large");
    assert_nothing_stored(&h).await;
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_endpoints_and_payments_get_404() {
    let h = Harness::start().await;
    let r = h.get("/v1/payments/pay_doesnotexist").await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );
    let r = h.get("/v1/nothing").await;
    assert_eq!(r.status, 404);
    let r = h
        .post("/v1/payments/pay_nope/capture", &json!({}), None)
        .await;
    assert_eq!(r.status, 404);
    h.shutdown().await;
}
