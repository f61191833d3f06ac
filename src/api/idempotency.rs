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
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::{HttpResponse, bytes_response, request};
use crate::app::AppState;
use crate::store::{IdemClaim, IdemKey};

pub const HEADER: &str = "idempotency-key";
pub const TTL_SECS: i64 = 24 * 3600;

/// Runs `handler` under the request's idempotency key, if it has one.
pub async fn run<F, Fut>(
    state: &AppState,
    merchant_id: &str,
    headers: &HeaderMap,
    route: &str,
    path: &str,
    body: &Bytes,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let value = request::parse_json(body)?;
    let Some(key) = key(headers)? else {
        return handler(value).await;
    };
    let fingerprint = fingerprint(route, path, &value);
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
                return take_over_create(state, merchant_id, &key, since, value, handler).await;
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
            let resp = match handler(value).await {
                Ok(r) => r,
                Err(e) => super::error_response(&e),
            };
            settle(state, merchant_id, &key, resp).await
        }
    }
}

/// Stores the final response, or gives the key back when the failure was
/// transient and made no gateway call (busy payment, store down before any
/// call), so that a retry can run.
async fn settle(
    state: &AppState,
    merchant_id: &str,
    key: &str,
    resp: HttpResponse,
) -> Result<HttpResponse, ApiError> {
    let store = &state.engine.store;
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    // Like Stripe, a request refused before it did anything (validation,
    // unknown payment) is not stored: the client may fix it and reuse the key.
    let transient = matches!(parts.status.as_u16(), 400 | 404)
        || parts.status == StatusCode::SERVICE_UNAVAILABLE && is_code(&bytes, "store_unavailable")
        || parts.status == StatusCode::CONFLICT
            && (is_code(&bytes, "operation_in_progress")
                || is_code(&bytes, "payment_invalid_state"));
    // A gateway call whose outcome could not be recorded: the key stays in
    // flight (409 to retries) until the reconciler has settled the payment
    // and the stale-claim takeover answers with it; never a second call.
    let unrecorded =
        parts.status == StatusCode::SERVICE_UNAVAILABLE && is_code(&bytes, "outcome_not_recorded");
    let saved = if unrecorded {
        Ok(())
    } else if transient {
        store.release_idempotency(merchant_id, key).await
    } else {
        store
            .complete_idempotency(merchant_id, key, parts.status.as_u16(), &bytes)
            .await
    };
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
async fn take_over_create<F, Fut>(
    state: &AppState,
    merchant_id: &str,
    key: &str,
    since: i64,
    value: Value,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let store = &state.engine.store;
    match store
        .find_payment_by_idempotency_key(merchant_id, key)
        .await?
    {
        Some(p) if p.status == crate::payments::model::PaymentStatus::Processing => Err(in_use()),
        Some(p) => {
            let resp = super::created_response(&p);
            let resp = settle(state, merchant_id, key, resp).await?;
            Ok(resp)
        }
        None if store.retake_idempotency(merchant_id, key, since).await? => {
            let resp = match handler(value).await {
                Ok(r) => r,
                Err(e) => super::error_response(&e),
            };
            settle(state, merchant_id, key, resp).await
        }
        None => Err(in_use()),
    }
}

fn is_code(body: &[u8], code: &str) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/code")
                .and_then(Value::as_str)
                .map(|c| c == code)
        })
        .unwrap_or(false)
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

/// Route, path and the canonical body (keys sorted by serde_json's map), so
/// whitespace or key order do not make the same request look different.
fn fingerprint(route: &str, path: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body.to_string().as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprint_ignores_key_order_but_not_values() {
        let a = serde_json::json!({"amount": 1, "currency": "EUR"});
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "currency":"EUR","amount":1 }"#).unwrap();
        let c = serde_json::json!({"amount": 2, "currency": "EUR"});
        let f = |v| super::fingerprint("payments.create", "/v1/payments", v);
        assert_eq!(f(&a), f(&b));
        assert_ne!(f(&a), f(&c));
    }
}
