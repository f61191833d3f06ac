//! The contract for payments, refunds, attempts, idempotency keys, the
//! audit log and replica coordination, run against every backend.

use std::sync::Arc;

use serde_json::json;

use super::{Backend, T0, T1, T2, attempt, contract_tests, count_claimed, key, payment, refund};
use crate::domain::model::*;
use crate::domain::store::{AuditEntry, IdemClaim, IdemKey, StoreError};

contract_tests!(
    payment_round_trips_with_refunds_in_creation_order,
    a_store_reads_its_own_writes_and_pings,
    duplicate_payment_id_is_a_conflict,
    update_overwrites_every_mutable_field,
    update_of_unknown_payment_is_not_found,
    find_by_reference_is_newest_first_and_merchant_scoped,
    find_by_provider_reference_matches_gateway_and_reference,
    a_payment_is_found_by_its_idempotency_key,
    stale_payments_are_listed_oldest_first_per_status,
    refunds_update_and_are_scoped_to_the_payments_merchant,
    attempts_are_listed_in_order_and_finish_records_the_outcome,
    attempt_needs_a_payment_and_a_unique_gateway_key,
    idempotency_claim_replay_mismatch_in_flight_and_release,
    expired_idempotency_keys_start_a_new_request,
    concurrent_claims_of_one_key_yield_exactly_one_claimed,
    undecodable_json_column_reads_as_corrupt,
    audit_lists_newest_first_up_to_limit,
    an_abandoned_claim_is_retaken_by_exactly_one_caller,
    a_lone_store_leads_and_gets_free_payment_leases,
);

