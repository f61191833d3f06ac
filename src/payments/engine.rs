//! The payment orchestrator: for a new payment it asks routing for the
//! candidates, writes the attempt before each gateway call, classifies the
//! outcome, fails over only when the gateway provably did not process the
//! request, and records the result. Capture, cancel and refund live in
//! `operations.rs` and always go to the gateway that holds the payment.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use hmac::{KeyInit, Mac};
use rand::RngExt;

use super::records::{
    apply_authorization, attempt_fields, failure_of, new_attempt, new_payment_record,
};
use super::unit::{Pending, Ticket, Unit};
use crate::connectors::{AuthorizeRequest, Connector, HttpClient};
use crate::domain::clock::{Clock, Timestamp};
use crate::domain::facts::{MethodKind, PaymentFacts};
use crate::domain::method::{CardData, MethodData};
use crate::domain::model::*;
use crate::domain::money::Currency;
use crate::domain::outcome::Outcome;
use crate::domain::sensitive::Sensitive;
use crate::domain::store::{AttemptFinish, Store, StoreError};
use crate::domain::vault::CredentialUse;
use crate::health::{Admission, ApprovalWindows, BreakerConfig, Breakers, RetryBudget, Signal};
use crate::metrics::Metrics;
use crate::risk::Velocity;
use crate::routing::Ruleset;
use crate::routing::{Decision, Strategy};

/// The active ruleset with a connector per configured gateway. Swapped whole;
/// a payment holds its own `Arc<Live>` and finishes on the ruleset it began with.
pub struct Live {
    pub ruleset: Arc<Ruleset>,
    pub connectors: HashMap<String, Connector>,
    pub loaded_at: String,
}

