//! The ops listener: `/metrics`, `/livez`, `/readyz` (always open, for
//! scrapers and probes) and `/admin/*` (rules, deliveries, events,
//! gateways, reconcile). `/admin/*` takes `Bearer $PAYROUTE_ADMIN_TOKEN`
//! or, with mTLS on the ops listener, a verified client certificate; with
//! neither configured, `server` only lets the ops listener bind to loopback.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::{ClientCert, HttpResponse, error_response, json_response};
use crate::app::AppState;
use crate::domain::store::events::{DeliveryStatus, InboundStatus};

pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> HttpResponse {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/metrics") => {
            state.engine.refresh_store_metrics();
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
            let client_cert = req.extensions().get::<ClientCert>().is_some();
            if let Err(e) = admin_auth(&state, req.headers(), client_cert) {
                return error_response(&e);
            }
            match (req.method(), p) {
                (&Method::GET, "/admin/rules") => {
                    json_response(StatusCode::OK, &state.rules_status())
                }
                (&Method::POST, "/admin/rules/reload") => {
                    let report = state.reload("admin").await;
                    let status = if report["result"] == "failure" {
                        StatusCode::UNPROCESSABLE_ENTITY
                    } else {
                        StatusCode::OK
                    };
                    json_response(status, &report)
                }
                (&Method::GET, "/admin/deliveries") => deliveries(&state, req.uri().query()).await,
                (&Method::POST, p)
                    if p.starts_with("/admin/deliveries/") && p.ends_with("/redeliver") =>
                {
                    let id = &p["/admin/deliveries/".len()..p.len() - "/redeliver".len()];
                    redeliver(&state, id).await
                }
                (&Method::GET, "/admin/events") => events(&state, req.uri().query()).await,
                (&Method::GET, "/admin/gateways") => json_response(
                    StatusCode::OK,
                    &json!({
                        "gateways": state.engine.breakers.snapshot(),
                        "retry_budget": state.engine.budget.snapshot(),
                        "approval": state.engine.live.load().ruleset.gateways.iter()
                            .map(|g| (g.id.clone(), json!(state.engine.approvals.ratio(&g.id))))
                            .collect::<serde_json::Map<_, _>>(),
                    }),
                ),
                (&Method::POST, "/admin/reconcile") => match state.reconcile_now().await {
                    Ok(r) => json_response(StatusCode::OK, &json!(r)),
                    Err(e) => error_response(&e.into()),
                },
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
    // A probe must answer within its own timeout even when the store hangs.
    let ping = state.engine.store_ready();
    let store_ok = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), ping).await,
        Ok(true)
    );
    let ready = !draining && store_ok;
    let body = json!({
        "ready": ready,
        "rules_version": state.engine.live.load().ruleset.version,
        "store": if store_ok { "ok" } else { "unreachable" },
        "draining": draining,
    });
    json_response(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &body,
    )
}

/// A verified client certificate, or the admin token when one is set.
/// With neither configured the ops listener is loopback-only (see
/// `server::check_admin_protected`), and admin is open to this machine.
fn admin_auth(
    state: &AppState,
    headers: &http::HeaderMap,
    client_cert: bool,
) -> Result<(), ApiError> {
    if client_cert {
        return Ok(());
    }
    let Some(token) = &state.admin_token else {
        if state.admin_mtls {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "client_certificate_required",
                "/admin/* needs a client certificate signed by the ops listener's client CA",
            ));
        }
        return Ok(());
    };
    let given = super::bearer(headers).unwrap_or("");
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

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /admin/deliveries[?status=pending|delivered|failed]`.
async fn deliveries(state: &AppState, query: Option<&str>) -> HttpResponse {
    let status = match query_param(query, "status") {
        None => None,
        Some(s) => match DeliveryStatus::parse(&s) {
            Some(st) => Some(st),
            None => {
                return error_response(&ApiError::invalid(
                    "parameter_invalid",
                    "status",
                    "status must be pending, delivered or failed",
                ));
            }
        },
    };
    match state.engine.deliveries(status).await {
        Ok(list) => json_response(StatusCode::OK, &json!({"data": list})),
        Err(e) => error_response(&e.into()),
    }
}

/// `POST /admin/deliveries/{id}/redeliver`: back to pending, due now.
async fn redeliver(state: &AppState, id: &str) -> HttpResponse {
    match state.engine.redeliver(id).await {
        Ok(Some(d)) => json_response(StatusCode::OK, &json!(d)),
        Ok(None) => error_response(&ApiError::not_found("delivery")),
        Err(e) => error_response(&e.into()),
    }
}

/// `GET /admin/events?status=orphan|received|applied|ignored`: stored gateway events.
async fn events(state: &AppState, query: Option<&str>) -> HttpResponse {
    let status = query_param(query, "status").unwrap_or_else(|| "orphan".into());
    let Some(status) = InboundStatus::parse(&status) else {
        return error_response(&ApiError::invalid(
            "parameter_invalid",
            "status",
            "status must be received, applied, orphan or ignored",
        ));
    };
    match state.engine.gateway_events(status).await {
        Ok(list) => {
            let data: Vec<_> = list
                .iter()
                .map(|e| json!({"id": e.id, "gateway": e.gateway_id, "provider_event_id": e.provider_event_id,
                    "status": e.status, "note": e.note, "received_at": e.received_at}))
                .collect();
            json_response(StatusCode::OK, &json!({"data": data}))
        }
        Err(e) => error_response(&e.into()),
    }
}
