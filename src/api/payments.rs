//! The merchant API's handlers (design §3): one authenticated call turned
//! into an engine operation, and the engine's answers turned into statuses,
//! bodies and what each answer means for its Idempotency-Key.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::idempotency::{Fate, Outcome};
use super::request::{CancelBody, CaptureBody, CreateBody, RefundBody};
use super::{HttpResponse, error_response, json_response};
use crate::app::AppState;
use crate::domain::model::{Payment, PaymentStatus};
use crate::domain::money::Currency;
use crate::domain::store::Dispute;
use crate::payments::operations::OpResult;
use crate::payments::{EngineError, Pending, Ticket};
use crate::routing::MerchantConfig;

/// One authenticated request, ready for its handler.
pub(super) struct Call<'a> {
    pub(super) state: &'a AppState,
    pub(super) merchant: &'a MerchantConfig,
    pub(super) segs: &'a [&'a str],
    pub(super) query: &'a str,
}

/// A POST body read for its route before any idempotency claim, so that a
/// body that cannot be read never takes a key. It serializes only into the
/// claim's fingerprint; `untagged` because the route is fingerprinted too.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Post {
    Create(Box<CreateBody>),
    Capture(CaptureBody),
    Cancel(CancelBody),
    Refund(RefundBody),
    Explain(Box<CreateBody>),
}

impl Post {
    pub(super) fn parse(route: &str, body: &[u8]) -> Result<Post, ApiError> {
        Ok(match route {
            "payments.create" => Post::Create(Box::new(CreateBody::parse(body)?)),
            "payments.capture" => Post::Capture(CaptureBody::parse(body)?),
            "payments.cancel" => Post::Cancel(CancelBody::parse(body)?),
            "refunds.create" => Post::Refund(RefundBody::parse(body)?),
            _ => Post::Explain(Box::new(CreateBody::parse(body)?)),
        })
    }
}

/// A handler's refusal and what it means for the Idempotency-Key.
struct Failure {
    error: ApiError,
    fate: Fate,
}

/// An `ApiError` raised with `?` in a handler comes before anything a retry
/// could repeat (a bad body, an unknown payment, the store unreadable): its
/// key is given back. Engine errors say their own fate in `engine_failure`.
impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure {
            error,
            fate: Fate::Release,
        }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        ApiError::from(e).into()
    }
}

