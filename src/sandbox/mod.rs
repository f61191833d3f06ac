//! The sandbox gateway simulator (design §8): an in-memory test gateway that
//! speaks the Stripe (`/stripe/v1/...`) and Adyen Checkout v71
//! (`/adyen/v71/...`) dialects over real HTTP, keeps a ledger of every charge
//! it accepted, honours gateway-side idempotency keys and injects faults on
//! demand.
//!
//! It is written from the vendors' API references only and shares no wire
//! types or parsing code with `crate::connectors`, so that it catches the
//! connectors' mistakes instead of agreeing with them. Card numbers live in
//! memory only, inside a redacting wrapper, and are never logged.
//!
//! # Admin endpoints
//!
//! | route | effect |
//! | --- | --- |
//! | `GET /__sandbox/ledger[?dialect=stripe\|adyen]` | `{"charges":[LedgerEntry...]}` |
//! | `DELETE /__sandbox/ledger` | forget all ledger entries |
//! | `POST /__sandbox/faults` | add a fault rule (JSON below), answers the rule with its `id` |
//! | `GET /__sandbox/faults` | `{"faults":[...]}` with each rule's remaining `count` |
//! | `DELETE /__sandbox/faults` | remove every fault rule |
//!
//! A ledger entry's `live` is true when the gateway accepted the charge and it
//! was not voided before capture (`authorized`, `captured`,
//! `partially_refunded`, `refunded`); `declined` and `voided` are not live.
//!
//! # Fault injection
//!
//! `POST /__sandbox/faults` with
//! `{"dialect":"stripe"|"adyen"|"any", "mode":"...", "rate":0.0-1.0,
//! "count":N, "path_contains":"...", "latency_ms":N}`. `dialect` defaults to
//! `any`, `rate` to 1, `count` to unlimited. Without `path_contains` a rule
//! matches only charge-creating calls (`POST /stripe/v1/payment_intents`,
//! `POST /stripe/v1/payment_intents/{id}/confirm`, `POST /adyen/v71/payments`);
//! with it, any request of the dialect whose path contains the string
//! (captures, cancels, refunds, reads). The first matching rule wins; a rule
//! with a `count` expires after firing that many times, and a `rate` below 1
//! fires at random (seedable through `SandboxConfig::rng_seed`).
//!
//! | mode | what the client sees | ledger | idempotency cache |
//! | --- | --- | --- | --- |
//! | `latency` | the normal answer after `latency_ms` | as normal | as normal; the key is held "in flight" during the sleep |
//! | `timeout_after_charge` | nothing: the connection stays open with no answer until the client gives up | charge recorded | real result stored: a retry with the same key replays the charge |
//! | `reset_after_charge` | TCP reset (RST, zero linger) with no answer | charge recorded | real result stored, as above |
//! | `500_after_charge` | 500 (Stripe `api_error`; Adyen `ServiceError` with header `transient-error: true`) | charge recorded | Stripe stores and replays the 500 (it stores any result once execution began); Adyen stores the real result and replays it |
//! | `500_before_charge` | 500, nothing executed | nothing | nothing stored; a retry runs afresh |
//! | `503_before_charge` | 503, nothing executed | nothing | nothing stored |
//! | `429` | 429 (Stripe `invalid_request_error`/`rate_limit`; Adyen `ServiceError` errorCode `429`) | nothing | nothing stored (decided before the idempotency layer) |
//!
//! After-charge modes act on delivery: a same-key retry that hits another
//! matching rule gets the same delivery fault on the replayed result, without
//! a second charge. Refused connections are not simulated; use a closed port.
//!
//! # Idempotency
//!
//! Stripe: `Idempotency-Key` on POSTs, scoped per API key. The first result
//! is stored (2xx, 402 card errors and 500s alike) and replayed with
//! `Idempotent-Replayed: true`; the same key with other parameters or another
//! path gives 400 `idempotency_error`; while the first request still runs,
//! 409 `idempotency_key_in_use`. Validation failures (400/404) are not stored.
//!
//! Adyen: `Idempotency-Key` (≤ 64 characters, else 400 errorCode `702`),
//! scoped per API key, echoed on every answer. The same key with the same
//! body replays the first result; with another body or path, 422 errorCode
//! `704` ("request already processed or in progress"); while the first request
//! still runs, the same 422 `704` plus header `transient-error: true` (Adyen's
//! marker that a later retry is safe). Adyen's exact in-flight code is not
//! documented in our references; this choice is ours. 422 validation errors
//! are not stored.

mod admin;
mod adyen;
mod cards;
mod faults;
mod form;
mod idempotency;
mod ledger;
mod pipeline;
mod server;
mod state;
mod stripe;
mod wire;

#[cfg(test)]
mod tests;

pub use faults::{FaultMode, FaultRule, FaultRuleError, FaultScope};
pub use ledger::{ChargeStatus, Dialect, LedgerEntry, OutboxEvent};
pub use server::{SandboxHandle, start};
pub use state::Sandbox;

/// How the sandbox authenticates callers. `None` accepts any well-formed key.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Expected Stripe secret key; `None` accepts any key starting `sk_`.
    pub stripe_api_key: Option<String>,
    /// Expected Adyen `X-API-Key`; `None` accepts any non-empty key.
    pub adyen_api_key: Option<String>,
    /// Expected Adyen `merchantAccount`; `None` accepts any non-empty value.
    pub adyen_merchant_account: Option<String>,
    /// Seed for ids and fault rates, so a failing run replays exactly.
    pub rng_seed: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox listener: {0}")]
    Listener(#[source] std::io::Error),
    #[error("sandbox is shutting down")]
    ShuttingDown,
}
