//! The test-facing `/__sandbox/*` endpoints: ledger, fault plan, webhook
//! targets and counters, dispute outcomes, the merchant-events receiver.

use http::{Method, StatusCode};
use serde_json::json;

use super::disputes::{CloseRequest, DisputeError};
use super::faults::FaultRule;
use super::ledger::Dialect;
use super::state::{Sandbox, lock};
use super::wire::{SimReply, SimRequest};

pub(crate) fn handle(sb: &Sandbox, req: &SimRequest) -> SimReply {
    match (&req.method, req.full_path.as_str()) {
        (&Method::GET, "/__sandbox/ledger") => ledger(sb, req),
        (&Method::DELETE, "/__sandbox/ledger") => {
            sb.clear_ledger();
            SimReply::json(StatusCode::OK, &json!({"cleared": true}))
        }
        (&Method::GET, "/__sandbox/faults") => {
            SimReply::json(StatusCode::OK, &json!({"faults": sb.faults()}))
        }
        (&Method::POST, "/__sandbox/faults") => add_fault(sb, req),
        (&Method::DELETE, "/__sandbox/faults") => {
            sb.clear_faults();
            SimReply::json(StatusCode::OK, &json!({"cleared": true}))
        }
        (&Method::GET, "/__sandbox/webhooks") => {
            SimReply::json(StatusCode::OK, &sb.webhook_report())
        }
        (&Method::POST, "/__sandbox/webhooks") => match sb.configure_webhooks(&req.body) {
            Ok(report) => SimReply::json(StatusCode::OK, &report),
            Err(e) => bad(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        (&Method::POST, "/__sandbox/merchant-events") => {
            lock(&sb.merchant_events).record(&req.headers, &req.body);
            SimReply::json(StatusCode::OK, &json!({"received": true}))
        }
        (&Method::GET, "/__sandbox/merchant-events") => {
            SimReply::json(StatusCode::OK, &lock(&sb.merchant_events).report())
        }
        (&Method::DELETE, "/__sandbox/merchant-events") => {
            lock(&sb.merchant_events).clear();
            SimReply::json(StatusCode::OK, &json!({"cleared": true}))
        }
        (&Method::POST, path) => match dispute_to_close(path) {
            Some(payment) => close_dispute(sb, payment, req),
            None => bad(StatusCode::NOT_FOUND, "unknown sandbox admin route"),
        },
        _ => bad(StatusCode::NOT_FOUND, "unknown sandbox admin route"),
    }
}

/// The payment id in `/__sandbox/disputes/{id}/close`.
fn dispute_to_close(path: &str) -> Option<&str> {
    let id = path
        .strip_prefix("/__sandbox/disputes/")?
        .strip_suffix("/close")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn close_dispute(sb: &Sandbox, payment: &str, req: &SimRequest) -> SimReply {
    let request: CloseRequest = match serde_json::from_slice(&req.body) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("expected {{\"outcome\":\"won\"|\"lost\"}}: {e}");
            return bad(StatusCode::BAD_REQUEST, &message);
        }
    };
    match sb.close_dispute(payment, request.outcome) {
        Ok(dispute) => SimReply::json(StatusCode::OK, &dispute),
        Err(e @ DisputeError::NotFound(_)) => bad(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ DisputeError::AlreadyClosed(_)) => bad(StatusCode::CONFLICT, &e.to_string()),
    }
}

fn ledger(sb: &Sandbox, req: &SimRequest) -> SimReply {
    let charges = match req.query_param("dialect").as_deref() {
        None => sb.ledger(),
        Some("stripe") => sb.ledger_for(Dialect::Stripe),
        Some("adyen") => sb.ledger_for(Dialect::Adyen),
        Some("checkout") => sb.ledger_for(Dialect::Checkout),
        Some(_) => {
            return bad(
                StatusCode::BAD_REQUEST,
                "dialect must be stripe, adyen or checkout",
            );
        }
    };
    SimReply::json(StatusCode::OK, &json!({"charges": charges}))
}

fn add_fault(sb: &Sandbox, req: &SimRequest) -> SimReply {
    let rule: FaultRule = match serde_json::from_slice(&req.body) {
        Ok(rule) => rule,
        Err(e) => return bad(StatusCode::BAD_REQUEST, &format!("invalid fault rule: {e}")),
    };
    match sb.add_fault(rule) {
        Ok(rule) => SimReply::json(StatusCode::CREATED, &json!(rule)),
        Err(e) => bad(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn bad(status: StatusCode, message: &str) -> SimReply {
    SimReply::json(status, &json!({"error": message}))
}
