//! Bad input gets a clear 4xx with a machine-readable code, and nothing is
//! stored or sent to a gateway.

mod common;

use common::{DEMO_KEY, Harness, Reply, card_payment};
use http::Method;
use serde_json::{Value, json};

/// POSTs `body` as given, bytes the JSON builders could not produce.
async fn post_raw(h: &Harness, path: &str, body: &str, key: Option<&str>) -> Reply {
    let auth = format!("Bearer {DEMO_KEY}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    let url = format!("{}{path}", h.api);
    h.http
        .send(Method::POST, &url, &headers, Some(body.as_bytes().to_vec()))
        .await
}

fn error(r: &Reply) -> (u16, Option<String>, Option<String>) {
    let e = &r.json()["error"];
    (
        r.status.as_u16(),
        e["code"].as_str().map(str::to_string),
        e["param"].as_str().map(str::to_string),
    )
}

fn refusal(code: &str, param: &str) -> (u16, Option<String>, Option<String>) {
    (400, Some(code.to_string()), Some(param.to_string()))
}

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

#[tokio::test]
async fn a_duplicate_key_gets_400_takes_no_idempotency_key_and_charges_nothing() {
    let h = Harness::start().await;
    let good = card_payment(1000, "USD", "4242424242424242", "o-bad").to_string();
    // Last-one-wins would charge 1 instead of 100000 here.
    let top = good.replacen(r#""amount":1000"#, r#""amount":100000,"amount":1"#, 1);
    let r = post_raw(&h, "/v1/payments", &top, Some("key-dup")).await;
    assert_eq!(
        error(&r),
        refusal("duplicate_key", "amount"),
        "{}",
        r.text()
    );
    let meta = good.replacen('{', r#"{"metadata":{"cart":"a","cart":"b"},"#, 1);
    let r = post_raw(&h, "/v1/payments", &meta, Some("key-dup")).await;
    assert_eq!(error(&r), refusal("duplicate_key", "metadata.cart"));
    assert_nothing_stored(&h).await;
    let r = post_raw(&h, "/v1/payments", &good, Some("key-dup")).await;
    assert_eq!(r.status, 201, "the key is still free: {}", r.text());
    h.shutdown().await;
}

#[tokio::test]
async fn an_unknown_parameter_gets_400_naming_it_and_charges_nothing() {
    let h = Harness::start().await;
    let mut body = card_payment(1000, "USD", "4242424242424242", "o-bad");
    body["captur"] = json!("manual");
    let r = h.post("/v1/payments", &body, None).await;
    assert_eq!(error(&r), refusal("parameter_unknown", "captur"));
    let mut body = card_payment(1000, "USD", "4242424242424242", "o-bad");
    body["payment_method"]["card"]["cvv"] = json!("123");
    let r = h.post("/v1/payments", &body, None).await;
    assert_eq!(
        error(&r),
        refusal("parameter_unknown", "payment_method.card.cvv")
    );
    assert_nothing_stored(&h).await;
    h.shutdown().await;
}

#[tokio::test]
async fn a_body_nested_deeper_than_the_bound_gets_400() {
    let h = Harness::start().await;
    let deep = format!(r#"{{"metadata":{}{}}}"#, "[".repeat(200), "]".repeat(200));
    for path in ["/v1/payments", "/v1/routing/explain"] {
        let r = post_raw(&h, path, &deep, None).await;
        assert_eq!(error(&r), refusal("nesting_too_deep", "body"), "{path}");
    }
    assert_nothing_stored(&h).await;
    h.shutdown().await;
}

#[tokio::test]
async fn explain_refuses_what_create_refuses() {
    let h = Harness::start().await;
    let cases = [
        ("/amount", json!(-100), "amount_invalid", "amount"),
        ("/currency", json!("usd"), "currency_invalid", "currency"),
        (
            "/payment_method/card/number",
            json!("4242424242424241"),
            "card_number_invalid",
            "payment_method.card.number",
        ),
    ];
    for (ptr, value, code, param) in cases {
        let mut body = card_payment(1000, "USD", "4242424242424242", "o-bad");
        *body.pointer_mut(ptr).unwrap() = value;
        let r = h.post("/v1/routing/explain", &body, None).await;
        assert_eq!(error(&r), refusal(code, param), "{ptr}");
    }
    // `reference` plays no part in routing: explain does not ask for it.
    let mut body = card_payment(1000, "USD", "4242424242424242", "o-bad");
    body.as_object_mut().unwrap().remove("reference");
    let r = h.post("/v1/routing/explain", &body, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_nothing_stored(&h).await;
    h.shutdown().await;
}
