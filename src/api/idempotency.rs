//! Idempotency for every POST (design §3): `Idempotency-Key` scoped per
//! merchant, kept 24 h. Same key and body → the stored response, replayed
//! with `Idempotent-Replayed: true`; same key while the first runs → 409;
//! same key, different body → 422. The claim is taken in the store before
//! the handler runs, so exactly one handler (and one gateway call) runs per
//! key whatever the concurrency, across replicas sharing a store.

use std::future::Future;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::{HttpResponse, bytes_response};
use crate::app::AppState;
use crate::domain::store::{IdemClaim, IdemResponse};
use crate::payments::Ticket;

pub const HEADER: &str = "idempotency-key";
pub const TTL_SECS: i64 = 24 * 3600;

/// What an answer means for its Idempotency-Key. The handler knows, so it
/// says; nothing here reads the answer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Final, and already stored under the key by the handler, in the same
    /// commit as the outcome it answers about.
    Stored,
    /// Final but written nowhere yet (a route nobody can take, an
    /// explanation): stored here, claiming the key in the same commit.
    Final,
    /// Refused before anything a retry could repeat (a bad body, an unknown
    /// payment, one busy or in the wrong state, the store down before any
    /// gateway call), and nothing was written under the key: like Stripe,
    /// the key stays free, so the client may fix the request and reuse it.
    Release,
    /// A gateway was called but its outcome could not be recorded: the key
    /// stays in flight (409 to retries) until the reconciler has settled the
    /// payment and the stale-claim takeover answers with it; never a second
    /// call.
    Unrecorded,
    /// The handler's claim, taken with its first write, found the key
    /// already used; nothing was written.
    Taken(IdemClaim),
}

/// A handler's answer and its [`Fate`].
pub struct Outcome {
    pub response: HttpResponse,
    pub fate: Fate,
}

/// Runs `handler` on the request `parse` reads, under the request's
/// idempotency key if it has one. The handler claims the key with its first
/// write (a [`Ticket`]), so a payment costs no commit of its own for the
/// claim; `parse` runs again only when a crashed request's key is taken
/// over. The request is fingerprinted by its canonical serialization.
#[allow(clippy::too_many_arguments)]
pub async fn run<R, P, F, Fut>(
    state: &AppState,
    merchant_id: &str,
    headers: &HeaderMap,
    route: &str,
    path: &str,
    parse: P,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    R: Serialize,
    P: Fn() -> Result<R, ApiError>,
    F: Fn(R, Option<Ticket>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let request = parse()?;
    let Some(key) = key(headers)? else {
        return Ok(handler(request, None).await.response);
    };
    let ticket = Ticket {
        merchant_id: merchant_id.to_string(),
        key,
        fingerprint: fingerprint(route, path, &request)?,
        ttl_secs: TTL_SECS,
        owned: false,
    };
    let outcome = handler(request, Some(ticket.clone())).await;
    let claim = match settle(state, &ticket, outcome).await {
        Settled::Answer(response) => return Ok(response),
        Settled::Taken(claim) => claim,
    };
    match claim {
        IdemClaim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut resp = bytes_response(status, Bytes::from(body));
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
        IdemClaim::InFlight { since } => {
            let stale =
                state.engine.clock.now_unix() - since >= state.idempotency_stale.as_secs() as i64;
            if stale && route == "payments.create" {
                let request = parse()?;
                return take_over_create(state, ticket, since, request, handler).await;
            }
            Err(in_use())
        }
        IdemClaim::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_error",
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request; use a new key",
        )),
        // Never a refusal; kept apart so that a bug cannot run twice.
        IdemClaim::Claimed => Err(in_use()),
    }
}

/// The answer to send, or the claim that found the key taken.
enum Settled {
    Answer(HttpResponse),
    Taken(IdemClaim),
}

/// Stores, gives back or keeps the key as the outcome's [`Fate`] says.
async fn settle(state: &AppState, ticket: &Ticket, outcome: Outcome) -> Settled {
    let Outcome { response, fate } = outcome;
    let engine = &state.engine;
    match fate {
        Fate::Stored | Fate::Unrecorded => Settled::Answer(response),
        Fate::Taken(claim) => Settled::Taken(claim),
        Fate::Final => {
            let (response, answer) = split(response, ticket).await;
            match engine.store_answer(ticket, answer).await {
                Ok(IdemClaim::Claimed) => Settled::Answer(response),
                Ok(taken) => Settled::Taken(taken),
                Err(e) => {
                    // The answer is true and no gateway was called: a retry
                    // runs again and comes to the same answer.
                    tracing::error!(error = %e, "could not store the idempotent response");
                    Settled::Answer(response)
                }
            }
        }
        Fate::Release if ticket.owned => {
            if let Err(e) = engine.release_key(ticket).await {
                // Only the key's reuse is lost: it stays in flight, and a
                // retry gets 409, never a second run.
                tracing::error!(error = %e, "could not release the Idempotency-Key");
            }
            Settled::Answer(response)
        }
        // A request refused before any write still owes an earlier one
        // with its key that request's answer.
        Fate::Release => match engine.peek_key(ticket).await {
            Ok(IdemClaim::Claimed) | Err(_) => Settled::Answer(response),
            Ok(taken) => Settled::Taken(taken),
        },
    }
}

