//! Idempotency for every POST (design §3): `Idempotency-Key` scoped per
//! merchant, kept 24 h. Same key and body → the stored response, replayed
//! with `Idempotent-Replayed: true`; same key while the first runs → 409;
//! same key, different body → 422. The claim is taken in the store before
//! the handler runs, so exactly one handler (and one gateway call) runs per
//! key whatever the concurrency, across replicas sharing a store.

use std::future::Future;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::{HttpResponse, bytes_response};
use crate::app::AppState;
use crate::store::{IdemClaim, IdemKey};

pub const HEADER: &str = "idempotency-key";
pub const TTL_SECS: i64 = 24 * 3600;

/// What an answer means for its Idempotency-Key. The handler knows, so it
/// says; nothing here reads the answer back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The answer is final: stored and replayed to every retry.
    Final,
    /// Refused before anything a retry could repeat (a bad body, an unknown
    /// payment, one busy or in the wrong state, the store down before any
    /// gateway call): like Stripe, the key is given back, so the client may
    /// fix the request and reuse it.
    Release,
    /// A gateway was called but its outcome could not be recorded: the key
    /// stays in flight (409 to retries) until the reconciler has settled the
    /// payment and the stale-claim takeover answers with it; never a second
    /// call.
    Unrecorded,
}

/// A handler's answer and its [`Fate`].
pub struct Outcome {
    pub response: HttpResponse,
    pub fate: Fate,
}

/// Runs `handler` on the parsed `request` under the request's idempotency
/// key, if it has one. `request` is fingerprinted by its canonical
/// serialization.
pub async fn run<R, F, Fut>(
    state: &AppState,
    merchant_id: &str,
    headers: &HeaderMap,
    route: &str,
    path: &str,
    request: R,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    R: Serialize,
    F: FnOnce(R) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let Some(key) = key(headers)? else {
        return Ok(handler(request).await.response);
    };
    let fingerprint = fingerprint(route, path, &request)?;
    let store = &state.engine.store;
    let claim = store
        .claim_idempotency(IdemKey {
            merchant_id,
            key: &key,
            fingerprint: &fingerprint,
            ttl_secs: TTL_SECS,
        })
        .await?;
    match claim {
        IdemClaim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut resp = bytes_response(status, Bytes::from(body));
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
        IdemClaim::InFlight { since } => {
            let stale = crate::payments::ids::now_unix() - since
                >= state.idempotency_stale.as_secs() as i64;
            if stale && route == "payments.create" {
                return take_over_create(state, merchant_id, &key, since, request, handler).await;
            }
            Err(in_use())
        }
        IdemClaim::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_error",
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request; use a new key",
        )),
        IdemClaim::Claimed => {
            let outcome = handler(request).await;
            settle(state, merchant_id, &key, outcome).await
        }
    }
}

/// Stores, gives back or keeps the key as the outcome's [`Fate`] says.
async fn settle(
    state: &AppState,
    merchant_id: &str,
    key: &str,
    outcome: Outcome,
) -> Result<HttpResponse, ApiError> {
    let Outcome { response, fate } = outcome;
    match fate {
        Fate::Final => store_final(state, merchant_id, key, response).await,
        Fate::Release => {
            if let Err(e) = state
                .engine
                .store
                .release_idempotency(merchant_id, key)
                .await
            {
                // Only the key's reuse is lost: it stays in flight, and a
                // retry gets 409, never a second run.
                tracing::error!(error = %e, "could not release the Idempotency-Key");
            }
            Ok(response)
        }
        Fate::Unrecorded => Ok(response),
    }
}

async fn store_final(
    state: &AppState,
    merchant_id: &str,
    key: &str,
    response: HttpResponse,
) -> Result<HttpResponse, ApiError> {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let saved = state
        .engine
        .store
        .complete_idempotency(merchant_id, key, parts.status.as_u16(), &bytes)
        .await;
    if let Err(e) = saved {
        // The response is true; only its replay is lost. The key stays
        // in flight, so a retry gets 409 rather than a second charge.
        tracing::error!(error = %e, "could not store the idempotent response");
    }
    Ok(http::Response::from_parts(
        parts,
        http_body_util::Full::new(bytes),
    ))
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
    merchant_id: &str,
    key: &str,
    since: i64,
    request: R,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(R) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let store = &state.engine.store;
    match store
        .find_payment_by_idempotency_key(merchant_id, key)
        .await?
    {
        Some(p) if p.status == crate::payments::model::PaymentStatus::Processing => Err(in_use()),
        Some(p) => {
            let response = super::created_response(&p);
            store_final(state, merchant_id, key, response).await
        }
        None if store.retake_idempotency(merchant_id, key, since).await? => {
            let outcome = handler(request).await;
            settle(state, merchant_id, key, outcome).await
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
    let body = serde_json::to_vec(request)
        .map_err(|e| ApiError::internal(format!("cannot fingerprint the request: {e}")))?;
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(&body);
    Ok(hex::encode(h.finalize()))
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
