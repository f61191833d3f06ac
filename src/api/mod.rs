//! The merchant API (design §3) on the API listener: routing of paths to
//! handlers, bearer auth, body limits, idempotency, and the mapping of
//! payment results to HTTP statuses. Handlers call into `payments::Engine`.

pub mod error;
pub mod idempotency;
pub mod ops;
pub mod request;
pub mod webhook;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};

use crate::config::MerchantConfig;
use crate::payments::EngineError;
use crate::payments::model::{Payment, PaymentStatus};
use crate::payments::operations::OpResult;
use crate::server::AppState;
use error::ApiError;

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
                &body,
                |v| call.post(route, v),
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

/// One authenticated request, ready for its handler.
struct Call<'a> {
    state: &'a AppState,
    merchant: &'a MerchantConfig,
    segs: &'a [&'a str],
    query: &'a str,
    idempotency_key: Option<String>,
}

impl Call<'_> {
    async fn get(&self, route: &str) -> Result<HttpResponse, ApiError> {
        let engine = &self.state.engine;
        let m = &self.merchant.id;
        match route {
            "payments.get" => match engine.store.get_payment(m, self.segs[2]).await? {
                Some(p) => {
                    let mut v = payment_json(&p);
                    v["disputes"] = json!(engine.store.list_disputes(&p.id).await?);
                    Ok(json_response(StatusCode::OK, &v))
                }
                None => Err(ApiError::not_found("payment")),
            },
            "payments.list" => {
                let reference = form_urlencoded::parse(self.query.as_bytes())
                    .find(|(k, _)| k == "reference")
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(|| ApiError::missing("reference"))?;
                let found = engine
                    .store
                    .find_payments_by_reference(m, &reference)
                    .await?;
                let data: Vec<Value> = found.iter().map(payment_json).collect();
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"object": "list", "data": data}),
                ))
            }
            _ => match engine.store.get_refund(m, self.segs[2]).await? {
                Some(r) => Ok(json_response(StatusCode::OK, &json!(r))),
                None => Err(ApiError::not_found("refund")),
            },
        }
    }

    async fn post(&self, route: &str, v: Value) -> Result<HttpResponse, ApiError> {
        let engine = &self.state.engine;
        let m = &self.merchant.id;
        match route {
            "payments.create" => {
                let mut input = request::new_payment(&v)?;
                input.idempotency_key = self.idempotency_key.clone();
                let p = engine.create(m, input).await.map_err(engine_error)?;
                Ok(created_response(&p))
            }
            "payments.capture" => {
                let p = engine
                    .store
                    .get_payment(m, self.segs[2])
                    .await?
                    .ok_or_else(|| ApiError::not_found("payment"))?;
                let cur = crate::payments::money::Currency::from_code(&p.currency)
                    .ok_or_else(|| ApiError::internal("stored currency unknown"))?;
                let amount = request::amount(&v, cur, false)?;
                op_response(
                    engine
                        .capture(m, self.segs[2], amount)
                        .await
                        .map_err(engine_error)?,
                    StatusCode::OK,
                )
            }
            "payments.cancel" => op_response(
                engine.cancel(m, self.segs[2]).await.map_err(engine_error)?,
                StatusCode::OK,
            ),
            "refunds.create" => {
                let p = engine
                    .store
                    .get_payment(m, self.segs[2])
                    .await?
                    .ok_or_else(|| ApiError::not_found("payment"))?;
                let cur = crate::payments::money::Currency::from_code(&p.currency)
                    .ok_or_else(|| ApiError::internal("stored currency unknown"))?;
                let amount = request::amount(&v, cur, false)?;
                let reason = request::reason(&v)?;
                op_response(
                    engine
                        .refund(m, self.segs[2], amount, reason)
                        .await
                        .map_err(engine_error)?,
                    StatusCode::CREATED,
                )
            }
            _ => {
                let facts = crate::routing::facts_from_json(m, &v).map_err(|e| {
                    ApiError::invalid("parameter_invalid", "payment", e.to_string())
                })?;
                let live = engine.live.load();
                let decision = engine.decide(&live, &facts);
                Ok(json_response(
                    StatusCode::OK,
                    &crate::routing::explain_json(&decision),
                ))
            }
        }
    }
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::NoRoute { decision } => {
            let reasons: Vec<String> = decision
                .skipped
                .iter()
                .map(|s| format!("{}: {}", s.gateway, s.reason))
                .collect();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                "no_route",
                match &decision.rule {
                    None => "no routing rule matches this payment".to_string(),
                    Some(r) => format!(
                        "rule `{r}` matched but no gateway can take this payment ({})",
                        reasons.join("; ")
                    ),
                },
            )
        }
        EngineError::NotFound => ApiError::not_found("payment"),
        EngineError::InvalidState(m) => ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            "payment_invalid_state",
            m,
        ),
        EngineError::AmountTooLarge(m) => ApiError::invalid("amount_too_large", "amount", m),
        EngineError::Busy => ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            "operation_in_progress",
            "another operation on this payment is in progress; retry shortly",
        ),
        EngineError::Store(e) => e.into(),
        EngineError::Unrecorded(e) => {
            tracing::error!(error = %e, "store failed after a gateway call");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "outcome_not_recorded",
                "the gateway was called but payroute could not record the outcome; \
                 retry with the same Idempotency-Key to get it once it is settled",
            )
        }
    }
}

pub fn payment_json(p: &Payment) -> Value {
    p.to_json()
}

/// Create's status: 201 when the gateway took it, 202 while the outcome is
/// unknown, 402 for a decline or a risk block, 502 when no gateway could be
/// reached. A failed payment's body is the payment plus an `error` member,
/// so clients can read either.
pub fn created_response(p: &Payment) -> HttpResponse {
    let mut body = payment_json(p);
    let status = match p.status {
        PaymentStatus::Processing => StatusCode::ACCEPTED,
        PaymentStatus::Failed => {
            let f = p.failure.clone();
            let code = f
                .as_ref()
                .map(|f| f.code.as_str())
                .unwrap_or("payment_failed");
            let (status, kind) = match code {
                "gateway_unavailable" | "gateway_rejected" | "no_gateway_available" => {
                    (StatusCode::BAD_GATEWAY, "gateway_error")
                }
                _ => (StatusCode::PAYMENT_REQUIRED, "payment_error"),
            };
            let mut err = json!({"type": kind, "code": code,
                "message": f.as_ref().map(|f| f.message.clone()).unwrap_or_default()});
            if let Some(dc) = f.and_then(|f| f.decline_code) {
                err["decline_code"] = json!(dc);
            }
            body["error"] = err;
            status
        }
        _ => StatusCode::CREATED,
    };
    json_response(status, &body)
}

fn op_response<T: serde::Serialize>(
    r: OpResult<T>,
    ok: StatusCode,
) -> Result<HttpResponse, ApiError> {
    match r {
        OpResult::Done(t) => Ok(json_response(ok, &json!(t))),
        OpResult::Refused(_, code, message) => Ok(json_response(
            StatusCode::PAYMENT_REQUIRED,
            &json!({"error": {"type": "gateway_error", "code": code, "message": message}}),
        )),
        OpResult::Unavailable(_, message) => {
            let mut resp = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": {"type": "gateway_error", "code": "gateway_unavailable", "message": message}}),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Ok(resp)
        }
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
