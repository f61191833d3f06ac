//! Tests for the SQLite store, against `:memory:` and a temp-dir file (the
//! file path exercises WAL, the reader pool and reopening).

use std::sync::Arc;

use serde_json::json;

use super::SqliteStore;
use crate::payments::model::*;
use crate::store::{AuditEntry, IdemClaim, IdemKey, Store, StoreError};

pub(super) fn payment(id: &str, merchant: &str, reference: &str, created_at: &str) -> Payment {
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

pub(super) fn refund(id: &str, payment_id: &str, amount: i64, created_at: &str) -> Refund {
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

fn attempt(id: &str, payment_id: &str, gateway: &str, created_at: &str) -> Attempt {
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

pub(super) const T0: &str = "2025-01-01T10:00:00.000Z";
pub(super) const T1: &str = "2025-01-01T10:00:01.000Z";
pub(super) const T2: &str = "2025-01-01T10:00:02.000Z";

pub(super) async fn memory() -> SqliteStore {
    SqliteStore::open(":memory:", false).await.unwrap()
}

/// A file store in a fresh temp dir; the dir must outlive the store.
pub(super) async fn file_store() -> (tempfile::TempDir, String, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/payroute.db");
    let path = path.to_str().unwrap().to_owned();
    let store = SqliteStore::open(&path, true).await.unwrap();
    (dir, path, store)
}

fn key<'a>(key: &'a str, fingerprint: &'a str, ttl_secs: i64) -> IdemKey<'a> {
    IdemKey {
        merchant_id: "m1",
        key,
        fingerprint,
        ttl_secs,
    }
}

#[tokio::test]
async fn payment_round_trips_with_refunds_in_creation_order() {
    let (_dir, _path, store) = file_store().await;
    let p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    // Inserted out of order: the read must sort by created_at.
    store
        .insert_refund(&refund("re_b", "pay_1", 300, T2))
        .await
        .unwrap();
    store
        .insert_refund(&refund("re_a", "pay_1", 200, T1))
        .await
        .unwrap();

    let got = store.get_payment("m1", "pay_1").await.unwrap().unwrap();
    let mut want = p.clone();
    want.refunds = vec![
        refund("re_a", "pay_1", 200, T1),
        refund("re_b", "pay_1", 300, T2),
    ];
    assert_eq!(got, want);
    assert_eq!(
        store.get_payment("m2", "pay_1").await.unwrap(),
        None,
        "other merchant"
    );
    assert_eq!(store.get_payment("m1", "pay_x").await.unwrap(), None);
}

#[tokio::test]
async fn memory_store_reads_its_own_writes() {
    let store = memory().await;
    let p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    assert_eq!(store.get_payment("m1", "pay_1").await.unwrap(), Some(p));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn duplicate_payment_id_is_a_conflict() {
    let store = memory().await;
    let p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    let err = store.insert_payment(&p).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn update_overwrites_every_mutable_field() {
    let (_dir, _path, store) = file_store().await;
    let mut p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();

    p.status = PaymentStatus::Failed;
    p.amount_captured = 5;
    p.amount_refunded = 3;
    p.gateway = Some("adyen_eu".into());
    p.provider_reference = Some("PSP123".into());
    p.route.attempts.push(AttemptView {
        id: "att_1".into(),
        gateway: "adyen_eu".into(),
        outcome: AttemptOutcome::Declined,
        error_code: Some("do_not_honor".into()),
        latency_ms: Some(120),
    });
    p.risk.score = 90;
    p.failure = Some(Failure {
        code: "card_declined".into(),
        message: "Declined".into(),
        decline_code: Some("do_not_honor".into()),
    });
    p.next_action = Some(json!({"type": "redirect", "url": "https://x"}));
    p.customer = None;
    p.metadata.insert("extra".into(), json!(1));
    p.updated_at = T2.into();
    store.update_payment(&p).await.unwrap();

    assert_eq!(store.get_payment("m1", "pay_1").await.unwrap(), Some(p));
}

#[tokio::test]
async fn update_of_unknown_payment_is_not_found() {
    let store = memory().await;
    let p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    let mut other_merchant = p.clone();
    other_merchant.merchant_id = "m2".into();
    for missing in [payment("pay_x", "m1", "o", T0), other_merchant] {
        let err = store.update_payment(&missing).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
}

#[tokio::test]
async fn find_by_reference_is_newest_first_and_merchant_scoped() {
    let (_dir, _path, store) = file_store().await;
    store
        .insert_payment(&payment("pay_old", "m1", "order-1", T0))
        .await
        .unwrap();
    store
        .insert_payment(&payment("pay_new", "m1", "order-1", T2))
        .await
        .unwrap();
    store
        .insert_payment(&payment("pay_mid", "m1", "order-1", T1))
        .await
        .unwrap();
    store
        .insert_payment(&payment("pay_m2", "m2", "order-1", T1))
        .await
        .unwrap();
    store
        .insert_payment(&payment("pay_other", "m1", "order-2", T1))
        .await
        .unwrap();
    store
        .insert_refund(&refund("re_1", "pay_mid", 10, T2))
        .await
        .unwrap();

    let found = store
        .find_payments_by_reference("m1", "order-1")
        .await
        .unwrap();
    let ids: Vec<_> = found.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["pay_new", "pay_mid", "pay_old"]);
    assert_eq!(found[1].refunds.len(), 1, "refunds attached to each");
    assert!(
        store
            .find_payments_by_reference("m1", "nope")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn find_by_provider_reference_matches_gateway_and_reference() {
    let store = memory().await;
    let mut p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    p.gateway = Some("stripe_main".into());
    p.provider_reference = Some("pi_123".into());
    store.update_payment(&p).await.unwrap();

    let got = store
        .find_payment_by_provider_reference("stripe_main", "pi_123")
        .await
        .unwrap();
    assert_eq!(
        got.map(|p| (p.id, p.merchant_id)),
        Some(("pay_1".into(), "m1".into()))
    );
    let wrong_gateway = store
        .find_payment_by_provider_reference("adyen_eu", "pi_123")
        .await;
    assert_eq!(wrong_gateway.unwrap(), None);
}

#[tokio::test]
async fn refunds_update_and_are_scoped_to_the_payments_merchant() {
    let store = memory().await;
    store
        .insert_payment(&payment("pay_1", "m1", "order-1", T0))
        .await
        .unwrap();
    let mut r = refund("re_1", "pay_1", 500, T1);
    store.insert_refund(&r).await.unwrap();
    r.status = RefundStatus::Failed;
    r.provider_reference = Some("re_prov".into());
    r.failure = Some(Failure {
        code: "refund_failed".into(),
        message: "nope".into(),
        decline_code: None,
    });
    r.updated_at = T2.into();
    store.update_refund(&r).await.unwrap();

    assert_eq!(store.get_refund("m1", "re_1").await.unwrap(), Some(r));
    assert_eq!(store.get_refund("m2", "re_1").await.unwrap(), None);
    let orphan = store
        .insert_refund(&refund("re_2", "pay_x", 1, T1))
        .await
        .unwrap_err();
    assert!(matches!(orphan, StoreError::NotFound), "{orphan:?}");
    let missing = store
        .update_refund(&refund("re_x", "pay_1", 1, T1))
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");
}

#[tokio::test]
async fn attempts_are_listed_in_order_and_finish_records_the_outcome() {
    let (_dir, _path, store) = file_store().await;
    store
        .insert_payment(&payment("pay_1", "m1", "order-1", T0))
        .await
        .unwrap();
    // Same timestamp: insertion order breaks the tie.
    store
        .insert_attempt(&attempt("att_1", "pay_1", "stripe_main", T1))
        .await
        .unwrap();
    store
        .insert_attempt(&attempt("att_2", "pay_1", "adyen_eu", T1))
        .await
        .unwrap();
    store
        .insert_attempt(&attempt("att_0", "pay_1", "adyen_eu", T0))
        .await
        .unwrap();

    store
        .finish_attempt(
            "att_1",
            AttemptOutcome::Ambiguous,
            Some("pi_9"),
            None,
            30_000,
        )
        .await
        .unwrap();
    // A later call without a provider reference keeps the one already known.
    store
        .finish_attempt("att_1", AttemptOutcome::Approved, None, None, 250)
        .await
        .unwrap();
    store
        .finish_attempt(
            "att_2",
            AttemptOutcome::Declined,
            None,
            Some("do_not_honor"),
            80,
        )
        .await
        .unwrap();

    let list = store.list_attempts("pay_1").await.unwrap();
    let ids: Vec<_> = list.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["att_0", "att_1", "att_2"]);
    assert_eq!(list[1].outcome, AttemptOutcome::Approved);
    assert_eq!(list[1].provider_reference.as_deref(), Some("pi_9"));
    assert_eq!(list[1].latency_ms, Some(250));
    assert_ne!(list[1].updated_at, T1, "finish stamps updated_at");
    assert_eq!(list[2].error_code.as_deref(), Some("do_not_honor"));
    assert_eq!(list[0].outcome, AttemptOutcome::Started);

    let missing = store
        .finish_attempt("att_x", AttemptOutcome::Error, None, None, 1)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

#[tokio::test]
async fn attempt_needs_a_payment_and_a_unique_gateway_key() {
    let store = memory().await;
    store
        .insert_payment(&payment("pay_1", "m1", "order-1", T0))
        .await
        .unwrap();
    let a = attempt("att_1", "pay_1", "stripe_main", T1);
    store.insert_attempt(&a).await.unwrap();
    let mut same_key = attempt("att_2", "pay_1", "stripe_main", T1);
    same_key.gateway_idempotency_key = a.gateway_idempotency_key.clone();
    let err = store.insert_attempt(&same_key).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .insert_attempt(&attempt("att_3", "pay_x", "s", T1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "foreign key: {err:?}"
    );
}

#[tokio::test]
async fn idempotency_claim_replay_mismatch_in_flight_and_release() {
    let store = memory().await;
    assert_eq!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Claimed
    );
    assert!(matches!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::InFlight { .. }
    ));
    assert_eq!(
        store
            .claim_idempotency(key("k1", "other", 3600))
            .await
            .unwrap(),
        IdemClaim::Mismatch
    );

    store
        .complete_idempotency("m1", "k1", 201, b"{\"id\":1}")
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Replay {
            status: 201,
            body: b"{\"id\":1}".to_vec()
        }
    );
    assert_eq!(
        store
            .claim_idempotency(key("k1", "other", 3600))
            .await
            .unwrap(),
        IdemClaim::Mismatch
    );
    // A finished key is not released: it must keep replaying.
    store.release_idempotency("m1", "k1").await.unwrap();
    assert!(matches!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Replay { .. }
    ));

    assert_eq!(
        store
            .claim_idempotency(key("k2", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Claimed
    );
    store.release_idempotency("m1", "k2").await.unwrap();
    assert_eq!(
        store
            .claim_idempotency(key("k2", "fp2", 3600))
            .await
            .unwrap(),
        IdemClaim::Claimed
    );
    let released = store.complete_idempotency("m1", "k3", 200, b"").await;
    assert!(
        matches!(released, Err(StoreError::NotFound)),
        "{released:?}"
    );

    let other_merchant = IdemKey {
        merchant_id: "m2",
        ..key("k1", "other", 3600)
    };
    assert_eq!(
        store.claim_idempotency(other_merchant).await.unwrap(),
        IdemClaim::Claimed
    );
}

#[tokio::test]
async fn expired_idempotency_keys_start_a_new_request() {
    let store = memory().await;
    assert_eq!(
        store.claim_idempotency(key("k1", "fp", 50)).await.unwrap(),
        IdemClaim::Claimed
    );
    store
        .complete_idempotency("m1", "k1", 200, b"old")
        .await
        .unwrap();
    super::lock(&store.writer)
        .execute(
            "UPDATE idempotency_keys SET created_at = created_at - 100",
            [],
        )
        .unwrap();
    // Still live under a longer TTL, expired under the key's 50 s.
    assert!(matches!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Replay { .. }
    ));
    assert_eq!(
        store.claim_idempotency(key("k1", "new", 50)).await.unwrap(),
        IdemClaim::Claimed
    );
    assert!(matches!(
        store.claim_idempotency(key("k1", "new", 50)).await.unwrap(),
        IdemClaim::InFlight { .. }
    ));
}

type ClaimTask = tokio::task::JoinHandle<Result<IdemClaim, StoreError>>;

/// How many tasks won the claim; every loser must see it in flight.
async fn count_claimed(tasks: Vec<ClaimTask>) -> usize {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_key_yield_exactly_one_claimed() {
    let (_dir, _path, store) = file_store().await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_idempotency(key("k", "fp", 3600)).await })
        })
        .collect();
    assert_eq!(count_claimed(tasks).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_through_two_stores_on_one_file_yield_one_claimed() {
    // Two stores mean two writer connections: only the database's own
    // locking (the IMMEDIATE transaction) can keep the claim single.
    let (_dir, path, first) = file_store().await;
    let second = SqliteStore::open(&path, false).await.unwrap();
    let stores = [Arc::new(first), Arc::new(second)];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move { store.claim_idempotency(key("k", "fp", 3600)).await })
        })
        .collect();
    assert_eq!(count_claimed(tasks).await, 1);
}

#[tokio::test]
async fn reopening_keeps_data_and_applies_migrations_once() {
    let (dir, path, store) = file_store().await;
    store
        .insert_payment(&payment("pay_1", "m1", "order-1", T0))
        .await
        .unwrap();
    drop(store);
    let store = SqliteStore::open(&path, false).await.unwrap();
    assert!(store.get_payment("m1", "pay_1").await.unwrap().is_some());
    let versions: Vec<i64> = {
        let conn = super::lock(&store.writer);
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(versions, [1, 2, 3]);
    drop((store, dir));
}

#[tokio::test]
async fn a_schema_newer_than_the_build_is_refused() {
    let (_dir, path, store) = file_store().await;
    super::lock(&store.writer)
        .execute("INSERT INTO schema_migrations VALUES (999, 'later')", [])
        .unwrap();
    drop(store);
    let err = SqliteStore::open(&path, false).await.err().unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn undecodable_json_column_reads_as_corrupt() {
    let store = memory().await;
    store
        .insert_payment(&payment("pay_1", "m1", "order-1", T0))
        .await
        .unwrap();
    super::lock(&store.writer)
        .execute("UPDATE payments SET route = '{not json'", [])
        .unwrap();
    let err = store.get_payment("m1", "pay_1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn audit_lists_newest_first_up_to_limit() {
    let (_dir, _path, store) = file_store().await;
    for i in 0..3 {
        let entry = AuditEntry {
            kind: "rules.reload".into(),
            detail: json!({"n": i}),
        };
        store.append_audit(&entry).await.unwrap();
    }
    let got = store.list_audit(2).await.unwrap();
    let ns: Vec<_> = got.iter().map(|e| e.detail["n"].clone()).collect();
    assert_eq!(ns, [json!(2), json!(1)]);
}

#[tokio::test]
async fn an_abandoned_claim_is_retaken_by_exactly_one_caller() {
    let store = SqliteStore::open(":memory:", false).await.unwrap();
    assert_eq!(
        store
            .claim_idempotency(key("k-stale", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Claimed
    );
    let IdemClaim::InFlight { since } = store
        .claim_idempotency(key("k-stale", "fp", 3600))
        .await
        .unwrap()
    else {
        panic!("expected in flight");
    };
    let first = store
        .retake_idempotency("m1", "k-stale", since)
        .await
        .unwrap();
    let second = store
        .retake_idempotency("m1", "k-stale", since)
        .await
        .unwrap();
    assert!(first ^ second, "one retaker wins: {first} {second}");
    store
        .complete_idempotency("m1", "k-stale", 201, b"{}")
        .await
        .unwrap();
    assert!(
        !store
            .retake_idempotency("m1", "k-stale", since)
            .await
            .unwrap(),
        "a finished key is never retaken"
    );
}
