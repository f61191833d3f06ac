//! The reconciler: settles what a crash, a timeout or a missing webhook left
//! open. Payments stuck `processing` (an authorization whose outcome is
//! unknown: attempt `started` after a crash, or `ambiguous`), and captures or
//! cancels left `_pending`, are looked up at the gateway that holds them and
//! the answer goes through the same forward-only transitions as webhooks,
//! with an audit entry and the normal merchant event. What a gateway cannot
//! tell (Adyen has no status API) waits for its webhook; an Adyen
//! authorization still unknown after `reverse_after` is cancelled by
//! payroute's reference, so an unseen charge cannot stand.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::connectors::AuthorizationQuery;
use crate::domain::clock::Clock;
use crate::domain::model::{Attempt, AttemptOutcome, CaptureMode, Failure, Payment, PaymentStatus};
use crate::domain::outcome::{Effect, Lookup, Outcome};
use crate::domain::store::events::{Commit, InboundStatus};
use crate::domain::store::{AuditEntry, StoreError};
use crate::payments::Engine;
use crate::payments::transitions::{self, Applied, Observed};

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// Time between passes.
    pub interval: Duration,
    /// Only payments unchanged for this long are looked at (in-flight calls
    /// are left alone).
    pub min_age: Duration,
    /// A "not found" from an eventually consistent lookup (Stripe Search) is
    /// trusted only for attempts older than this.
    pub not_found_grace: Duration,
    /// An authorization the gateway cannot report on is reversed by
    /// reference after this long.
    pub reverse_after: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> ReconcileConfig {
        ReconcileConfig {
            interval: Duration::from_secs(10),
            min_age: Duration::from_secs(30),
            not_found_grace: Duration::from_secs(120),
            reverse_after: Duration::from_secs(15 * 60),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub examined: usize,
    pub settled: usize,
    pub waiting: usize,
}

pub async fn run(engine: Arc<Engine>, cfg: ReconcileConfig, mut shutdown: watch::Receiver<bool>) {
    // The first pass runs at start-up: it picks up attempts a crash left
    // `started` (once they are `min_age` old).
    loop {
        if leads(&engine).await {
            pass(&engine, &cfg).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One replica reconciles at a time (the store's leadership; another takes
/// over within a pass interval of the leader's death).
async fn leads(engine: &Engine) -> bool {
    let leading = match engine.store.try_lead("reconciler").await {
        Ok(leading) => leading,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell who reconciles; skipping this pass");
            false
        }
    };
    let was = engine.metrics.reconciler_leader.get() == 1;
    if leading != was {
        tracing::info!(leading, "reconciler leadership changed");
        engine.metrics.reconciler_leader.set(i64::from(leading));
    }
    let role = if leading { "leader" } else { "follower" };
    engine
        .metrics
        .reconciler_rounds
        .with_label_values(&[role])
        .inc();
    leading
}

async fn pass(engine: &Engine, cfg: &ReconcileConfig) {
    match reconcile_once(engine, cfg).await {
        Ok(r) if r.examined > 0 => tracing::info!(
            examined = r.examined,
            settled = r.settled,
            waiting = r.waiting,
            "reconciliation pass"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "reconciliation pass failed; retrying"),
    }
}

/// One pass over everything old enough to be stuck.
pub async fn reconcile_once(engine: &Engine, cfg: &ReconcileConfig) -> Result<Report, StoreError> {
    let before = engine.clock.now().minus(cfg.min_age).rfc3339();
    let stuck = engine
        .store
        .list_stale_payments(
            &[
                PaymentStatus::Processing,
                PaymentStatus::CapturePending,
                PaymentStatus::VoidPending,
            ],
            &before,
            200,
        )
        .await?;
    let mut report = Report {
        examined: stuck.len(),
        ..Report::default()
    };
    for p in stuck {
        // Skip a payment another writer holds; the next pass gets it.
        let Ok(_guard) = engine.claim(&p.id).await else {
            continue;
        };
        let Some(p) = engine.store.get_payment_by_id(&p.id).await? else {
            continue;
        };
        let settled = match p.status {
            PaymentStatus::Processing => settle_authorization(engine, cfg, p).await?,
            PaymentStatus::CapturePending | PaymentStatus::VoidPending => {
                settle_modification(engine, p).await?
            }
            // Settled meanwhile (usually by its webhook).
            _ => continue,
        };
        if settled {
            report.settled += 1;
        } else {
            report.waiting += 1;
        }
    }
    Ok(report)
}

/// Seconds since `rfc` (0 if unreadable) by `clock`.
fn age_secs(clock: &Clock, rfc: &str) -> i64 {
    time::OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339)
        .map(|t| clock.now_unix() - t.unix_timestamp())
        .unwrap_or(0)
}

/// Settles a payment whose authorization outcome is unknown.
async fn settle_authorization(
    engine: &Engine,
    cfg: &ReconcileConfig,
    p: Payment,
) -> Result<bool, StoreError> {
    let attempts: Vec<Attempt> = engine
        .store
        .list_attempts(&p.id)
        .await?
        .into_iter()
        .filter(|a| a.operation == "authorize")
        .collect();
    let open: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| {
            matches!(
                a.outcome,
                AttemptOutcome::Started | AttemptOutcome::Ambiguous | AttemptOutcome::Pending
            )
        })
        .collect();
    if open.is_empty() {
        // Every attempt has its answer; only the payment's own write was
        // lost (a crash in between). The last attempt's answer stands.
        let approved = attempts
            .iter()
            .rev()
            .find(|a| a.outcome == AttemptOutcome::Approved && a.provider_reference.is_some());
        let mut p = p;
        let fact = match approved {
            Some(a) => {
                p.gateway = Some(a.gateway.clone());
                p.provider_reference = a.provider_reference.clone();
                Observed::Authorized
            }
            None => Observed::Failed {
                reason: Some("no gateway accepted the payment".into()),
            },
        };
        return apply(engine, p, &fact, "answer recorded on the attempt").await;
    }
    let mut not_found = 0;
    for a in open.iter().rev() {
        let live = engine.live.load();
        let Some(conn) = live.connectors.get(&a.gateway) else {
            continue;
        };
        let provider_reference = a.provider_reference.clone().or_else(|| {
            (p.gateway.as_deref() == Some(a.gateway.as_str()))
                .then(|| p.provider_reference.clone())
                .flatten()
        });
        let q = AuthorizationQuery {
            payment_id: p.id.clone(),
            provider_reference,
            amount: a.amount,
            currency: p.currency.clone(),
            manual_capture: p.capture == CaptureMode::Manual,
            idempotency_key: a.gateway_idempotency_key.clone(),
        };
        match conn.find_authorization(&q).await {
            Lookup::Found {
                provider_reference,
                effect,
            } => {
                finish(
                    engine,
                    a,
                    AttemptOutcome::Approved,
                    Some(&provider_reference),
                    None,
                )
                .await;
                let mut p = p;
                p.gateway = Some(a.gateway.clone());
                p.provider_reference = Some(provider_reference);
                let fact = match effect {
                    Effect::Captured => Observed::Captured { amount: None },
                    Effect::Voided => Observed::Voided,
                    _ => Observed::Authorized,
                };
                return apply(engine, p, &fact, "found at the gateway").await;
            }
            Lookup::Declined(d) => {
                finish(
                    engine,
                    a,
                    AttemptOutcome::Declined,
                    d.provider_reference.as_deref(),
                    Some(&d.code),
                )
                .await;
                let mut p = p;
                p.gateway = Some(a.gateway.clone());
                p.provider_reference = d.provider_reference.clone();
                let fact = Observed::Failed {
                    reason: Some(d.message.clone()),
                };
                return apply(engine, p, &fact, "declined at the gateway").await;
            }
            Lookup::Pending { .. } => return Ok(false),
            Lookup::NotFound
                if age_secs(&engine.clock, &a.created_at)
                    >= cfg.not_found_grace.as_secs() as i64 =>
            {
                finish(
                    engine,
                    a,
                    AttemptOutcome::Unavailable,
                    None,
                    Some("not_processed"),
                )
                .await;
                not_found += 1;
            }
            Lookup::NotFound => return Ok(false),
            Lookup::Multiple(found) => {
                tracing::error!(payment_id = %p.id, ?found, "several live authorizations for one payment; settling by hand");
                audit(
                    engine,
                    "reconcile.multiple_authorizations",
                    json!({"payment": p.id, "found": format!("{found:?}")}),
                )
                .await;
                return Ok(false);
            }
            Lookup::Unknown { reason } => {
                if a.provider_reference.is_some()
                    || age_secs(&engine.clock, &a.created_at) < cfg.reverse_after.as_secs() as i64
                {
                    return Ok(false);
                }
                return reverse(engine, cfg, conn, p, a, &reason).await;
            }
        }
    }
    if not_found == open.len() {
        let mut p = p;
        p.failure = Some(Failure {
            code: "not_processed".into(),
            message: "the gateway has no record of this payment; nothing was charged".into(),
            decline_code: None,
        });
        let fact = Observed::Failed {
            reason: Some("the gateway has no record of this payment".into()),
        };
        return apply(engine, p, &fact, "not found at the gateway").await;
    }
    Ok(false)
}

/// The gateway cannot say what became of the authorization and no webhook
/// told us: cancel whatever it holds under payroute's reference (a timeout
/// reversal). Once the gateway has accepted that cancel for `reverse_after`
/// and still reported no authorization, nothing can stand: the payment fails.
///
/// If a gateway event named the payment meanwhile (Adyen's TECHNICAL_CANCEL
/// failing because the payment was already captured teaches its
/// pspReference) and its authorization still has not arrived, the payment is
/// reversed by that reference too, which refunds a capture, and fails as
/// soon as the gateway accepts that: from then on a late authorization is
/// stale, so the merchant can never be told "captured" for money that is
/// being given back.
async fn reverse(
    engine: &Engine,
    cfg: &ReconcileConfig,
    conn: &crate::connectors::Connector,
    p: Payment,
    a: &Attempt,
    reason: &str,
) -> Result<bool, StoreError> {
    let attempts = engine.store.list_attempts(&p.id).await?;
    let by_reference = format!("{}-reversal", a.gateway_idempotency_key);
    let cancel = attempts
        .iter()
        .find(|r| r.gateway_idempotency_key == by_reference);
    let Some(cancel) = cancel.filter(|r| r.outcome == AttemptOutcome::Pending) else {
        let stuck = Stuck { p: &p, a, reason };
        request_reversal(engine, conn, &stuck, cancel, &by_reference, None).await?;
        return Ok(false);
    };
    // Since the gateway accepted it (a retried row keeps its creation time).
    if age_secs(&engine.clock, &cancel.updated_at) < cfg.reverse_after.as_secs() as i64 {
        return Ok(false);
    }
    // A stored gateway event not yet applied (leased by a process that died,
    // say) may be this payment's authorization: let it land first.
    let unapplied = engine
        .store
        .list_inbound_events(InboundStatus::Received, 1)
        .await?;
    if !unapplied.is_empty() {
        return Ok(false);
    }
    let mut how = "reversed by reference";
    if let Some(psp) = p.provider_reference.clone() {
        let by_psp = format!("{}-reversal-psp", a.gateway_idempotency_key);
        let earlier = attempts
            .iter()
            .find(|r| r.gateway_idempotency_key == by_psp);
        let accepted = match earlier.filter(|r| r.outcome == AttemptOutcome::Pending) {
            Some(_) => true,
            None => {
                let stuck = Stuck { p: &p, a, reason };
                request_reversal(engine, conn, &stuck, earlier, &by_psp, Some(&psp)).await?
            }
        };
        if !accepted {
            return Ok(false);
        }
        how = "reversed by the gateway's reference";
    }
    finish(
        engine,
        a,
        AttemptOutcome::Unavailable,
        None,
        Some("reversed"),
    )
    .await;
    let fact = Observed::Failed {
        reason: Some("outcome unknown; reversed at the gateway by payroute".into()),
    };
    apply(engine, p, &fact, how).await
}

/// A payment whose authorization outcome stayed unknown, its attempt, and why.
struct Stuck<'a> {
    p: &'a Payment,
    a: &'a Attempt,
    reason: &'a str,
}

/// Sends one reversal under its own attempt row and key (reusing the row of
/// an earlier try that failed); true if the gateway accepted it.
async fn request_reversal(
    engine: &Engine,
    conn: &crate::connectors::Connector,
    stuck: &Stuck<'_>,
    earlier: Option<&Attempt>,
    key: &str,
    known: Option<&str>,
) -> Result<bool, StoreError> {
    let Stuck { p, a, reason } = *stuck;
    let reversal = match earlier {
        Some(r) => r.clone(),
        None => {
            let mut r = crate::payments::records::new_attempt(
                &p.id,
                &a.gateway,
                "reversal",
                a.amount,
                engine.clock.now(),
            );
            r.gateway_idempotency_key = key.to_string();
            engine.store.insert_attempt(&r).await?;
            r
        }
    };
    let outcome = conn.reverse(&p.id, known, key).await;
    let accepted = matches!(outcome, Outcome::Pending { .. } | Outcome::Succeeded { .. });
    let label = if accepted {
        AttemptOutcome::Pending
    } else {
        AttemptOutcome::Error
    };
    finish(engine, &reversal, label, None, None).await;
    audit(
        engine,
        "reconcile.reversal_requested",
        json!({"payment": p.id, "gateway": a.gateway, "by": known.unwrap_or("payroute reference"), "outcome": outcome.label(), "reason": reason}),
    )
    .await;
    Ok(accepted)
}

/// Settles a capture or cancel the gateway accepted but never confirmed.
async fn settle_modification(engine: &Engine, p: Payment) -> Result<bool, StoreError> {
    let (Some(gateway), Some(reference)) = (p.gateway.clone(), p.provider_reference.clone()) else {
        return Ok(false);
    };
    let live = engine.live.load();
    let Some(conn) = live.connectors.get(&gateway) else {
        return Ok(false);
    };
    let q = AuthorizationQuery {
        payment_id: p.id.clone(),
        provider_reference: Some(reference),
        amount: p.amount,
        currency: p.currency.clone(),
        manual_capture: p.capture == CaptureMode::Manual,
        idempotency_key: String::new(),
    };
    let fact = match conn.find_authorization(&q).await {
        Lookup::Found {
            effect: Effect::Captured,
            ..
        } => Observed::Captured { amount: None },
        Lookup::Found {
            effect: Effect::Voided,
            ..
        } => Observed::Voided,
        Lookup::Found {
            effect: Effect::Authorized,
            ..
        } if p.status == PaymentStatus::CapturePending => Observed::CaptureFailed {
            reason: Some("the gateway still holds an uncaptured authorization".into()),
        },
        Lookup::Found {
            effect: Effect::Authorized,
            ..
        } => Observed::VoidFailed {
            reason: Some("the gateway still holds the authorization".into()),
        },
        _ => return Ok(false),
    };
    apply(engine, p, &fact, "found at the gateway").await
}

async fn apply(
    engine: &Engine,
    p: Payment,
    fact: &Observed,
    why: &str,
) -> Result<bool, StoreError> {
    let detail = json!({"payment": p.id, "fact": format!("{fact:?}"), "why": why});
    let mut commit = match transitions::apply(&p, fact, None, engine.clock.now()) {
        Applied::Changed(c) => *c,
        // Already in that state: still record what was learned (provider
        // reference), without a second merchant event.
        Applied::Confirmed(_) => Commit {
            payment: Some(p),
            ..Commit::default()
        },
        Applied::Stale(s) => {
            audit(
                engine,
                "reconcile.stale",
                json!({"payment": p.id, "why": s}),
            )
            .await;
            return Ok(false);
        }
    };
    commit.audit = Some(AuditEntry {
        kind: "reconcile.applied".into(),
        detail,
    });
    let has_deliveries = !commit.deliveries.is_empty();
    engine.store.commit(&commit).await?;
    if has_deliveries {
        engine.deliveries_pending.notify_one();
    }
    tracing::info!(payment_id = ?commit.payment.as_ref().map(|p| &p.id), why, "reconciled");
    Ok(true)
}

async fn finish(
    engine: &Engine,
    a: &Attempt,
    outcome: AttemptOutcome,
    provider_reference: Option<&str>,
    code: Option<&str>,
) {
    if let Err(e) = engine
        .store
        .finish_attempt(
            &a.id,
            outcome,
            provider_reference,
            code,
            a.latency_ms.unwrap_or(0),
        )
        .await
    {
        tracing::warn!(attempt = %a.id, error = %e, "could not record the reconciled attempt");
    }
}

async fn audit(engine: &Engine, kind: &str, detail: serde_json::Value) {
    if let Err(e) = engine
        .store
        .append_audit(&AuditEntry {
            kind: kind.into(),
            detail,
        })
        .await
    {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}