/// The response rebuilt around its collected body, and that body as the
/// key's stored answer.
async fn split(response: HttpResponse, ticket: &Ticket) -> (HttpResponse, IdemResponse) {
    use http_body_util::BodyExt;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let answer = IdemResponse {
        merchant_id: ticket.merchant_id.clone(),
        key: ticket.key.clone(),
        status: parts.status.as_u16(),
        body: bytes.to_vec(),
    };
    let response = http::Response::from_parts(parts, http_body_util::Full::new(bytes));
    (response, answer)
}

fn in_use() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_error",
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still being processed; retry later",
    )
}

/// A create whose first request died with the process (its claim is older
/// than any request can run). If it made a payment, the retry gets that
/// payment once it is settled — never a second one; if it made none, the
/// retry runs in its place.
async fn take_over_create<R, F, Fut>(
    state: &AppState,
    mut ticket: Ticket,
    since: i64,
    request: R,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: Fn(R, Option<Ticket>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let engine = &state.engine;
    let (merchant_id, key) = (&ticket.merchant_id, &ticket.key);
    match engine.payment_by_key(merchant_id, key).await? {
        Some(p) if p.status == crate::domain::model::PaymentStatus::Processing => Err(in_use()),
        Some(p) => {
            let (response, answer) = split(super::created_response(&p), &ticket).await;
            if let Err(e) = engine.complete_key(&answer).await {
                // The response is true; only its replay is lost. The key
                // stays in flight, so a retry gets 409 rather than a second
                // charge.
                tracing::error!(error = %e, "could not store the idempotent response");
            }
            Ok(response)
        }
        None if engine.retake_key(merchant_id, key, since).await? => {
            ticket.owned = true;
            let outcome = handler(request, Some(ticket.clone())).await;
            match settle(state, &ticket, outcome).await {
                Settled::Answer(response) => Ok(response),
                // An owned key is never claimed again.
                Settled::Taken(_) => Err(in_use()),
            }
        }
        None => Err(in_use()),
    }
}

fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(HEADER) else {
        return Ok(None);
    };
    let k = v.to_str().map_err(|_| bad_key())?.trim();
    if k.is_empty() || k.len() > 255 {
        return Err(bad_key());
    }
    Ok(Some(k.to_string()))
}

fn bad_key() -> ApiError {
    ApiError::invalid(
        "idempotency_key_invalid",
        "Idempotency-Key",
        "Idempotency-Key must be 1 to 255 visible ASCII characters",
    )
}

/// Route, path and the parsed body's canonical serialization (see
/// `request::wire`), so whitespace or key order do not make the same
/// request look different.
fn fingerprint<R: Serialize>(route: &str, path: &str, request: &R) -> Result<String, ApiError> {
    let mut h = HashWriter(Sha256::new());
    h.0.update(route.as_bytes());
    h.0.update(b"\n");
    h.0.update(path.as_bytes());
    h.0.update(b"\n");
    // Serialized straight into the hash: no copy of the body is built.
    serde_json::to_writer(&mut h, request)
        .map_err(|e| ApiError::internal(format!("cannot fingerprint the request: {e}")))?;
    Ok(hex::encode(h.0.finalize()))
}

/// Feeds what is written into a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::fingerprint;
    use crate::api::request::CreateBody;

    const TOUR: &str = r#"{"amount": 1999, "currency": "EUR", "reference": "order-1",
        "capture": "manual", "metadata": {"b": "2", "a": "1"},
        "payment_method": {"type": "card", "card": {"number": "4242 4242 4242 4242",
            "exp_month": 12, "exp_year": 2030, "cvc": "123"}},
        "customer": {"id": "cus_1", "email": "a@example.com", "country": "DE"}}"#;

    fn create(body: &str) -> String {
        let parsed = CreateBody::parse(body.as_bytes()).unwrap();
        fingerprint("payments.create", "/v1/payments", &parsed).unwrap()
    }

    #[test]
    fn fingerprint_ignores_key_order_and_whitespace_but_not_values() {
        let a = create(r#"{"amount": 1, "currency": "EUR", "metadata": {"x": "1", "y": "2"}}"#);
        let b = create(r#"{ "metadata":{"y":"2","x":"1"},"currency":"EUR","amount":1 }"#);
        let c = create(r#"{"amount": 2, "currency": "EUR", "metadata": {"x": "1", "y": "2"}}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Keys claimed before bodies were typed (the fingerprint hashed the
    /// parsed `serde_json::Value`) still match their retries.
    #[test]
    fn fingerprint_equals_the_one_taken_from_a_parsed_value() {
        let value: serde_json::Value = serde_json::from_str(TOUR).unwrap();
        let mut h = Sha256::new();
        h.update(b"payments.create\n/v1/payments\n");
        h.update(value.to_string().as_bytes());
        assert_eq!(create(TOUR), hex::encode(h.finalize()));
    }
}
