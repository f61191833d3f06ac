//! The ops listener: `/metrics`, `/livez`, `/readyz` and `/admin/*` (rules
//! status and reload). `/admin/*` asks for `Bearer $PAYROUTE_ADMIN_TOKEN`
//! when that is set.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::{HttpResponse, error_response, json_response};
use crate::server::AppState;

pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> HttpResponse {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/metrics") => {
            let mut resp = Response::new(Full::new(Bytes::from(state.engine.metrics.render())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        (&Method::GET, "/livez") => json_response(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, "/readyz") => readyz(&state).await,
        (_, p) if p.starts_with("/admin/") => {
            if let Err(e) = admin_auth(&state, req.headers()) {
                return error_response(&e);
            }
            match (req.method(), p) {
                (&Method::GET, "/admin/rules") => json_response(StatusCode::OK, &state.rules_status()),
                (&Method::POST, "/admin/rules/reload") => {
                    let report = state.reload("admin").await;
                    let status = if report["result"] == "failure" {
                        StatusCode::UNPROCESSABLE_ENTITY
                    } else {
                        StatusCode::OK
                    };
                    json_response(status, &report)
                }
                _ => error_response(&not_found(p)),
            }
        }
        (_, p) => error_response(&not_found(p)),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "route_not_found",
        format!("no such endpoint: {path}"),
    )
}

async fn readyz(state: &AppState) -> HttpResponse {
    let draining = state.draining.load(Ordering::SeqCst);
    let store_ok = state.engine.store.ping().await.is_ok();
    let ready = !draining && store_ok;
    let body = json!({
        "ready": ready,
        "rules_version": state.engine.live.load().ruleset.version,
        "store": if store_ok { "ok" } else { "unreachable" },
        "draining": draining,
    });
    json_response(
        if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
        &body,
    )
}

fn admin_auth(state: &AppState, headers: &http::HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_admin_token",
            "send `Authorization: Bearer $PAYROUTE_ADMIN_TOKEN`",
        ))
    }
}
