//! End-to-end tests of the sandbox over real HTTP on 127.0.0.1, with a bare
//! hyper client on a fresh connection per request (so resets and hangs are
//! observed exactly as a connector would see them).

mod adyen;
mod cancels;
mod checkout;
mod checkout_flows;
mod faults;
mod idempotency;
mod merchant_events;
mod receiver;
mod search;
mod stripe;
mod webhook_delivery;
mod webhooks;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use super::{SandboxConfig, SandboxHandle, start};

pub(super) const SK: &str = "sk_test_sandbox_key";
pub(super) const ADYEN_KEY: &str = "AQE-test-key";
pub(super) const MERCHANT: &str = "PayrouteTestECOM";
pub(super) const CKO_SK: &str = "sk_sbox_sandbox_test_key";

#[derive(Debug)]
pub(super) struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(super) async fn gateway() -> SandboxHandle {
    gateway_with(SandboxConfig {
        stripe_api_key: Some(SK.into()),
        adyen_api_key: Some(ADYEN_KEY.into()),
        adyen_merchant_account: Some(MERCHANT.into()),
        checkout_secret_key: Some(CKO_SK.into()),
        rng_seed: Some(7),
    })
    .await
}

pub(super) async fn gateway_with(config: SandboxConfig) -> SandboxHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start(listener, config).await.unwrap()
}

/// One request on its own connection; `Err` is a transport failure.
pub(super) async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Resp, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Resp {
        status,
        headers,
        json,
    })
}

/// A Stripe POST/GET with the test key and an optional idempotency key.
pub(super) async fn stripe(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    idem: Option<&str>,
) -> Result<Resp, String> {
    let auth = format!("Bearer {SK}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    if let Some(key) = idem {
        headers.push(("idempotency-key", key));
    }
    send(addr, method, &format!("/stripe{path}"), &headers, body).await
}

/// `POST /v1/payment_methods` for a card, returning the pm id.
pub(super) async fn stripe_card(addr: SocketAddr, number: &str) -> String {
    let body = format!(
        "type=card&card[number]={number}&card[exp_month]=12&card[exp_year]=2099&card[cvc]=123\
         &billing_details[name]=Ada"
    );
    let resp = stripe(addr, "POST", "/v1/payment_methods", &body, None)
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.json);
    resp.json["id"].as_str().unwrap().to_string()
}

/// Creates and confirms a PaymentIntent on a new card PaymentMethod.
pub(super) async fn stripe_charge(
    addr: SocketAddr,
    number: &str,
    extra: &str,
    idem: Option<&str>,
) -> Result<Resp, String> {
    let pm = stripe_card(addr, number).await;
    let body = format!(
        "amount=2000&currency=eur&payment_method={pm}&payment_method_types[0]=card&confirm=true{extra}"
    );
    stripe(addr, "POST", "/v1/payment_intents", &body, idem).await
}

pub(super) async fn adyen(
    addr: SocketAddr,
    path: &str,
    body: &Value,
    idem: Option<&str>,
) -> Result<Resp, String> {
    let mut headers = vec![
        ("x-api-key", ADYEN_KEY),
        ("content-type", "application/json"),
    ];
    if let Some(key) = idem {
        headers.push(("idempotency-key", key));
    }
    send(
        addr,
        "POST",
        &format!("/adyen/v71{path}"),
        &headers,
        &body.to_string(),
    )
    .await
}

/// A Checkout.com call with the test secret key (Bearer) and an optional
/// `Cko-Idempotency-Key`.
pub(super) async fn checkout(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &Value,
    idem: Option<&str>,
) -> Result<Resp, String> {
    let auth = format!("Bearer {CKO_SK}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(key) = idem {
        headers.push(("cko-idempotency-key", key));
    }
    let body = if method == "GET" {
        String::new()
    } else {
        body.to_string()
    };
    send(addr, method, &format!("/checkout{path}"), &headers, &body).await
}

/// A Checkout.com payment request for a raw test card.
pub(super) fn checkout_payment(number: &str, capture: bool) -> Value {
    json!({
        "source": {"type": "card", "number": number, "expiry_month": 12,
                   "expiry_year": 2030, "cvv": "100"},
        "amount": 2500,
        "currency": "EUR",
        "reference": "pay_ref_42",
        "capture": capture,
        "metadata": {"payroute_payment_id": "pay_ref_42"},
    })
}

/// A complete v71 PaymentRequest for a raw test card.
pub(super) fn adyen_payment(number: &str, manual_capture: bool) -> Value {
    json!({
        "amount": {"currency": "EUR", "value": 1500},
        "merchantAccount": MERCHANT,
        "reference": "order-42",
        "returnUrl": "https://shop.example/return",
        "paymentMethod": {
            "type": "scheme", "number": number, "expiryMonth": "03",
            "expiryYear": "2030", "cvc": "737", "holderName": "Ada Lovelace"
        },
        "additionalData": {"manualCapture": if manual_capture { "true" } else { "false" }},
    })
}