impl Call<'_> {
    pub(super) async fn get(&self, route: &str) -> Result<HttpResponse, ApiError> {
        let engine = &self.state.engine;
        let m = &self.merchant.id;
        match route {
            "payments.get" => match engine.payment(m, self.segs[2]).await? {
                Some(p) => {
                    let disputes = engine.disputes(&p.id).await?;
                    Ok(json_response(StatusCode::OK, &payment_view(&p, &disputes)))
                }
                None => Err(ApiError::not_found("payment")),
            },
            "payments.list" => {
                let reference = form_urlencoded::parse(self.query.as_bytes())
                    .find(|(k, _)| k == "reference")
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(|| ApiError::missing("reference"))?;
                let found = engine.payments_by_reference(m, &reference).await?;
                let data: Vec<Value> = found.iter().map(payment_json).collect();
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"object": "list", "data": data}),
                ))
            }
            _ => match engine.refund_record(m, self.segs[2]).await? {
                Some(r) => Ok(json_response(StatusCode::OK, &json!(r))),
                None => Err(ApiError::not_found("refund")),
            },
        }
    }

    pub(super) async fn post(&self, request: Post, ticket: Option<Ticket>) -> Outcome {
        let answer = match request {
            Post::Create(body) => self.create(*body, ticket).await,
            Post::Capture(body) => self.capture(body, ticket).await,
            Post::Cancel(body) => self.cancel(body, ticket).await,
            Post::Refund(body) => self.refund(body, ticket).await,
            Post::Explain(body) => self.explain(*body).map(|response| Outcome {
                response,
                fate: Fate::Final,
            }),
        };
        answer.unwrap_or_else(|f| Outcome {
            response: error_response(&f.error),
            fate: f.fate,
        })
    }

    async fn create(&self, body: CreateBody, ticket: Option<Ticket>) -> Result<Outcome, Failure> {
        let mut input = body.into_payment()?;
        input.idempotency_key = ticket.as_ref().map(|t| t.key.clone());
        let engine = &self.state.engine;
        let pending = engine
            .create(&self.merchant.id, input, ticket)
            .await
            .map_err(engine_failure)?;
        let response = created_response(pending.value());
        commit(pending, response).await
    }

    async fn capture(&self, body: CaptureBody, ticket: Option<Ticket>) -> Result<Outcome, Failure> {
        let amount = body.into_amount(self.payment_currency().await?)?;
        let engine = &self.state.engine;
        let pending = engine
            .capture(&self.merchant.id, self.segs[2], amount, ticket)
            .await
            .map_err(engine_failure)?;
        let response = self.payment_answer(pending.value()).await;
        commit(pending, response).await
    }

    async fn cancel(&self, body: CancelBody, ticket: Option<Ticket>) -> Result<Outcome, Failure> {
        // `reason` is read so that a typo is refused, but the gateways'
        // voids take none and payroute records none.
        let CancelBody { reason: _ } = body;
        let engine = &self.state.engine;
        let pending = engine
            .cancel(&self.merchant.id, self.segs[2], ticket)
            .await
            .map_err(engine_failure)?;
        let response = self.payment_answer(pending.value()).await;
        commit(pending, response).await
    }

    async fn refund(&self, body: RefundBody, ticket: Option<Ticket>) -> Result<Outcome, Failure> {
        let input = body.into_refund(self.payment_currency().await?)?;
        let engine = &self.state.engine;
        let pending = engine
            .refund(
                &self.merchant.id,
                self.segs[2],
                input.amount,
                input.reason,
                ticket,
            )
            .await
            .map_err(engine_failure)?;
        let response = match done(pending.value()) {
            Ok(refund) => json_response(StatusCode::CREATED, &json!(refund)),
            Err(refused) => *refused,
        };
        commit(pending, response).await
    }

    /// The decision create would take, from the facts create would see.
    fn explain(&self, body: CreateBody) -> Result<HttpResponse, Failure> {
        let input = body.into_explained()?;
        let engine = &self.state.engine;
        let facts = engine.facts(&self.merchant.id, &input);
        let live = engine.live.load();
        let decision = engine.decide(&live, &facts);
        Ok(json_response(
            StatusCode::OK,
            &crate::routing::explain_json(&decision),
        ))
    }

    /// The currency of the payment named in the path; 404 when there is none.
    async fn payment_currency(&self) -> Result<Currency, Failure> {
        let p = self
            .state
            .engine
            .payment(&self.merchant.id, self.segs[2])
            .await?
            .ok_or_else(|| ApiError::not_found("payment"))?;
        Currency::from_code(&p.currency).ok_or_else(|| Failure {
            error: ApiError::internal("stored currency unknown"),
            fate: Fate::Final,
        })
    }

    /// A capture's or cancel's answer: the payment as GET shows it.
    async fn payment_answer(&self, r: &OpResult<Payment>) -> HttpResponse {
        let p = match done(r) {
            Ok(p) => p,
            Err(refused) => return *refused,
        };
        // The operation is done and recorded: a failed read of the disputes
        // must not turn it into an error that invites a retry. The list is
        // empty anyway for a payment that was only authorized until now.
        let disputes = match self.state.engine.disputes(&p.id).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, payment = %p.id, "disputes unreadable; answering none");
                Vec::new()
            }
        };
        json_response(StatusCode::OK, &payment_view(p, &disputes))
    }
}

/// Commits the operation's last unit with `response` stored under its key.
async fn commit<T>(pending: Pending<'_, T>, response: HttpResponse) -> Result<Outcome, Failure> {
    use http_body_util::BodyExt;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    pending
        .commit((parts.status.as_u16(), bytes.to_vec()))
        .await
        .map_err(engine_failure)?;
    Ok(Outcome {
        response: http::Response::from_parts(parts, http_body_util::Full::new(bytes)),
        fate: Fate::Stored,
    })
}

/// The API's answer to an engine error and the fate of its key: only a
/// route nobody can take is final; an unrecorded gateway call keeps its key
/// in flight; a key found taken answers as the key says; everything else
/// came before any gateway call.
fn engine_failure(e: EngineError) -> Failure {
    let fate = match &e {
        EngineError::Claim(claim) => Fate::Taken(claim.clone()),
        EngineError::NoRoute { .. } => Fate::Final,
        EngineError::Unrecorded(_) => Fate::Unrecorded,
        EngineError::NotFound
        | EngineError::InvalidState(_)
        | EngineError::AmountTooLarge(_)
        | EngineError::Busy
        | EngineError::Store(_) => Fate::Release,
    };
    Failure {
        error: e.into(),
        fate,
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

/// A payment as GET answers it: with `object` and its `disputes`.
fn payment_view(p: &Payment, disputes: &[Dispute]) -> Value {
    let mut v = payment_json(p);
    v["disputes"] = json!(disputes);
    v
}

/// A done operation's new state, or the answer to a gateway's refusal or
/// unavailability (nothing changed either way).
fn done<T>(r: &OpResult<T>) -> Result<&T, Box<HttpResponse>> {
    match r {
        OpResult::Done(t) => Ok(t),
        OpResult::Refused(_, code, message) => Err(Box::new(json_response(
            StatusCode::PAYMENT_REQUIRED,
            &json!({"error": {"type": "gateway_error", "code": code, "message": message}}),
        ))),
        OpResult::Unavailable(_, message) => {
            let mut resp = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": {"type": "gateway_error", "code": "gateway_unavailable", "message": message}}),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Err(Box::new(resp))
        }
    }
}
