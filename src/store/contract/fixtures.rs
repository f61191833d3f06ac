//! Records the contract tests (and each backend's own tests) build on.

use serde_json::json;

use crate::domain::model::*;
use crate::domain::store::events::*;
use crate::domain::store::{IdemClaim, IdemKey, Store, StoreError};

pub(crate) const T0: &str = "2025-01-01T10:00:00.000Z";
pub(crate) const T1: &str = "2025-01-01T10:00:01.000Z";
pub(crate) const T2: &str = "2025-01-01T10:00:02.000Z";

pub(crate) fn payment(id: &str, merchant: &str, reference: &str, created_at: &str) -> Payment {
    Payment {
        id: id.into(),
        merchant_id: merchant.into(),
        status: PaymentStatus::Processing,
        amount: 1999,
        amount_captured: 0,
        amount_refunded: 0,
        currency: "EUR".into(),
        reference: reference.into(),
        capture: CaptureMode::Manual,
        method: MethodSummary {
            kind: "card".into(),
            card: Some(CardSummary {
                bin: "424242".into(),
                last4: "4242".into(),
                network: "visa".into(),
                exp_month: 12,
                exp_year: 2030,
                fingerprint: "fp_abc".into(),
            }),
        },
        gateway: None,
        provider_reference: None,
        route: RouteInfo {
            rule: "default".into(),
            ruleset_version: "v1".into(),
            attempts: vec![],
        },
        risk: RiskInfo {
            score: 12,
            signals: vec![RiskSignal {
                name: "velocity".into(),
                score: 5,
            }],
        },
        failure: None,
        next_action: None,
        customer: Some(json!({"id": "cus_1", "country": "DE"})),
        metadata: json!({"cart": "abc"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        refunds: vec![],
        created_at: created_at.into(),
        updated_at: created_at.into(),
        idempotency_key: None,
    }
}

pub(crate) fn refund(id: &str, payment_id: &str, amount: i64, created_at: &str) -> Refund {
    Refund {
        id: id.into(),
        payment_id: payment_id.into(),
        status: RefundStatus::Pending,
        amount,
        currency: "EUR".into(),
        gateway: "stripe_main".into(),
        provider_reference: None,
        reason: Some("requested_by_customer".into()),
        failure: None,
        created_at: created_at.into(),
        updated_at: created_at.into(),
    }
}

pub(crate) fn attempt(id: &str, payment_id: &str, gateway: &str, created_at: &str) -> Attempt {
    Attempt {
        id: id.into(),
        payment_id: payment_id.into(),
        gateway: gateway.into(),
        operation: "authorize".into(),
        gateway_idempotency_key: format!("{id}-key"),
        amount: 1999,
        outcome: AttemptOutcome::Started,
        provider_reference: None,
        error_code: None,
        latency_ms: None,
        created_at: created_at.into(),
        updated_at: created_at.into(),
    }
}

/// A key of merchant `m1`.
pub(crate) fn key<'a>(key: &'a str, fingerprint: &'a str, ttl_secs: i64) -> IdemKey<'a> {
    IdemKey {
        merchant_id: "m1",
        key,
        fingerprint,
        ttl_secs,
    }
}

pub(crate) fn event(id: &str, provider_event_id: &str, received_at: i64) -> InboundEvent {
    InboundEvent {
        id: id.into(),
        gateway_id: "stripe_main".into(),
        provider_event_id: provider_event_id.into(),
        payload: format!(r#"{{"id":"{provider_event_id}"}}"#).into_bytes(),
        status: InboundStatus::Received,
        note: None,
        received_at,
    }
}

pub(crate) fn dispute(id: &str, payment_id: &str, provider_reference: &str) -> Dispute {
    Dispute {
        id: id.into(),
        payment_id: payment_id.into(),
        gateway: "stripe_main".into(),
        provider_reference: provider_reference.into(),
        status: DisputeStatus::Open,
        amount: 1999,
        currency: "EUR".into(),
        reason: Some("fraudulent".into()),
        created_at: T1.into(),
        updated_at: T1.into(),
    }
}

pub(crate) fn delivery(id: &str, next_attempt_at: i64, created_at: &str) -> Delivery {
    Delivery {
        id: id.into(),
        event_id: format!("evt_{id}"),
        merchant_id: "m1".into(),
        event_type: "payment.captured".into(),
        payload: format!(r#"{{"id":"evt_{id}"}}"#),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at,
        last_error: None,
        last_status: None,
        created_at: created_at.into(),
        updated_at: created_at.into(),
    }
}

/// A commit that only settles an inbound event.
pub(crate) fn settle(event_id: &str, status: InboundStatus) -> Commit {
    Commit {
        inbound: Some((event_id.into(), status, Some("why".into()))),
        ..Commit::default()
    }
}

pub(crate) async fn enqueue(store: &dyn Store, deliveries: Vec<Delivery>) {
    let c = Commit {
        deliveries,
        ..Commit::default()
    };
    store.commit(&c).await.unwrap();
}

pub(crate) fn event_ids(events: &[InboundEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

pub(crate) fn delivery_ids(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

pub(crate) type ClaimTask = tokio::task::JoinHandle<Result<IdemClaim, StoreError>>;

/// How many tasks won the claim; every loser must see it in flight.
pub(crate) async fn count_claimed(tasks: Vec<ClaimTask>) -> usize {
    let mut claimed = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            IdemClaim::Claimed => claimed += 1,
            IdemClaim::InFlight { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    claimed
}
