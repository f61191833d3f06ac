//! The contract for units of work: a claim with the first commit of an
//! operation, the commit after its gateway call, and the peek that answers
//! for a key without writing, run against every backend.

use std::sync::Arc;

use super::{Backend, T0, T1, attempt, contract_tests, key, payment};
use crate::domain::model::*;
use crate::domain::store::{AttemptFinish, Commit, IdemClaim, IdemResponse, StoreError};

contract_tests!(
    a_claim_and_the_first_unit_land_together,
    a_taken_key_writes_nothing_of_the_unit,
    a_failing_unit_takes_its_claim_back_with_it,
    the_second_unit_records_outcome_state_and_response_at_once,
    a_response_for_a_key_no_longer_in_flight_does_not_undo_the_outcome,
    a_failing_second_unit_writes_none_of_its_parts,
    peeking_answers_like_a_claim_but_writes_nothing,
    concurrent_claiming_units_make_exactly_one_payment,
);

fn first_unit(id: &str) -> Commit {
    Commit {
        new_payment: Some(payment(id, "m1", "order-1", T0)),
        new_attempts: vec![attempt(&format!("att_{id}"), id, "stripe_main", T0)],
        ..Commit::default()
    }
}

fn finish(attempt_id: &str) -> AttemptFinish {
    AttemptFinish {
        id: attempt_id.into(),
        outcome: AttemptOutcome::Approved,
        provider_reference: Some("pi_1".into()),
        error_code: None,
        latency_ms: 12,
    }
}

fn answer(k: &str, status: u16) -> IdemResponse {
    IdemResponse {
        merchant_id: "m1".into(),
        key: k.into(),
        status,
        body: b"{\"id\":\"pay_1\"}".to_vec(),
    }
}

async fn a_claim_and_the_first_unit_land_together(b: &Backend) {
    let store = &*b.store;
    let got = store
        .claim_and_commit(key("k1", "fp", 3600), &first_unit("pay_1"))
        .await
        .unwrap();
    assert_eq!(got, IdemClaim::Claimed);
    assert!(store.get_payment("m1", "pay_1").await.unwrap().is_some());
    let attempts = store.list_attempts("pay_1").await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Started);
    assert!(matches!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::InFlight { .. }
    ));
}

async fn a_taken_key_writes_nothing_of_the_unit(b: &Backend) {
    let store = &*b.store;
    assert_eq!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Claimed
    );
    let same = store
        .claim_and_commit(key("k1", "fp", 3600), &first_unit("pay_1"))
        .await
        .unwrap();
    assert!(matches!(same, IdemClaim::InFlight { .. }), "{same:?}");
    let other = store
        .claim_and_commit(key("k1", "other", 3600), &first_unit("pay_2"))
        .await
        .unwrap();
    assert_eq!(other, IdemClaim::Mismatch);
    for id in ["pay_1", "pay_2"] {
        assert_eq!(store.get_payment("m1", id).await.unwrap(), None);
        assert!(store.list_attempts(id).await.unwrap().is_empty());
    }
}

async fn a_failing_unit_takes_its_claim_back_with_it(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "o", T0))
        .await
        .unwrap();
    // The payment exists already: the unit's insert fails.
    let err = store
        .claim_and_commit(key("k1", "fp", 3600), &first_unit("pay_1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(store.list_attempts("pay_1").await.unwrap().is_empty());
    assert_eq!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Claimed,
        "the claim rolled back with the unit"
    );
}