async fn payment_round_trips_with_refunds_in_creation_order(b: &Backend) {
    let store = &*b.store;
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

async fn a_store_reads_its_own_writes_and_pings(b: &Backend) {
    let store = &*b.store;
    let p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    assert_eq!(store.get_payment("m1", "pay_1").await.unwrap(), Some(p));
    store.ping().await.unwrap();
}

async fn duplicate_payment_id_is_a_conflict(b: &Backend) {
    let store = &*b.store;
    let p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    let err = store.insert_payment(&p).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn update_overwrites_every_mutable_field(b: &Backend) {
    let store = &*b.store;
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

async fn update_of_unknown_payment_is_not_found(b: &Backend) {
    let store = &*b.store;
    let p = payment("pay_1", "m1", "order-1", T0);
    store.insert_payment(&p).await.unwrap();
    let mut other_merchant = p.clone();
    other_merchant.merchant_id = "m2".into();
    for missing in [payment("pay_x", "m1", "o", T0), other_merchant] {
        let err = store.update_payment(&missing).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
}

async fn find_by_reference_is_newest_first_and_merchant_scoped(b: &Backend) {
    let store = &*b.store;
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

async fn find_by_provider_reference_matches_gateway_and_reference(b: &Backend) {
    let store = &*b.store;
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

async fn refunds_update_and_are_scoped_to_the_payments_merchant(b: &Backend) {
    let store = &*b.store;
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

async fn attempts_are_listed_in_order_and_finish_records_the_outcome(b: &Backend) {
    let store = &*b.store;
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

async fn attempt_needs_a_payment_and_a_unique_gateway_key(b: &Backend) {
    let store = &*b.store;
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

async fn idempotency_claim_replay_mismatch_in_flight_and_release(b: &Backend) {
    let store = &*b.store;
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

async fn expired_idempotency_keys_start_a_new_request(b: &Backend) {
    let store = &*b.store;
    assert_eq!(
        store.claim_idempotency(key("k1", "fp", 50)).await.unwrap(),
        IdemClaim::Claimed
    );
    store
        .complete_idempotency("m1", "k1", 200, b"old")
        .await
        .unwrap();
    b.exec("UPDATE idempotency_keys SET created_at = created_at - 100")
        .await;
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

async fn concurrent_claims_of_one_key_yield_exactly_one_claimed(b: &Backend) {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&b.store);
            tokio::spawn(async move { store.claim_idempotency(key("k", "fp", 3600)).await })
        })
        .collect();
    assert_eq!(count_claimed(tasks).await, 1);
}

async fn undecodable_json_column_reads_as_corrupt(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "order-1", T0))
        .await
        .unwrap();
    b.exec("UPDATE payments SET route = '{not json'").await;
    let err = store.get_payment("m1", "pay_1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

async fn audit_lists_newest_first_up_to_limit(b: &Backend) {
    let store = &*b.store;
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

async fn an_abandoned_claim_is_retaken_by_exactly_one_caller(b: &Backend) {
    let store = &*b.store;
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

async fn a_payment_is_found_by_its_idempotency_key(b: &Backend) {
    let store = &*b.store;
    let mut first = payment("pay_1", "m1", "order-1", T0);
    first.idempotency_key = Some("idem-1".into());
    let mut retry = payment("pay_2", "m1", "order-1", T1);
    retry.idempotency_key = Some("idem-1".into());
    let mut other_merchant = payment("pay_3", "m2", "order-1", T2);
    other_merchant.idempotency_key = Some("idem-1".into());
    for p in [&first, &retry, &other_merchant] {
        store.insert_payment(p).await.unwrap();
    }
    store
        .insert_refund(&refund("re_1", "pay_2", 10, T2))
        .await
        .unwrap();

    let found = store
        .find_payment_by_idempotency_key("m1", "idem-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "pay_2", "the newest wins");
    assert_eq!(found.idempotency_key.as_deref(), Some("idem-1"));
    assert_eq!(found.refunds.len(), 1, "refunds attached");
    let none = store.find_payment_by_idempotency_key("m1", "idem-2").await;
    assert_eq!(none.unwrap(), None);
}

async fn stale_payments_are_listed_oldest_first_per_status(b: &Backend) {
    let store = &*b.store;
    let at = |s: u32| format!("2025-01-01T10:00:{s:02}.000Z");
    let rows = [
        ("pay_p3", PaymentStatus::Processing, 3),
        ("pay_p1", PaymentStatus::Processing, 1),
        ("pay_p2", PaymentStatus::Processing, 2),
        ("pay_fresh", PaymentStatus::Processing, 50),
        ("pay_c1", PaymentStatus::CapturePending, 1),
        ("pay_done", PaymentStatus::Captured, 1),
    ];
    for (id, status, s) in rows {
        let mut p = payment(id, "m1", "o", &at(s));
        p.status = status;
        store.insert_payment(&p).await.unwrap();
    }
    store
        .insert_refund(&refund("re_1", "pay_p1", 10, &at(4)))
        .await
        .unwrap();

    let statuses = [PaymentStatus::Processing, PaymentStatus::CapturePending];
    let stale = store
        .list_stale_payments(&statuses, &at(10), 2)
        .await
        .unwrap();
    let ids: Vec<_> = stale.iter().map(|p| p.id.as_str()).collect();
    // At most `limit` per status, each status oldest first, in the order asked.
    assert_eq!(ids, ["pay_p1", "pay_p2", "pay_c1"]);
    assert_eq!(stale[0].refunds.len(), 1, "refunds attached");
    let none = store
        .list_stale_payments(&statuses, &at(0), 10)
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn a_lone_store_leads_and_gets_free_payment_leases(b: &Backend) {
    let store = &*b.store;
    for _ in 0..2 {
        assert!(store.try_lead("reconciler").await.unwrap(), "keeps leading");
    }
    assert!(
        store.try_lead("reaper").await.unwrap(),
        "roles are separate"
    );
    let now = b.clock.now_unix();
    assert!(store.lock_payment("pay_1", "h1", now, 30).await.unwrap());
    assert!(
        store.lock_payment("pay_1", "h1", now, 30).await.unwrap(),
        "renewed by its holder"
    );
    assert!(store.lock_payment("pay_2", "h2", now, 30).await.unwrap());
    store.unlock_payment("pay_1", "h1").await.unwrap();
    store.unlock_payment("pay_1", "h1").await.unwrap();
    assert!(store.lock_payment("pay_1", "h3", now, 30).await.unwrap());
}