impl Live {
    /// `loaded_at` is when the ruleset was loaded, from the service's clock.
    pub fn build(ruleset: Ruleset, client: &HttpClient, loaded_at: Timestamp) -> Live {
        let connectors = ruleset
            .gateways
            .iter()
            .map(|g| {
                (
                    g.id.clone(),
                    Connector::new(g.connector_settings(), client.clone()),
                )
            })
            .collect();
        Live {
            ruleset: Arc::new(ruleset),
            connectors,
            loaded_at: loaded_at.rfc3339(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Customer {
    pub id: Option<String>,
    pub email: Option<String>,
    pub country: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone)]
pub enum MethodInput {
    Card(CardData),
    Tokens(BTreeMap<String, Sensitive>),
    Wallet(MethodKind, Sensitive),
    Sepa { iban: Sensitive, owner_name: String },
}

impl MethodInput {
    pub fn kind(&self) -> MethodKind {
        match self {
            MethodInput::Card(_) => MethodKind::Card,
            MethodInput::Tokens(_) => MethodKind::GatewayToken,
            MethodInput::Wallet(k, _) => *k,
            MethodInput::Sepa { .. } => MethodKind::SepaDebit,
        }
    }

    /// What the chosen gateway receives.
    fn for_gateway(&self, gateway: &str) -> Option<MethodData> {
        Some(match self {
            MethodInput::Card(c) => MethodData::Card(c.clone()),
            MethodInput::Tokens(t) => MethodData::GatewayToken(t.get(gateway)?.clone()),
            MethodInput::Wallet(MethodKind::GooglePay, t) => MethodData::GooglePay(t.clone()),
            MethodInput::Wallet(_, t) => MethodData::ApplePay(t.clone()),
            MethodInput::Sepa { iban, owner_name } => MethodData::SepaDebit {
                iban: iban.clone(),
                owner_name: owner_name.clone(),
            },
        })
    }
}

/// A validated create-payment request.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub amount: i64,
    pub currency: Currency,
    pub reference: String,
    pub capture: CaptureMode,
    pub method: MethodInput,
    pub customer: Customer,
    pub risk_score: Option<u32>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub return_url: Option<String>,
    /// The request's Idempotency-Key, recorded on the payment.
    pub idempotency_key: Option<String>,
    /// How the card is used (a saved card's first, later or
    /// merchant-initiated payment).
    pub credential: CredentialUse,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no route matches this payment")]
    NoRoute { decision: Box<Decision> },
    #[error("payment not found")]
    NotFound,
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    AmountTooLarge(String),
    #[error("another operation on this payment is in progress")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed after a gateway call that may have moved money: the
    /// request's outcome is not recorded yet (the reconciler settles it), so
    /// its idempotency key must not be given back for a second call.
    #[error("the gateway may have acted; recording its outcome failed: {0}")]
    Unrecorded(StoreError),
    /// The request's Idempotency-Key, claimed with the first write, was
    /// already taken (replay, in flight, or another request): nothing was
    /// written.
    #[error("the Idempotency-Key is taken")]
    Claim(crate::domain::store::IdemClaim),
}

pub struct Engine {
    pub live: ArcSwap<Live>,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub velocity: Velocity,
    pub approvals: ApprovalWindows,
    pub client: HttpClient,
    /// Payments with a capture, cancel or refund in flight: a second one at
    /// the same time gets 409 instead of racing the first.
    pub(super) busy: DashMap<String, ()>,
    /// This process's name as a holder of store leases (payment locks).
    pub instance: String,
    /// Numbers this process's payment guards (see `BusyGuard`).
    pub(super) guards: std::sync::atomic::AtomicU64,
    fingerprint_key: Sensitive,
    pub return_url: String,
    /// Same-key retries after an ambiguous outcome, before answering
    /// `processing` and leaving the payment to reconciliation.
    pub ambiguous_retries: u32,
    /// First backoff between those retries; doubles each time.
    pub ambiguous_backoff: std::time::Duration,
    /// Per-gateway circuit breakers (outlier detection).
    pub breakers: Breakers,
    /// Bounds failovers and same-key retries to a share of traffic.
    pub budget: RetryBudget,
    /// The service's one source of "now": record times and ids, leases,
    /// signature ages, delivery schedules, reconciliation ages.
    pub clock: Clock,
    /// Wakes the webhook applier when events were stored.
    pub events_pending: tokio::sync::Notify,
    /// Set by the running webhook applier: ingest hands it new events in
    /// memory (stored leased to it), so applying them needs no claim.
    pub inbound_handoff:
        std::sync::OnceLock<tokio::sync::mpsc::Sender<crate::domain::store::events::InboundEvent>>,
    /// Wakes the delivery worker when merchant events were queued.
    pub deliveries_pending: tokio::sync::Notify,
}

/// Chance that `strategy: approval_rate` keeps the configured order, so every
/// gateway keeps getting traffic and its approval ratio stays current.
const EXPLORATION: f64 = 0.1;

impl Engine {
    pub fn new(
        live: Live,
        store: Arc<dyn Store>,
        metrics: Metrics,
        client: HttpClient,
        fingerprint_key: Sensitive,
        clock: Clock,
    ) -> Engine {
        Engine {
            live: ArcSwap::from_pointee(live),
            store,
            metrics,
            velocity: Velocity::default(),
            approvals: ApprovalWindows::new(std::time::Duration::from_secs(300), 10),
            client,
            busy: DashMap::new(),
            instance: crate::domain::ids::new_id("inst"),
            guards: std::sync::atomic::AtomicU64::new(0),
            fingerprint_key,
            return_url: "https://payroute.invalid/return".to_string(),
            ambiguous_retries: 2,
            ambiguous_backoff: std::time::Duration::from_millis(200),
            clock,
            breakers: Breakers::new(BreakerConfig::default()),
            budget: RetryBudget::default(),
            events_pending: tokio::sync::Notify::new(),
            inbound_handoff: std::sync::OnceLock::new(),
            deliveries_pending: tokio::sync::Notify::new(),
        }
    }

    /// Keyed fingerprint of a card number: stable for one key, useless
    /// without it.
    pub fn fingerprint(&self, number: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(self.fingerprint_key.expose().as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(number.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    pub fn facts(&self, merchant: &str, p: &NewPayment) -> PaymentFacts {
        let mut facts = crate::payments::payment_facts(merchant, p);
        // Only the engine holds the fingerprint key.
        if let MethodInput::Card(c) = &p.method {
            facts.card_fingerprint = Some(self.fingerprint(c.number.expose()));
        }
        facts
    }

    /// The decision for a payment, with `strategy: approval_rate` applied.
    pub fn decide(&self, live: &Live, facts: &PaymentFacts) -> Decision {
        let mut d = live.ruleset.decide(facts, &self.velocity);
        if d.strategy == Strategy::ApprovalRate {
            let roll = rand::rng().random_range(0.0..1.0);
            self.approvals.order(&mut d.candidates, roll, EXPLORATION);
        }
        d
    }

    /// Creates, routes and authorizes a payment, claiming `ticket`'s
    /// Idempotency-Key with the payment's first write. Returns it in its
    /// final state, to be committed with the caller's answer:
    /// `authorized`/`captured`/`requires_action` on success, `failed` on a
    /// decline, a risk block or when every gateway was unavailable,
    /// `processing` when a gateway may have charged but did not say.
    pub async fn create(
        &self,
        merchant: &str,
        input: NewPayment,
        ticket: Option<Ticket>,
    ) -> Result<Pending<'_, Payment>, EngineError> {
        let live = self.live.load_full();
        let facts = self.facts(merchant, &input);
        let decision = self.decide(&live, &facts);
        if decision.candidates.is_empty() && !decision.risk.blocked {
            return Err(EngineError::NoRoute {
                decision: Box::new(decision),
            });
        }
        self.velocity.record(&facts);
        let mut payment = new_payment_record(merchant, &input, &facts, &decision, self.clock.now());
        let mut unit = Unit::new(ticket);
        if decision.risk.blocked {
            payment.status = PaymentStatus::Failed;
            payment.failure = Some(Failure {
                code: "risk_blocked".into(),
                message: format!(
                    "risk score {} is at or above the block threshold; no gateway was called",
                    decision.risk.score
                ),
                decline_code: None,
            });
            unit.commit.new_payment = Some(payment.clone());
            return Ok(Pending::new(payment, unit, Arc::clone(&self.store), None));
        }
        // Held until the outcome is committed: a webhook for this payment
        // waits for it instead of racing it.
        let guard = self.claim_new(&payment.id, &mut unit.commit)?;
        unit.commit.new_payment = Some(payment.clone());
        self.authorize_with_failover(&live, &decision, &input, &mut payment, &mut unit)
            .await?;
        Ok(Pending::new(
            payment,
            unit,
            Arc::clone(&self.store),
            Some(guard),
        ))
    }

    async fn authorize_with_failover(
        &self,
        live: &Live,
        decision: &Decision,
        input: &NewPayment,
        payment: &mut Payment,
        unit: &mut Unit,
    ) -> Result<(), EngineError> {
        let mut last_failure = None;
        let mut called = 0;
        for (i, gateway) in decision.candidates.iter().enumerate() {
            let (Some(conn), Some(method)) = (
                live.connectors.get(gateway),
                input.method.for_gateway(gateway),
            ) else {
                continue;
            };
            let is_last = i + 1 == decision.candidates.len();
            let outcome = match self.admit(gateway, called, is_last) {
                Err(reason) => Outcome::Unavailable { reason },
                Ok(()) => {
                    called += 1;
                    let o = self
                        .authorize_once(conn, gateway, method, input, payment, unit)
                        .await?;
                    let state = self.breakers.record(gateway, Signal::from_outcome(&o));
                    self.metrics
                        .circuit_open
                        .with_label_values(&[gateway.as_str()])
                        .set(state.gauge_value());
                    o
                }
            };
            let next = decision.candidates.get(i + 1);
            let reason = match &outcome {
                Outcome::Unavailable { .. } => "unavailable",
                Outcome::Rejected { .. } => "error",
                Outcome::Declined(d) if d.soft && decision.cascade_on_soft_decline => {
                    "soft_decline"
                }
                _ => {
                    apply_authorization(payment, gateway, outcome, input.capture);
                    stage(payment, unit, self.clock.now());
                    return Ok(());
                }
            };
            last_failure = Some(failure_of(&outcome));
            if let Some(to) = next {
                self.metrics
                    .failovers
                    .with_label_values(&[gateway.as_str(), to.as_str(), reason])
                    .inc();
                tracing::warn!(payment_id = %payment.id, from = %gateway, to = %to, reason, "failing over");
            }
        }
        payment.status = PaymentStatus::Failed;
        payment.failure = Some(last_failure.unwrap_or(Failure {
            code: "no_gateway_available".into(),
            message: "no candidate gateway could take this payment".into(),
            decline_code: None,
        }));
        stage(payment, unit, self.clock.now());
        Ok(())
    }

    /// May this payment call `gateway` now? The first call draws on nothing;
    /// each failover draws on the retry budget, so an outage cannot multiply
    /// load. An open circuit refuses without a network call, except for the
    /// last candidate of a payment that reached no gateway yet: failing fast
    /// on every gateway at once would turn a partial outage into a full one.
    fn admit(&self, gateway: &str, called: usize, is_last: bool) -> Result<(), String> {
        if called == 0 {
            self.budget.deposit();
        } else if !self.budget.try_withdraw() {
            return Err("retry budget exhausted: not failing over".into());
        }
        match self.breakers.admit(gateway) {
            Admission::Allowed | Admission::Probe => Ok(()),
            Admission::Rejected { .. } if is_last && called == 0 => Ok(()),
            Admission::Rejected { retry_in } => Err(format!(
                "circuit open for {} more seconds; not called",
                retry_in.as_secs()
            )),
        }
    }

    /// One attempt on one gateway: the attempt row is durable before the
    /// call (with the payment and the key's claim, for the first).
    async fn authorize_once(
        &self,
        conn: &Connector,
        gateway: &str,
        method: MethodData,
        input: &NewPayment,
        payment: &mut Payment,
        unit: &mut Unit,
    ) -> Result<Outcome, EngineError> {
        let attempt = new_attempt(
            &payment.id,
            gateway,
            "authorize",
            payment.amount,
            self.clock.now(),
        );
        unit.commit.new_attempts.push(attempt.clone());
        unit.flush(&*self.store).await?;
        unit.calling();
        let req = AuthorizeRequest {
            payment_id: payment.id.clone(),
            reference: payment.reference.clone(),
            amount: payment.amount,
            currency: payment.currency.clone(),
            manual_capture: input.capture == CaptureMode::Manual,
            method,
            customer_id: input.customer.id.clone(),
            customer_email: input.customer.email.clone(),
            customer_country: input.customer.country.clone(),
            customer_ip: input.customer.ip.clone(),
            idempotency_key: attempt.gateway_idempotency_key.clone(),
            return_url: input
                .return_url
                .clone()
                .unwrap_or_else(|| self.return_url.clone()),
            credential: input.credential,
        };
        self.metrics.payments_in_flight.inc();
        let started = Instant::now();
        let outcome = self.authorize_resolving(conn, &req).await;
        let latency = started.elapsed();
        self.metrics.payments_in_flight.dec();
        let (view, finish) = self.record_attempt(&attempt, &outcome, latency, "authorize");
        unit.commit.finished_attempts.push(finish);
        self.metrics
            .payment_attempts
            .with_label_values(&[
                gateway,
                payment.method.kind.as_str(),
                payment.currency.as_str(),
                outcome.label(),
            ])
            .inc();
        match &outcome {
            Outcome::Succeeded { .. }
            | Outcome::RequiresAction { .. }
            | Outcome::Pending { .. } => self.note_approval(gateway, true),
            Outcome::Declined(_) => self.note_approval(gateway, false),
            _ => {}
        }
        payment.route.attempts.push(view);
        Ok(outcome)
    }

    /// Calls the gateway; when the outcome is ambiguous, asks again with the
    /// same idempotency key (the gateway replays what it did, or finishes
    /// it), a bounded number of times with backoff and jitter. Another
    /// gateway is never tried for an attempt that may have charged: an
    /// `unavailable` answer to a retry proves nothing about the first call,
    /// so it stays ambiguous.
    async fn authorize_resolving(&self, conn: &Connector, req: &AuthorizeRequest) -> Outcome {
        let mut outcome = conn.authorize(req).await;
        for retry in 0..self.ambiguous_retries {
            if !matches!(outcome, Outcome::Ambiguous { .. }) || !self.budget.try_withdraw() {
                break;
            }
            let base = self.ambiguous_backoff.saturating_mul(1 << retry.min(10));
            let jitter = rand::rng().random_range(0.5..=1.0);
            tokio::time::sleep(base.mul_f64(jitter)).await;
            tracing::info!(payment_id = %req.payment_id, gateway = %conn.settings().id, retry = retry + 1, "outcome unknown; asking again with the same idempotency key");
            outcome = match conn.authorize(req).await {
                Outcome::Unavailable { reason } => Outcome::Ambiguous {
                    reason: format!(
                        "retry not delivered ({reason}); the first call may have charged"
                    ),
                },
                other => other,
            };
        }
        outcome
    }

    fn note_approval(&self, gateway: &str, approved: bool) {
        self.approvals.record(gateway, approved);
        if let Some(r) = self.approvals.ratio(gateway) {
            self.metrics
                .approval_ratio
                .with_label_values(&[gateway])
                .set(r);
        }
    }

    /// An attempt's outcome, to be written with the unit that follows the
    /// call; observed in the metrics and the log at once.
    pub(super) fn record_attempt(
        &self,
        attempt: &Attempt,
        outcome: &Outcome,
        latency: std::time::Duration,
        operation: &str,
    ) -> (AttemptView, AttemptFinish) {
        let latency_ms = latency.as_millis() as u64;
        self.metrics
            .gateway_duration
            .with_label_values(&[attempt.gateway.as_str(), operation])
            .observe(latency.as_secs_f64());
        let (label, provider_reference, code) = attempt_fields(outcome);
        tracing::info!(
            payment_id = %attempt.payment_id, gateway = %attempt.gateway, operation,
            outcome = label.as_str(), latency_ms, "gateway call"
        );
        let view = AttemptView {
            id: attempt.id.clone(),
            gateway: attempt.gateway.clone(),
            outcome: label,
            error_code: code.clone(),
            latency_ms: Some(latency_ms),
        };
        let finish = AttemptFinish {
            id: attempt.id.clone(),
            outcome: label,
            provider_reference,
            error_code: code,
            latency_ms,
        };
        (view, finish)
    }
}

/// Stages a payment's new state in the unit: inserted whole when no unit
/// has written it yet (no gateway was called), else updated; as of `now`.
pub(super) fn stage(payment: &mut Payment, unit: &mut Unit, now: Timestamp) {
    payment.updated_at = now.rfc3339();
    if unit.commit.new_payment.is_some() {
        unit.commit.new_payment = Some(payment.clone());
    } else {
        unit.commit.payment = Some(payment.clone());
    }
}
