//! What one operation sends: a payment through payroute, the connectors'
//! calls straight at a gateway (Stripe's two, Adyen's one), an
//! unauthenticated GET; each checks the reply and returns a short error
//! class for the counts.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::HttpClient;

pub const MERCHANT_KEY: &str = "sk_test_demo";
/// The sandbox accepts any `sk_` key when none is configured.
pub const STRIPE_KEY: &str = "sk_test_x";
/// The Adyen API key of the hop scenario's upstream.
pub const ADYEN_KEY: &str = "adyen_hop_key";
const STRIPE_VERSION: &str = "2024-06-20";
const CARD: &str = "4242424242424242";

pub async fn send(
    http: &HttpClient,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    let resp = http
        .request(req)
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    Ok((status, body.to_bytes()))
}

pub async fn unauthorized(http: &HttpClient, url: &str) -> Result<(), String> {
    let req = Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("request: {e}"))?;
    match send(http, req).await? {
        (StatusCode::UNAUTHORIZED, _) => Ok(()),
        (status, _) => Err(format!("HTTP {}", status.as_u16())),
    }
}

/// `POST /v1/payments` in `currency`, which `gateway` must approve: the
/// number of gateway calls payroute made (see [`route_calls`]).
pub async fn payroute_payment(
    http: &HttpClient,
    url: &str,
    key: &str,
    currency: &str,
    gateway: &str,
) -> Result<usize, String> {
    let body = json!({
        "amount": 2000, "currency": currency, "reference": key,
        "payment_method": {"type": "card", "card": {"number": CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "A. Buyer"}},
        "customer": {"id": "cus_load", "email": "load@example.com", "country": "US"},
        "return_url": "https://shop.example.com/return",
    });
    let req = Request::post(url)
        .header("authorization", format!("Bearer {MERCHANT_KEY}"))
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("request: {e}"))?;
    let (status, body) = send(http, req).await?;
    if !status.is_success() {
        return Err(format!("payroute HTTP {}", status.as_u16()));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match v["status"].as_str() {
        Some("captured" | "authorized") => route_calls(&v["route"]["attempts"], gateway),
        other => Err(format!("payroute status {other:?}")),
    }
}

/// The number of gateway calls, provided every one but the last found its
/// gateway unavailable and the last was approved by `gateway`: any other
/// route would measure something else than failover.
fn route_calls(attempts: &Value, gateway: &str) -> Result<usize, String> {
    let calls = attempts.as_array().map_or(&[][..], Vec::as_slice);
    let shape: Vec<String> = calls
        .iter()
        .map(|a| format!("{}:{}", a["gateway"], a["outcome"]))
        .collect();
    let Some((last, before)) = calls.split_last() else {
        return Err("payroute payment without attempts".into());
    };
    let unavailable = before.iter().all(|a| a["outcome"] == "unavailable");
    if unavailable && last["gateway"] == gateway && last["outcome"] == "approved" {
        Ok(calls.len())
    } else {
        Err(format!("unexpected route [{}]", shape.join(", ")))
    }
}

fn stripe_post(url: String, key: &str, body: String) -> Result<Request<Full<Bytes>>, String> {
    Request::post(url)
        .header("authorization", format!("Bearer {STRIPE_KEY}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("stripe-version", STRIPE_VERSION)
        .header("idempotency-key", key)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))
}

/// The bodies mirror `connectors::stripe::{payment_method_body, payment_intent_body}`.
pub async fn direct_payment(http: &HttpClient, base: &str, key: &str) -> Result<(), String> {
    let pm_body = form_urlencoded::Serializer::new(String::new())
        .append_pair("type", "card")
        .append_pair("card[number]", CARD)
        .append_pair("card[exp_month]", "12")
        .append_pair("card[exp_year]", "2030")
        .append_pair("card[cvc]", "123")
        .append_pair("billing_details[name]", "A. Buyer")
        .finish();
    let req = stripe_post(
        format!("{base}/v1/payment_methods"),
        &format!("{key}-pm"),
        pm_body,
    )?;
    let (status, body) = send(http, req).await?;
    if status != StatusCode::OK {
        return Err(format!("payment_methods HTTP {}", status.as_u16()));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let pm = v["id"].as_str().ok_or("payment_methods reply without id")?;
    let pi_body = form_urlencoded::Serializer::new(String::new())
        .append_pair("amount", "2000")
        .append_pair("currency", "usd")
        .append_pair("confirm", "true")
        .append_pair("capture_method", "automatic")
        .append_pair("metadata[payroute_payment_id]", key)
        .append_pair("metadata[reference]", key)
        .append_pair("return_url", "https://shop.example.com/return")
        .append_pair("payment_method", pm)
        .append_pair("payment_method_types[0]", "card")
        .finish();
    let req = stripe_post(format!("{base}/v1/payment_intents"), key, pi_body)?;
    let (status, body) = send(http, req).await?;
    if status != StatusCode::OK {
        return Err(format!("payment_intents HTTP {}", status.as_u16()));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match v["status"].as_str() {
        Some("succeeded" | "requires_capture") => Ok(()),
        other => Err(format!("payment_intent status {other:?}")),
    }
}

/// `POST {base}/payments` as the Adyen connector sends it; the body mirrors
/// `connectors::adyen::payment_request_body` for a EUR card.
pub async fn adyen_payment(http: &HttpClient, base: &str, key: &str) -> Result<(), String> {
    let body = json!({
        "amount": {"value": 2000, "currency": "EUR"},
        "merchantAccount": "HopBench",
        "reference": key,
        "merchantOrderReference": key,
        "returnUrl": "https://shop.example.com/return",
        "paymentMethod": {"type": "scheme", "number": CARD, "expiryMonth": "12", "expiryYear": "2030", "cvc": "123", "holderName": "A. Buyer"},
        "shopperEmail": "load@example.com",
        "countryCode": "US",
    });
    let req = Request::post(format!("{base}/payments"))
        .header("x-api-key", ADYEN_KEY)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("request: {e}"))?;
    let (status, body) = send(http, req).await?;
    if status != StatusCode::OK {
        return Err(format!("adyen payments HTTP {}", status.as_u16()));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match (v["resultCode"].as_str(), v["pspReference"].as_str()) {
        (Some("Authorised"), Some(_)) => Ok(()),
        (code, _) => Err(format!("adyen resultCode {code:?}")),
    }
}
