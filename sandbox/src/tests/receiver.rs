//! A tiny webhook receiver for the tests: records every request and answers
//! from a script (default 200 `[accepted]`), plus signature checks written
//! independently of the sandbox's own signing code.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;

pub(super) const WHSEC: &str = "whsec_sandbox_test_secret_0123456789";
pub(super) const ADYEN_HMAC_HEX: &str =
    "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

#[derive(Debug, Clone)]
pub(super) struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
    pub at: Instant,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Stripe: the event `type`. Adyen: the first item's eventCode.
    pub fn kind(&self) -> String {
        let body = self.json();
        match body["type"].as_str() {
            Some(kind) => kind.to_string(),
            None => item(&body, 0)["eventCode"].as_str().unwrap().to_string(),
        }
    }
}

pub(super) fn item(body: &Value, i: usize) -> &Value {
    &body["notificationItems"][i]["NotificationRequestItem"]
}

#[derive(Clone, Default)]
struct Shared {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

pub(super) struct Receiver {
    pub url: String,
    shared: Shared,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let shared = Shared::default();
        let serving = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| record(shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { url, shared }
    }

    /// The next requests get these statuses, in order; then 200 again.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.shared.script.lock().unwrap().extend(statuses);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after 5 s).
    pub async fn wait_hits(&self, n: usize) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} webhooks, got {}: {:?}",
                hits.len(),
                hits.iter().map(Hit::kind).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn kinds(&self) -> Vec<String> {
        self.hits().iter().map(Hit::kind).collect()
    }
}

async fn record(
    shared: Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let status = shared.script.lock().unwrap().pop_front().unwrap_or(200);
    shared.hits.lock().unwrap().push(Hit {
        headers: parts.headers,
        body,
        status,
        at: Instant::now(),
    });
    let mut response = Response::new(Full::new(Bytes::from_static(b"[accepted]")));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    Ok(response)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Checks `Stripe-Signature` as Stripe's SDKs do: `t` and any `v1` over
/// `"<t>.<raw body>"`, keyed with the whole `whsec_` secret.
pub(super) fn stripe_signature_ok(hit: &Hit, secret: &str) -> bool {
    let Some(header) = hit.header("stripe-signature") else {
        return false;
    };
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_string()),
            Some(("v1", value)) => v1.push(value.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&hit.body);
    let expected = hex::encode(hmac(secret.as_bytes(), &signed));
    v1.contains(&expected)
}

/// Checks `Cko-Signature`: hex HMAC-SHA256 of the raw body with the key.
pub(super) fn checkout_signature_ok(hit: &Hit, key: &str) -> bool {
    let expected = hex::encode(hmac(key.as_bytes(), &hit.body));
    hit.header("cko-signature") == Some(expected.as_str())
}

/// Checks one notification item's `hmacSignature` per Adyen's algorithm.
pub(super) fn adyen_item_ok(item: &Value, key_hex: &str) -> bool {
    let text = |name: &str| item[name].as_str().unwrap_or("").to_string();
    let signing = [
        text("pspReference"),
        text("originalReference"),
        text("merchantAccountCode"),
        text("merchantReference"),
        item["amount"]["value"].as_i64().unwrap().to_string(),
        item["amount"]["currency"].as_str().unwrap().to_string(),
        text("eventCode"),
        text("success"),
    ]
    .join(":");
    let key = hex::decode(key_hex).unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac(&key, signing.as_bytes()));
    item["additionalData"]["hmacSignature"].as_str() == Some(expected.as_str())
}
