//! The contract for time: every expiry, lease and stamp a store decides or
//! writes itself follows the clock it was opened with, never the
//! database's. The clock is set far from the real present, so a store that
//! read its database's `now()` would fail these.

use std::time::Duration;

use super::{Backend, T0, attempt, contract_tests, event, key, payment};
use crate::domain::model::AttemptOutcome;
use crate::domain::store::events::{AttemptFinish, Commit};
use crate::domain::store::{AuditEntry, IdemClaim};

contract_tests!(
    idempotency_keys_expire_and_go_stale_by_the_stores_clock,
    inbound_leases_run_out_by_the_stores_clock,
    attempts_finished_are_stamped_by_the_stores_clock,
);

/// 2033-05-18T03:33:20Z: years from any real present.
const FAR: i64 = 2_000_000_000;

async fn idempotency_keys_expire_and_go_stale_by_the_stores_clock(b: &Backend) {
    let store = &*b.store;
    b.clock.set_unix(FAR);
    assert_eq!(
        store.claim_idempotency(key("k1", "fp", 50)).await.unwrap(),
        IdemClaim::Claimed
    );
    assert_eq!(
        store.claim_idempotency(key("k1", "fp", 50)).await.unwrap(),
        IdemClaim::InFlight { since: FAR },
        "in flight since the clock's now"
    );
    b.clock.advance(Duration::from_secs(50));
    assert_eq!(
        store
            .claim_idempotency(key("k1", "other", 50))
            .await
            .unwrap(),
        IdemClaim::Mismatch,
        "live for its whole TTL"
    );
    b.clock.advance(Duration::from_secs(1));
    assert_eq!(
        store
            .peek_idempotency(key("k1", "other", 50))
            .await
            .unwrap(),
        IdemClaim::Claimed,
        "expired once the clock passed the TTL"
    );
    assert_eq!(
        store
            .claim_idempotency(key("k1", "other", 50))
            .await
            .unwrap(),
        IdemClaim::Claimed
    );
}

async fn inbound_leases_run_out_by_the_stores_clock(b: &Backend) {
    let store = &*b.store;
    b.clock.set_unix(FAR);
    let stored = store
        .insert_inbound_events(&[event("ie_1", "a", FAR)], 30)
        .await
        .unwrap();
    assert_eq!(stored, [true]);
    b.clock.advance(Duration::from_secs(29));
    assert!(
        store.claim_inbound_events(10, 30).await.unwrap().is_empty(),
        "still leased to the ingesting worker"
    );
    b.clock.advance(Duration::from_secs(1));
    let taken = store.claim_inbound_events(10, 30).await.unwrap();
    assert_eq!(taken.len(), 1, "the lease ran out at received_at + 30");
    assert!(
        store.claim_inbound_events(10, 30).await.unwrap().is_empty(),
        "leased again, to this claim"
    );
    b.clock.advance(Duration::from_secs(30));
    assert_eq!(store.claim_inbound_events(10, 30).await.unwrap().len(), 1);
}

async fn attempts_finished_are_stamped_by_the_stores_clock(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "o-1", T0))
        .await
        .unwrap();
    for id in ["att_1", "att_2"] {
        store
            .insert_attempt(&attempt(id, "pay_1", "stripe_main", T0))
            .await
            .unwrap();
    }
    b.clock.set_unix(FAR);
    b.clock.advance(Duration::from_millis(250));
    store
        .finish_attempt("att_1", AttemptOutcome::Approved, Some("pi_1"), None, 5)
        .await
        .unwrap();
    b.clock.advance(Duration::from_secs(1));
    let finish = AttemptFinish {
        id: "att_2".into(),
        outcome: AttemptOutcome::Declined,
        provider_reference: None,
        error_code: Some("card_declined".into()),
        latency_ms: 7,
    };
    let commit = Commit {
        finished_attempts: vec![finish],
        audit: Some(AuditEntry {
            kind: "test.stamped".into(),
            detail: serde_json::json!({}),
        }),
        ..Commit::default()
    };
    store.commit(&commit).await.unwrap();
    let stamps: Vec<_> = store
        .list_attempts("pay_1")
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.updated_at))
        .collect();
    assert_eq!(
        stamps,
        [
            ("att_1".to_string(), "2033-05-18T03:33:20.250Z".to_string()),
            ("att_2".to_string(), "2033-05-18T03:33:21.250Z".to_string()),
        ]
    );
}
