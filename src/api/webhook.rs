//! HTTP face of `POST /webhooks/{gateway_id}`: maps verification and store
//! results to the status codes gateways act on, and counts them.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use super::error::ApiError;
use super::{HttpResponse, bytes_response};
use crate::app::AppState;
use crate::payments::inbound::InboundError;

pub async fn receive(
    state: &AppState,
    gateway_id: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let live = engine.live.load();
    let Some(gateway) = live.ruleset.gateway(gateway_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_gateway",
            format!("no gateway `{gateway_id}` is configured"),
        ));
    };
    let counter = |result: &str, n: usize| {
        engine
            .metrics
            .webhooks_received
            .with_label_values(&[gateway_id, result])
            .inc_by(n as u64)
    };
    match engine.receive_webhook(gateway, headers, body).await {
        Ok(ack) => {
            counter("accepted", ack.accepted);
            counter("duplicate", ack.duplicates);
            let mut resp = bytes_response(StatusCode::OK, Bytes::from_static(ack.body.as_bytes()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(ack.content_type),
            );
            Ok(resp)
        }
        Err(InboundError::Verify(e)) => {
            counter(e.metric_result(), 1);
            tracing::warn!(gateway = gateway_id, error = %e, "webhook refused");
            let status = if e.is_auth_failure() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(ApiError::new(
                status,
                "invalid_request_error",
                "webhook_verification_failed",
                e.to_string(),
            ))
        }
        // Not acknowledged: the gateway retries once it is configured.
        Err(e @ InboundError::NotConfigured(..)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "webhook_not_configured",
            e.to_string(),
        )),
        Err(InboundError::Store(e)) => {
            // Not acknowledged: the gateway delivers again later.
            tracing::error!(error = %e, gateway = gateway_id, "webhook not stored");
            Err(ApiError::store_unavailable())
        }
    }
}
