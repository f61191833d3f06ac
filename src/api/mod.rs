//! The merchant API (design §3) on the API listener: routing of paths to
//! handlers, bearer auth, idempotency, and the mapping of payment results to
//! HTTP statuses. Handlers call into `payments::Engine`. Bodies arrive read
//! whole by the edge (`crate::edge`), within the size limits set here.

pub mod error;
pub mod idempotency;
pub mod ops;
pub mod payments;
pub mod request;
pub mod webhook;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::Value;

use crate::app::AppState;
use crate::routing::MerchantConfig;
use error::ApiError;
use payments::Call;
pub use payments::{created_response, payment_json};

/// In a request's extensions when it came over TLS with a client
/// certificate that the configured client CA verified (the edge puts it
/// there; the ops routes read it).
#[derive(Debug, Clone, Copy)]
pub struct ClientCert;

/// Largest accepted merchant request body.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest accepted gateway webhook body (Adyen batches can be long).
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

pub type HttpResponse = Response<Full<Bytes>>;

/// Entry point for every request on the API listener.
/// The edge has read the body whole, within its route's size limit.
pub async fn handle(state: Arc<AppState>, req: Request<Bytes>) -> HttpResponse {
    let started = Instant::now();
    let (route, resp) = dispatch(&state, req).await;
    let resp = resp.unwrap_or_else(|e| error_response(&e));
    state
        .engine
        .metrics
        .http_duration
        .with_label_values(&[route, resp.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    resp
}

async fn dispatch(
    state: &AppState,
    req: Request<Bytes>,
) -> (&'static str, Result<HttpResponse, ApiError>) {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route: &'static str = match (&parts.method, segs.as_slice()) {
        (&Method::POST, ["v1", "payments"]) => "payments.create",
        (&Method::GET, ["v1", "payments"]) => "payments.list",
        (&Method::GET, ["v1", "payments", _]) => "payments.get",
        (&Method::POST, ["v1", "payments", _, "capture"]) => "payments.capture",
        (&Method::POST, ["v1", "payments", _, "cancel"]) => "payments.cancel",
        (&Method::POST, ["v1", "payments", _, "refunds"]) => "refunds.create",
        (&Method::GET, ["v1", "refunds", _]) => "refunds.get",
        (&Method::POST, ["v1", "routing", "explain"]) => "routing.explain",
        (&Method::POST, ["webhooks", gateway]) => {
            let gateway = gateway.to_string();
            let result = webhook::receive(state, &gateway, &parts.headers, &body).await;
            return ("webhooks", result);
        }
        _ => {
            let e = ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "route_not_found",
                format!("no such endpoint: {} {path}", parts.method),
            );
            return ("not_found", Err(e));
        }
    };
    let result = async {
        let merchant = authenticate(state, &parts.headers)?;
        let call = Call {
            state,
            merchant: &merchant,
            segs: &segs,
            query: parts.uri.query().unwrap_or(""),
        };
        if parts.method == Method::POST {
            idempotency::run(
                state,
                &merchant.id,
                &parts.headers,
                route,
                &path,
                || payments::Post::parse(route, &body),
                |request, ticket| call.post(request, ticket),
            )
            .await
        } else {
            call.get(route).await
        }
    }
    .await;
    (route, result)
}

/// The credential of `Authorization: Bearer <token>`; the scheme is
/// case-insensitive (RFC 9110 §11.1).
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn authenticate(state: &AppState, headers: &http::HeaderMap) -> Result<MerchantConfig, ApiError> {
    let key = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    let live = state.engine.live.load();
    live.ruleset
        .merchant_for_key(key)
        .cloned()
        .ok_or_else(ApiError::unauthorized)
}

pub fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    bytes_response(status, Bytes::from(body.to_string()))
}

pub fn bytes_response(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn error_response(e: &ApiError) -> HttpResponse {
    let mut resp = bytes_response(e.status, e.body());
    // Every 503 is transient (the store unreachable, payroute draining):
    // tell clients when to come back instead of letting them spin.
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}
