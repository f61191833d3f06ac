//! The sandbox gateway simulator (design §8): an in-memory test gateway that
//! speaks the Stripe (`/stripe/v1/...`), Adyen Checkout v71
//! (`/adyen/v71/...`) and Checkout.com (`/checkout/...`) dialects over real
//! HTTP, keeps a ledger of every charge
//! it accepted, honours gateway-side idempotency keys, sends signed webhooks
//! back and injects faults on demand.
//!
//! It is written from the vendors' API references only and is a crate of its
//! own that does not depend on payroute: it shares no wire types, parsing
//! code or currency table with payroute's connectors, so that it catches
//! their mistakes instead of agreeing with them. Each dialect reads amounts
//! with its gateway's own minor units (`currency`), which differ from ISO
//! 4217 and from each other. Card numbers live in
//! memory only, inside a redacting wrapper, and are never logged.
//!
//! # Lookups and cancels by the caller's own reference
//!
//! For recovering a charge whose answer was lost (timeout, reset):
//!
//! - Stripe `GET /stripe/v1/payment_intents/{id}`: the intent as it is now;
//!   404 `resource_missing` for an unknown id.
//! - Stripe `GET /stripe/v1/payment_intents/search?query=...&limit=N&page=...`:
//!   `{"object":"search_result","data":[PaymentIntent...],"has_more",
//!   "next_page","url":"/v1/payment_intents/search"}` (`total_count` with
//!   `expand[]=total_count`), newest first. The query language subset:
//!   `metadata['KEY']:'VALUE'` (single or double quotes, exact), `status:`,
//!   `currency:`, `amount` and `created` with `:`/`>`/`<`/`>=`/`<=`, `-` to
//!   negate, clauses joined by spaces/`AND` or by `OR` (not both), at most
//!   10. Anything else is 400 `invalid_request_error` (param `query`) saying
//!   what is supported. Real Stripe search is eventually consistent (new
//!   objects show up within about a minute); the sandbox answers from its
//!   current state at once, so read-after-write search that works here may
//!   miss on Stripe.
//! - Adyen `POST /adyen/v71/cancels` (`StandalonePaymentCancelRequest`:
//!   `merchantAccount` and `paymentReference` required, optional `reference`
//!   ≤ 80, no other fields): 201 `{merchantAccount, paymentReference,
//!   pspReference, reference, status:"received"}`. Every payment of that
//!   merchant account whose `reference` equals `paymentReference` gets a
//!   `TECHNICAL_CANCEL` notification (the spec names that event for
//!   `/cancels`; `pspReference` = the cancel's, `originalReference` = the
//!   payment's): authorised and uncaptured → voided, `success:"true"`;
//!   captured → `success:"false"`, reason `Payment already captured`, ledger
//!   untouched (refunding is `/reversals`' job); refused or already
//!   cancelled → `success:"false"`. With no such payment yet the cancel is
//!   remembered and applied to the first payment later created with that
//!   reference, right after its `AUTHORISATION` event: an approved one is
//!   voided at once (an auto-capture one is then never captured), though
//!   its `/payments` answer still says `Authorised`. `Idempotency-Key` works
//!   as on every Adyen POST.
//!
//! # Admin endpoints
//!
//! | route | effect |
//! | --- | --- |
//! | `GET /__sandbox/ledger[?dialect=stripe\|adyen\|checkout]` | `{"charges":[LedgerEntry...]}` |
//! | `DELETE /__sandbox/ledger` | forget all ledger entries |
//! | `POST /__sandbox/faults` | add a fault rule (JSON below), answers the rule with its `id` |
//! | `GET /__sandbox/faults` | `{"faults":[...]}` with each rule's remaining `count` |
//! | `DELETE /__sandbox/faults` | remove every fault rule |
//! | `POST /__sandbox/webhooks` | set or remove a dialect's webhook target (below) |
//! | `GET /__sandbox/webhooks` | targets (without secrets) and delivery counters |
//! | `POST /__sandbox/disputes/{pi_... or pspReference}/close` | `{"outcome":"won"\|"lost"}`: close the dispute, send the closing webhook |
//! | `POST /__sandbox/merchant-events` | a stand-in merchant backend: records the request (headers, raw body) and answers 200 |
//! | `GET /__sandbox/merchant-events` | `{"received":N,"events":[{"received_at","headers","body","event"}...]}`, oldest first, the newest 1000 kept |
//! | `DELETE /__sandbox/merchant-events` | forget the recorded deliveries |
//!
//! A ledger entry's `live` is true when the gateway accepted the charge and it
//! was not voided before capture (`authorized`, `captured`,
//! `partially_refunded`, `refunded`); `declined` and `voided` are not live.
//! `dispute_status` is `needs_response` once the dispute card was disputed,
//! then `won` or `lost`.
//!
//! # Fault injection
//!
//! `POST /__sandbox/faults` with
//! `{"dialect":"stripe"|"adyen"|"checkout"|"any", "mode":"...", "rate":0.0-1.0,
//! "count":N, "path_contains":"...", "latency_ms":N, "latency_ms_max":N}`.
//! `dialect` defaults to `any`, `rate` to 1, `count` to unlimited. Without `path_contains` a rule
//! matches only charge-creating calls (`POST /stripe/v1/payment_intents`,
//! `POST /stripe/v1/payment_intents/{id}/confirm`, `POST /adyen/v71/payments`,
//! `POST /checkout/payments`);
//! with it, any request of the dialect whose path contains the string
//! (captures, cancels, refunds, reads). The first matching rule wins; a rule
//! with a `count` expires after firing that many times, and a `rate` below 1
//! fires at random (seedable through `SandboxConfig::rng_seed`).
//!
//! | mode | what the client sees | ledger | idempotency cache |
//! | --- | --- | --- | --- |
//! | `latency` | the normal answer after `latency_ms`, or after a uniformly random time in `[latency_ms, latency_ms_max]` when `latency_ms_max` is given (seeded rng) | as normal | as normal; the key is held "in flight" during the sleep |
//! | `timeout_after_charge` | nothing: the connection stays open with no answer until the client gives up | charge recorded | real result stored: a retry with the same key replays the charge |
//! | `reset_after_charge` | TCP reset (RST, zero linger) with no answer | charge recorded | real result stored, as above |
//! | `500_after_charge` | 500 (Stripe `api_error`; Adyen `ServiceError` with header `transient-error: true`; Checkout.com no body) | charge recorded | Stripe stores and replays the 500 (it stores any result once execution began); Adyen and Checkout.com store the real result and replay it |
//! | `500_before_charge` | 500, nothing executed | nothing | nothing stored; a retry runs afresh |
//! | `503_before_charge` | 503, nothing executed | nothing | nothing stored |
//! | `429` | 429 (Stripe `invalid_request_error`/`rate_limit`; Adyen `ServiceError` errorCode `429`; Checkout.com no body) | nothing | nothing stored (decided before the idempotency layer) |
//! | `action_declined` | Checkout.com only (`"dialect":"checkout"` required; use `path_contains` such as `/captures`): the capture, void or refund answers 202, then its `payment_*_declined` event follows | untouched | the 202 is stored |
//!
//! After-charge modes act on delivery: a same-key retry that hits another
//! matching rule gets the same delivery fault on the replayed result, without
//! a second charge. Refused connections are not simulated; use a closed port.
//!
//! Webhook modes act on outbound webhook events instead of API requests
//! (`path_contains` is refused for them; the optional `event_contains`
//! matches the Stripe event type or Adyen eventCode, e.g. `"CAPTURE"`):
//!
//! | mode | effect |
//! | --- | --- |
//! | `webhook_duplicate` | the event is sent twice: identical body, same event id (a gateway retry) |
//! | `webhook_out_of_order` | the event is held and sent right after the next event of its dialect, or after 200 ms if none comes |
//! | `webhook_delay` | the event is sent after `latency_ms` (required); later events go first |
//! | `webhook_drop` | the event is never sent; counted in `dropped` |
//!
//! # Webhooks
//!
//! Every state change queues an event; a background sender per dialect
//! (started by [`start`], stopped by shutdown) POSTs them in creation order
//! to the target of the event's account (the Stripe secret key the object
//! was created with; the Adyen merchant account), else to the dialect's
//! default target, as the real gateways keep endpoints per account. Events
//! with nowhere to go stay queued and go out once a target is set. `POST
//! /__sandbox/webhooks` with `{"dialect":"stripe"|"adyen"|"checkout", "account":
//! "..."?, "url":"http://..."|null, "secret":"...", "username":"...",
//! "password":"...", "batch_size":N, "max_attempts":N}` (without
//! `account`: the whole dialect, every account's own target dropped; or
//! [`Sandbox::set_webhook_target`], [`Sandbox::set_account_webhook_target`],
//! [`Sandbox::set_webhook_delivery`]). A `null` url removes the target(s). An Adyen batch holds one account's items. Stripe's secret is the `whsec_...`
//! endpoint secret, used as-is as the HMAC key; Adyen's is the hex HMAC key;
//! Checkout.com's is the workflow's signature key, used as-is. A Checkout.com
//! account is its secret key, as for Stripe.
//! `username`/`password` (Adyen) add Basic auth; `batch_size` (Adyen only,
//! default 1) puts up to N queued items in one notification; `max_attempts`
//! defaults to 20.
//!
//! Any 2xx acknowledges (Adyen's `[accepted]` body is not required). A non-2xx
//! answer, connection error or 10 s timeout is retried with backoff 50 ms,
//! 100 ms, ... capped at 2 s; after `max_attempts` the delivery counts as
//! failed. Retries run in the background, so a retried event may arrive after
//! later ones (as with the real gateways). `GET /__sandbox/webhooks` answers
//! `{"targets":{...}, "account_targets":[{"dialect","account","url"}], "queued",
//! "held", "in_flight", "sent", "acknowledged",
//! "failed", "dropped", "dialects":{"stripe":{...},"adyen":{...},"checkout":{...}}}`; every
//! event has been settled when `queued + held + in_flight == 0`
//! ([`Sandbox::wait_for_webhooks`]). `sent` counts HTTP requests, the other
//! counters count events.
//!
//! Stripe: an Event object (`evt_...`, `api_version` `2024-06-20`,
//! `data.object` = the full PaymentIntent/Refund/Charge/Dispute as it was when
//! the event happened, `request.idempotency_key` of the causing call, null
//! for disputes), pretty-printed, with `Stripe-Signature:
//! t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (re-signed on each
//! attempt). Adyen: `{"live":"false","notificationItems":[...]}` whose items
//! carry `additionalData.hmacSignature` = base64 HMAC-SHA256 (hex-decoded
//! key) over `pspReference:originalReference:merchantAccountCode:
//! merchantReference:value:currency:eventCode:success`, with `success` and
//! `live` as strings.
//!
//! | what happened | Stripe `type` | Adyen `eventCode` (`pspReference` / `originalReference`) |
//! | --- | --- | --- |
//! | manual-capture authorisation | `payment_intent.amount_capturable_updated` | `AUTHORISATION` (payment / -), `operations` listed |
//! | auto-captured payment | `payment_intent.succeeded` | `AUTHORISATION` only |
//! | decline | `payment_intent.payment_failed` (with `last_payment_error`) | `AUTHORISATION` `success:"false"`, `reason` = refusal reason |
//! | capture | `payment_intent.succeeded` | `CAPTURE` (modification / payment) |
//! | cancel | `payment_intent.canceled` | `CANCELLATION` (modification / payment) |
//! | standalone cancel by reference (`/cancels`) | - | `TECHNICAL_CANCEL` (cancel request / payment) |
//! | refund | `refund.created` (pending), `refund.updated` (succeeded), `charge.refunded` | `REFUND` (modification / payment) |
//! | SEPA debit confirmed | `payment_intent.processing` | `AUTHORISATION` |
//! | dispute opened | `charge.dispute.created` (`needs_response`, `fraudulent`) | `CHARGEBACK` (chargeback / payment) |
//! | dispute closed won / lost | `charge.dispute.closed` (`won` / `lost`) | `CHARGEBACK_REVERSED` / `SECOND_CHARGEBACK` |
//!
//! Checkout.com: a workflow event `{"id":"evt_...","type","version",
//! "created_on","data":{"id":"pay_...","action_id","reference","amount",
//! "currency","response_code","response_summary","processed_on",
//! "metadata"},"_links"}` with `Cko-Signature` = hex HMAC-SHA256 of the raw
//! body. `data.reference` and `data.metadata` are the action's own when it
//! sent them (metadata merged over the payment's), so a refund's event
//! carries its `payroute_refund_id`. Types: `payment_approved` (then
//! `payment_captured` when `capture` was true, the default),
//! `payment_declined`, `payment_pending` (3DS), `payment_captured`,
//! `payment_voided`, `payment_refunded` (a reversal sends the void or refund
//! it became), and `payment_capture_declined` / `payment_void_declined` /
//! `payment_refund_declined` under the `action_declined` fault. Disputes are
//! not simulated for Checkout.com: its dispute card simply approves.
//!
//! Adyen modifications that cannot apply (capture of a refused payment, ...)
//! answer 201 `received` and send their event with `success:"false"`.
//! The dispute card `4000000000000259` approves; once the payment is captured
//! (automatically or manually) the dispute-opened event follows the capture
//! event. Replayed idempotent requests send no second event.
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
//!
//! Checkout.com: `Cko-Idempotency-Key` on POSTs, scoped per secret key. Only
//! 2xx results are stored and replayed (4xx/5xx are not, so a retry runs
//! afresh); while the first request still runs, 409 with no body; the same
//! key with another body or path, 422 `request_invalid` `idempotency_key_reused`
//! (our choice: the reference we read does not say).
//!
//! # Checkout.com
//!
//! `POST /checkout/payments` (`source` of type `card`, `token` `tok_...` or
//! `id` `src_...`; `amount`, `currency`, optional `reference` ≤ 80,
//! `capture` default true, `metadata`, `3ds.enabled`): 201 with `approved`,
//! `status` `Authorized`/`Captured`/`Declined`, `response_code` (`10000`;
//! declines `20005`, `20051`, `20054`, `20087` from the shared test cards),
//! 202 `Pending` with 3DS; 422 `request_invalid` with `error_codes`; 401
//! without a valid `Bearer sk_...` (or a bare `sk_...`). `GET
//! /checkout/payments/{id}` with `balances`; `GET
//! /checkout/payments?reference=R[&limit=N&skip=M]` → `{"limit","skip",
//! "total_count","data"}` newest first. `POST .../{id}/captures`, `/voids`,
//! `/refunds`, `/reversals` → 202 `{"action_id","reference","_links"}`; 404
//! for another account's or an unknown payment, 403 when the state forbids
//! the action, 422 `amount_exceeds_balance` above the balance. Amounts use
//! Checkout.com's own minor units (`currency`).