async fn the_second_unit_records_outcome_state_and_response_at_once(b: &Backend) {
    let store = &*b.store;
    store
        .claim_and_commit(key("k1", "fp", 3600), &first_unit("pay_1"))
        .await
        .unwrap();
    let mut p = payment("pay_1", "m1", "order-1", T0);
    p.status = PaymentStatus::Captured;
    p.gateway = Some("stripe_main".into());
    p.provider_reference = Some("pi_1".into());
    p.updated_at = T1.into();
    let second = Commit {
        payment: Some(p.clone()),
        finished_attempts: vec![finish("att_pay_1")],
        response: Some(answer("k1", 201)),
        ..Commit::default()
    };
    store.commit(&second).await.unwrap();
    assert_eq!(store.get_payment("m1", "pay_1").await.unwrap(), Some(p));
    let attempts = store.list_attempts("pay_1").await.unwrap();
    assert_eq!(attempts[0].outcome, AttemptOutcome::Approved);
    assert_eq!(attempts[0].provider_reference.as_deref(), Some("pi_1"));
    assert_eq!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Replay {
            status: 201,
            body: answer("k1", 201).body
        }
    );
}

async fn a_response_for_a_key_no_longer_in_flight_does_not_undo_the_outcome(b: &Backend) {
    let store = &*b.store;
    store.commit(&first_unit("pay_1")).await.unwrap();
    let second = Commit {
        finished_attempts: vec![finish("att_pay_1")],
        response: Some(answer("never-claimed", 201)),
        ..Commit::default()
    };
    store.commit(&second).await.unwrap();
    let attempts = store.list_attempts("pay_1").await.unwrap();
    assert_eq!(attempts[0].outcome, AttemptOutcome::Approved);
}

async fn a_failing_second_unit_writes_none_of_its_parts(b: &Backend) {
    let store = &*b.store;
    store
        .claim_and_commit(key("k1", "fp", 3600), &first_unit("pay_1"))
        .await
        .unwrap();
    let mut p = payment("pay_1", "m1", "order-1", T0);
    p.status = PaymentStatus::Captured;
    let second = Commit {
        payment: Some(p),
        finished_attempts: vec![finish("att_pay_1"), finish("att_missing")],
        response: Some(answer("k1", 201)),
        ..Commit::default()
    };
    let err = store.commit(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let got = store.get_payment("m1", "pay_1").await.unwrap().unwrap();
    assert_eq!(got.status, PaymentStatus::Processing, "unchanged");
    assert_eq!(
        store.list_attempts("pay_1").await.unwrap()[0].outcome,
        AttemptOutcome::Started
    );
    assert!(matches!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::InFlight { .. }
    ));
}

async fn peeking_answers_like_a_claim_but_writes_nothing(b: &Backend) {
    let store = &*b.store;
    assert_eq!(
        store.peek_idempotency(key("k1", "fp", 3600)).await.unwrap(),
        IdemClaim::Claimed
    );
    // The peek claimed nothing: a claim still gets the key.
    assert_eq!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Claimed
    );
    assert!(matches!(
        store.peek_idempotency(key("k1", "fp", 3600)).await.unwrap(),
        IdemClaim::InFlight { .. }
    ));
    assert_eq!(
        store
            .peek_idempotency(key("k1", "fp2", 3600))
            .await
            .unwrap(),
        IdemClaim::Mismatch
    );
    store
        .complete_idempotency("m1", "k1", 402, b"declined")
        .await
        .unwrap();
    assert_eq!(
        store.peek_idempotency(key("k1", "fp", 3600)).await.unwrap(),
        IdemClaim::Replay {
            status: 402,
            body: b"declined".to_vec()
        }
    );
}

async fn concurrent_claiming_units_make_exactly_one_payment(b: &Backend) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = Arc::clone(&b.store);
        tasks.push(tokio::spawn(async move {
            let id = format!("pay_{i}");
            store
                .claim_and_commit(key("k1", "fp", 3600), &first_unit(&id))
                .await
                .unwrap()
        }));
    }
    let mut claimed = 0;
    for t in tasks {
        if t.await.unwrap() == IdemClaim::Claimed {
            claimed += 1;
        }
    }
    assert_eq!(claimed, 1);
    let made = b
        .store
        .find_payments_by_reference("m1", "order-1")
        .await
        .unwrap();
    assert_eq!(made.len(), 1, "one payment for one key");
}
