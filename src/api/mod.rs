//! The merchant API (design §3) on the API listener: routing of paths to
//! handlers, bearer auth, body limits, idempotency, and the mapping of
//! payment results to HTTP statuses. Handlers call into `payments::Engine`.

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
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use crate::app::AppState;
use crate::config::MerchantConfig;
use error::ApiError;
use payments::Call;
pub use payments::{created_response, payment_json};

/// Largest accepted merchant request body.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest accepted gateway webhook body (Adyen batches can be long).
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

pub type HttpResponse = Response<Full<Bytes>>;

/// Entry point for every request on the API listener.
pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> HttpResponse
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
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

async fn dispatch<B>(
    state: &AppState,
    req: Request<B>,
) -> (&'static str, Result<HttpResponse, ApiError>)
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
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
            let result = async {
                let body = read_body(&parts.headers, body, MAX_WEBHOOK_BODY).await?;
                webhook::receive(state, &gateway, &parts.headers, &body).await
            }
            .await;
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
        let body = read_body(&parts.headers, body, MAX_BODY).await?;
        let call = Call {
            state,
            merchant: &merchant,
            segs: &segs,
            query: parts.uri.query().unwrap_or(""),
            idempotency_key: parts
                .headers
                .get(idempotency::HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string()),
        };
        if parts.method == Method::POST {
            idempotency::run(
                state,
                &merchant.id,
                &parts.headers,
                route,
                &path,
                payments::Post::parse(route, &body)?,
                |request| call.post(request),
            )
            .await
        } else {
            call.get(route).await
        }
    }
    .await;
    (route, result)
}

fn authenticate(state: &AppState, headers: &http::HeaderMap) -> Result<MerchantConfig, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    let live = state.engine.live.load();
    live.ruleset
        .merchant_for_key(key.trim())
        .cloned()
        .ok_or_else(ApiError::unauthorized)
}

async fn read_body<B>(headers: &http::HeaderMap, body: B, max: usize) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "body_too_large",
            format!("request body exceeds {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::invalid(
            "body_unreadable",
            "body",
            format!("could not read the body: {e}"),
        )),
    }
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