mod admin;
mod adyen;
mod cards;
mod checkout;
mod currency;
mod disputes;
mod faults;
mod form;
mod idempotency;
mod ledger;
mod merchant_events;
mod pipeline;
mod server;
mod state;
mod stripe;
mod webhook;
mod wire;

#[cfg(test)]
mod tests;

pub use disputes::{DisputeError, DisputeOutcome};
pub use faults::{FaultMode, FaultRule, FaultRuleError, FaultScope};
pub use ledger::{ChargeStatus, Dialect, LedgerEntry, OutboxEvent};
pub use server::{SandboxHandle, start};
pub use state::Sandbox;
pub use webhook::{DeliverySettings, WebhookError, WebhookStats, WebhookTarget};

/// How the sandbox authenticates callers. `None` accepts any well-formed key.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Expected Stripe secret key; `None` accepts any key starting `sk_`.
    pub stripe_api_key: Option<String>,
    /// Expected Adyen `X-API-Key`; `None` accepts any non-empty key.
    pub adyen_api_key: Option<String>,
    /// Expected Adyen `merchantAccount`; `None` accepts any non-empty value.
    pub adyen_merchant_account: Option<String>,
    /// Expected Checkout.com secret key; `None` accepts any key starting `sk_`.
    pub checkout_secret_key: Option<String>,
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
