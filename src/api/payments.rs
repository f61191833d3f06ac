//! The merchant API's handlers (design §3): one authenticated call turned
//! into an engine operation, and the engine's answers turned into statuses
//! and bodies.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{HttpResponse, json_response, request};
use crate::app::AppState;
use crate::config::MerchantConfig;
use crate::payments::EngineError;
use crate::payments::model::{Payment, PaymentStatus};
use crate::payments::operations::OpResult;

/// One authenticated request, ready for its handler.
pub(super) struct Call<'a> {
    pub(super) state: &'a AppState,
    pub(super) merchant: &'a MerchantConfig,
    pub(super) segs: &'a [&'a str],
    pub(super) query: &'a str,
    pub(super) idempotency_key: Option<String>,
}

impl Call<'_> {
    pub(super) async fn get(&self, route: &str) -> Result<HttpResponse, ApiError> {
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

    pub(super) async fn post(&self, route: &str, v: Value) -> Result<HttpResponse, ApiError> {
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
