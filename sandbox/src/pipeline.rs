//! The request pipeline every dialect shares, in the real gateways' order:
//! authentication, then faults decided before execution (429, 5xx before
//! charge), then the idempotency layer, then execution, then faults on
//! delivery (timeout, reset, 500 after charge).

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;

use super::admin;
use super::adyen::AdyenApi;
use super::checkout::CheckoutApi;
use super::faults::{FaultMode, FaultRule};
use super::idempotency::{Begin, Fingerprint, ScopedKey};
use super::ledger::Dialect;
use super::state::{Sandbox, lock};
use super::stripe::StripeApi;
use super::wire::{Delivery, SimReply, SimRequest};

/// The outcome of executing a request, before delivery faults.
#[derive(Debug)]
pub(crate) struct Executed {
    pub reply: SimReply,
    /// Whether the gateway's idempotency layer keeps this result.
    pub storable: bool,
}

/// Why a keyed request was refused by the idempotency layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conflict {
    InFlight,
    Mismatch { same_target: bool },
}

/// One gateway dialect's answers to the pipeline's questions.
pub(crate) trait DialectApi {
    const DIALECT: Dialect;
    /// The caller's account (API key), or the dialect's 401.
    fn authenticate(sb: &Sandbox, req: &SimRequest) -> Result<String, SimReply>;
    fn is_charge_creating(req: &SimRequest) -> bool;
    /// The dialect's answer for a fault that replaces the response.
    fn fault_reply(mode: FaultMode) -> SimReply;
    /// The idempotency key and request fingerprint, if the request has a key.
    fn idempotency(req: &SimRequest) -> Result<Option<(String, Fingerprint)>, SimReply>;
    fn conflict_reply(conflict: Conflict, key: &str) -> SimReply;
    fn mark_replay(reply: SimReply) -> SimReply;
    /// Whether a 500 after the charge is itself the stored result (Stripe)
    /// or the real result is kept (Adyen treats 5xx as transient).
    const STORES_AFTER_CHARGE_500: bool;
    /// Runs the request; `fault` is the rule's mode that matched it, for
    /// the modes a dialect applies while executing (`action_declined`).
    fn execute(
        sb: &Sandbox,
        req: &SimRequest,
        key: Option<&str>,
        fault: Option<FaultMode>,
    ) -> Executed;
    /// Headers every answer carries (request ids, key echo).
    fn finish(sb: &Sandbox, reply: SimReply, key: Option<&str>) -> SimReply;
}

/// Entry point from the HTTP layer.
pub(crate) async fn handle(sb: Arc<Sandbox>, mut req: SimRequest) -> Delivery {
    let full = req.full_path.clone();
    if full.starts_with("/__sandbox/") {
        return Delivery::Respond(admin::handle(&sb, &req));
    }
    if let Some(rest) = full.strip_prefix("/stripe") {
        req.path = rest.to_string();
        return run::<StripeApi>(sb, req).await;
    }
    if let Some(rest) = full.strip_prefix("/adyen/v71") {
        req.path = rest.to_string();
        return run::<AdyenApi>(sb, req).await;
    }
    if let Some(rest) = full.strip_prefix("/checkout") {
        req.path = rest.to_string();
        return run::<CheckoutApi>(sb, req).await;
    }
    Delivery::Respond(SimReply::json(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("no sandbox route for {full}")}),
    ))
}

/// Releases an in-flight idempotency key if the request dies (client gone)
/// before its result is stored.
struct KeyGuard {
    sb: Arc<Sandbox>,
    key: Option<ScopedKey>,
}

impl KeyGuard {
    fn finish(mut self, reply: Option<SimReply>) {
        if let Some(key) = self.key.take() {
            lock(&self.sb.idem).finish(&key, reply);
        }
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.sb.idem).abandon(&key);
        }
    }
}

async fn run<D: DialectApi>(sb: Arc<Sandbox>, req: SimRequest) -> Delivery {
    let respond =
        |reply: SimReply, key: Option<&str>| Delivery::Respond(D::finish(&sb, reply, key));
    let scope = match D::authenticate(&sb, &req) {
        Ok(scope) => scope,
        Err(reply) => return respond(reply, None),
    };
    let fault = sb.pick_fault(D::DIALECT, &req.full_path, D::is_charge_creating(&req));
    let mode = fault.as_ref().map(|f| f.mode);
    if let Some(mode) = mode.filter(|m| m.is_before_charge()) {
        return respond(D::fault_reply(mode), None);
    }
    let keyed = match D::idempotency(&req) {
        Ok(keyed) => keyed,
        Err(reply) => return respond(reply, None),
    };
    let key = keyed.as_ref().map(|(k, _)| k.clone());
    let mut guard = None;
    let mut replayed = None;
    if let Some((k, fingerprint)) = keyed {
        let scoped = ScopedKey {
            dialect: D::DIALECT,
            scope,
            key: k.clone(),
        };
        let begin = lock(&sb.idem).begin(&scoped, fingerprint);
        match begin {
            Begin::Fresh => {
                guard = Some(KeyGuard {
                    sb: sb.clone(),
                    key: Some(scoped),
                })
            }
            Begin::Replay(reply) => replayed = Some(D::mark_replay(reply)),
            Begin::InFlight => return respond(D::conflict_reply(Conflict::InFlight, &k), Some(&k)),
            Begin::Mismatch { same_target } => {
                return respond(
                    D::conflict_reply(Conflict::Mismatch { same_target }, &k),
                    Some(&k),
                );
            }
        }
    }
    sleep_if_latency(&sb, fault.as_ref()).await;
    let reply = match replayed {
        Some(reply) => reply,
        None => {
            let executed = D::execute(&sb, &req, key.as_deref(), mode);
            let stored = stored_result::<D>(mode, &executed);
            if let Some(guard) = guard.take() {
                guard.finish(stored);
            }
            executed.reply
        }
    };
    deliver::<D>(&sb, mode, reply, key.as_deref())
}

/// What the idempotency layer keeps for a fresh execution.
fn stored_result<D: DialectApi>(mode: Option<FaultMode>, executed: &Executed) -> Option<SimReply> {
    if mode == Some(FaultMode::Error500AfterCharge) && D::STORES_AFTER_CHARGE_500 {
        return Some(D::fault_reply(FaultMode::Error500AfterCharge));
    }
    executed.storable.then(|| executed.reply.clone())
}

fn deliver<D: DialectApi>(
    sb: &Sandbox,
    mode: Option<FaultMode>,
    reply: SimReply,
    key: Option<&str>,
) -> Delivery {
    match mode {
        Some(FaultMode::TimeoutAfterCharge) => Delivery::Hang,
        Some(FaultMode::ResetAfterCharge) => Delivery::Reset,
        Some(FaultMode::Error500AfterCharge) => Delivery::Respond(D::finish(
            sb,
            D::fault_reply(FaultMode::Error500AfterCharge),
            key,
        )),
        _ => Delivery::Respond(D::finish(sb, reply, key)),
    }
}

async fn sleep_if_latency(sb: &Sandbox, fault: Option<&FaultRule>) {
    if let Some(rule) = fault.filter(|f| f.mode == FaultMode::Latency) {
        tokio::time::sleep(sb.latency_of(rule)).await;
    }
}
