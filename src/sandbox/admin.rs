//! The test-facing `/__sandbox/*` endpoints: ledger and fault plan.

use http::{Method, StatusCode};
use serde_json::json;

use super::faults::FaultRule;
use super::ledger::Dialect;
use super::state::Sandbox;
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
        _ => bad(StatusCode::NOT_FOUND, "unknown sandbox admin route"),
    }
}

fn ledger(sb: &Sandbox, req: &SimRequest) -> SimReply {
    let charges = match req.query_param("dialect").as_deref() {
        None => sb.ledger(),
        Some("stripe") => sb.ledger_for(Dialect::Stripe),
        Some("adyen") => sb.ledger_for(Dialect::Adyen),
        Some(_) => return bad(StatusCode::BAD_REQUEST, "dialect must be stripe or adyen"),
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
