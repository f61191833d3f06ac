//! The contract for the webhook side of a store, run against every
//! backend: inbound dedup and leases, atomic commits, orphans and the
//! outbound delivery queue.

use serde_json::json;

use super::{
    Backend, T0, T1, T2, contract_tests, delivery, delivery_ids, dispute, enqueue, event,
    event_ids, payment, refund, settle,
};
use crate::domain::model::{PaymentStatus, RefundStatus};
use crate::domain::store::events::*;
use crate::domain::store::{AuditEntry, StoreError};

contract_tests!(
    duplicate_inbound_events_are_flagged_in_one_batch_and_across_calls,
    an_inbound_id_clash_is_a_conflict_and_stores_none_of_the_batch,
    claimed_inbound_events_come_oldest_first_and_are_not_reclaimed_while_leased,
    a_processed_inbound_event_is_not_claimed_again,
    settling_an_already_settled_event_conflicts_and_rolls_back_the_commit,
    a_commit_for_a_missing_payment_writes_nothing,
    a_refund_or_dispute_on_a_missing_payment_is_not_found,
    commit_inserts_then_updates_refunds_and_disputes_by_id,
    a_second_dispute_id_for_one_provider_reference_is_a_conflict,
    unscoped_reads_find_payments_and_refunds_without_a_merchant,
    requeue_orphans_returns_only_orphans_judged_before_the_cutoff,
    due_deliveries_are_claimed_most_overdue_first_and_leased,
    an_updated_delivery_round_trips_and_a_delivered_one_is_never_claimed,
    list_deliveries_filters_by_status_newest_first,
);

async fn duplicate_inbound_events_are_flagged_in_one_batch_and_across_calls(b: &Backend) {
    let store = &*b.store;
    let first = [event("ie_1", "evt_a", 10), event("ie_2", "evt_a", 11)];
    assert_eq!(
        store.insert_inbound_events(&first, 0).await.unwrap(),
        [true, false]
    );
    let second = [event("ie_3", "evt_b", 12), event("ie_4", "evt_a", 13)];
    assert_eq!(
        store.insert_inbound_events(&second, 0).await.unwrap(),
        [true, false]
    );
    // The same provider event id on another gateway is a different event.
    let mut other = event("ie_5", "evt_a", 14);
    other.gateway_id = "adyen_eu".into();
    assert_eq!(
        store.insert_inbound_events(&[other], 0).await.unwrap(),
        [true]
    );

    let stored = store
        .list_inbound_events(InboundStatus::Received, 10)
        .await
        .unwrap();
    assert_eq!(event_ids(&stored), ["ie_1", "ie_3", "ie_5"]);
    assert_eq!(stored[0], event("ie_1", "evt_a", 10));
}

async fn an_inbound_id_clash_is_a_conflict_and_stores_none_of_the_batch(b: &Backend) {
    let store = &*b.store;
    store
        .insert_inbound_events(&[event("ie_1", "evt_a", 10)], 0)
        .await
        .unwrap();
    let batch = [event("ie_2", "evt_b", 11), event("ie_1", "evt_c", 12)];
    let err = store.insert_inbound_events(&batch, 0).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let stored = store
        .list_inbound_events(InboundStatus::Received, 10)
        .await
        .unwrap();
    assert_eq!(event_ids(&stored), ["ie_1"]);
}

async fn claimed_inbound_events_come_oldest_first_and_are_not_reclaimed_while_leased(b: &Backend) {
    let store = &*b.store;
    let events = [
        event("ie_c", "c", 300),
        event("ie_a", "a", 100),
        event("ie_b", "b", 200),
    ];
    store.insert_inbound_events(&events, 0).await.unwrap();

    let first = store.claim_inbound_events(2, 3600).await.unwrap();
    assert_eq!(event_ids(&first), ["ie_a", "ie_b"]);
    let second = store.claim_inbound_events(10, 3600).await.unwrap();
    assert_eq!(event_ids(&second), ["ie_c"]);
    assert!(
        store
            .claim_inbound_events(10, 3600)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_processed_inbound_event_is_not_claimed_again(b: &Backend) {
    let store = &*b.store;
    store
        .insert_inbound_events(&[event("ie_1", "a", 100), event("ie_2", "b", 101)], 0)
        .await
        .unwrap();
    // A zero lease is expired at once: only the settled status keeps
    // ie_1 from being claimed below.
    assert_eq!(store.claim_inbound_events(10, 0).await.unwrap().len(), 2);
    store
        .commit(&settle("ie_1", InboundStatus::Applied))
        .await
        .unwrap();
    let again = store.claim_inbound_events(10, 0).await.unwrap();
    assert_eq!(event_ids(&again), ["ie_2"]);

    let applied = store
        .list_inbound_events(InboundStatus::Applied, 10)
        .await
        .unwrap();
    assert_eq!(applied[0].note.as_deref(), Some("why"));
}

async fn settling_an_already_settled_event_conflicts_and_rolls_back_the_commit(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "o1", T0))
        .await
        .unwrap();
    store
        .insert_inbound_events(&[event("ie_1", "a", 100)], 0)
        .await
        .unwrap();
    store
        .commit(&settle("ie_1", InboundStatus::Applied))
        .await
        .unwrap();

    // A second worker (its lease ran out) applies the same event again:
    // every part before the inbound mark must be undone.
    let mut p = payment("pay_1", "m1", "o1", T0);
    p.status = PaymentStatus::Captured;
    let late = Commit {
        payment: Some(p),
        refunds: vec![refund("re_1", "pay_1", 100, T1)],
        disputes: vec![dispute("dp_1", "pay_1", "du_1")],
        deliveries: vec![delivery("d1", 0, T1)],
        ..settle("ie_1", InboundStatus::Applied)
    };
    let err = store.commit(&late).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let got = store.get_payment("m1", "pay_1").await.unwrap().unwrap();
    assert_eq!(got.status, PaymentStatus::Processing);
    assert!(got.refunds.is_empty());
    assert!(store.list_disputes("pay_1").await.unwrap().is_empty());
    assert!(store.list_deliveries(None, 10).await.unwrap().is_empty());
}

async fn a_commit_for_a_missing_payment_writes_nothing(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "o1", T0))
        .await
        .unwrap();
    store
        .insert_inbound_events(&[event("ie_1", "a", 100)], 0)
        .await
        .unwrap();
    let c = Commit {
        payment: Some(payment("pay_missing", "m1", "o2", T0)),
        // These would all succeed on their own (pay_1 exists).
        refunds: vec![refund("re_1", "pay_1", 100, T1)],
        disputes: vec![dispute("dp_1", "pay_1", "du_1")],
        deliveries: vec![delivery("d1", 0, T1)],
        audit: Some(AuditEntry {
            kind: "webhook.applied".into(),
            detail: json!({}),
        }),
        ..settle("ie_1", InboundStatus::Applied)
    };
    let err = store.commit(&c).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    assert!(store.get_refund_by_id("re_1").await.unwrap().is_none());
    assert!(store.list_disputes("pay_1").await.unwrap().is_empty());
    assert!(store.list_deliveries(None, 10).await.unwrap().is_empty());
    assert!(store.list_audit(10).await.unwrap().is_empty());
    let pending = store
        .list_inbound_events(InboundStatus::Received, 10)
        .await
        .unwrap();
    assert_eq!(event_ids(&pending), ["ie_1"]);
}

async fn a_refund_or_dispute_on_a_missing_payment_is_not_found(b: &Backend) {
    let store = &*b.store;
    for c in [
        Commit {
            refunds: vec![refund("re_1", "pay_x", 100, T1)],
            ..Commit::default()
        },
        Commit {
            disputes: vec![dispute("dp_1", "pay_x", "du_1")],
            ..Commit::default()
        },
    ] {
        let err = store.commit(&c).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
}

async fn commit_inserts_then_updates_refunds_and_disputes_by_id(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "o1", T0))
        .await
        .unwrap();
    let mut p = payment("pay_1", "m1", "o1", T0);
    p.status = PaymentStatus::PartiallyRefunded;
    p.amount_refunded = 500;
    let first = Commit {
        payment: Some(p),
        refunds: vec![refund("re_1", "pay_1", 500, T1)],
        disputes: vec![dispute("dp_1", "pay_1", "du_1")],
        deliveries: vec![delivery("d1", 0, T1)],
        audit: Some(AuditEntry {
            kind: "webhook.applied".into(),
            detail: json!({"n": 1}),
        }),
        ..Commit::default()
    };
    store.commit(&first).await.unwrap();

    let mut r = refund("re_1", "pay_1", 500, T1);
    r.status = RefundStatus::Succeeded;
    r.provider_reference = Some("re_stripe_1".into());
    r.updated_at = T2.into();
    let mut d = dispute("dp_1", "pay_1", "du_1");
    d.status = DisputeStatus::Won;
    d.updated_at = T2.into();
    let second = Commit {
        refunds: vec![r.clone()],
        disputes: vec![d.clone()],
        ..Commit::default()
    };
    store.commit(&second).await.unwrap();

    let got = store.get_payment("m1", "pay_1").await.unwrap().unwrap();
    assert_eq!(got.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(got.refunds, [r.clone()]);
    // The refund's merchant came from the payment row.
    assert_eq!(store.get_refund("m1", "re_1").await.unwrap(), Some(r));
    assert_eq!(store.list_disputes("pay_1").await.unwrap(), [d.clone()]);
    let found = store
        .find_dispute_by_provider_reference("stripe_main", "du_1")
        .await
        .unwrap();
    assert_eq!(found, Some(d));
    assert_eq!(
        store.get_delivery("d1").await.unwrap(),
        Some(delivery("d1", 0, T1))
    );
    assert_eq!(store.list_audit(10).await.unwrap().len(), 1);
}

async fn a_second_dispute_id_for_one_provider_reference_is_a_conflict(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "o1", T0))
        .await
        .unwrap();
    let c = |id: &str| Commit {
        disputes: vec![dispute(id, "pay_1", "du_1")],
        ..Commit::default()
    };
    store.commit(&c("dp_1")).await.unwrap();
    let err = store.commit(&c("dp_2")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn unscoped_reads_find_payments_and_refunds_without_a_merchant(b: &Backend) {
    let store = &*b.store;
    store
        .insert_payment(&payment("pay_1", "m1", "o1", T0))
        .await
        .unwrap();
    let mut r = refund("re_1", "pay_1", 100, T1);
    r.provider_reference = Some("re_s1".into());
    store.insert_refund(&r).await.unwrap();

    let p = store.get_payment_by_id("pay_1").await.unwrap().unwrap();
    assert_eq!(p.refunds, [r.clone()]);
    assert!(store.get_payment_by_id("pay_2").await.unwrap().is_none());
    assert_eq!(
        store.get_refund_by_id("re_1").await.unwrap(),
        Some(r.clone())
    );
    let by_ref = store
        .find_refund_by_provider_reference("stripe_main", "re_s1")
        .await
        .unwrap();
    assert_eq!(by_ref, Some(r));
    let other_gateway = store
        .find_refund_by_provider_reference("adyen_eu", "re_s1")
        .await
        .unwrap();
    assert!(other_gateway.is_none());
}

async fn requeue_orphans_returns_only_orphans_judged_before_the_cutoff(b: &Backend) {
    let store = &*b.store;
    let events = [event("ie_1", "a", 100), event("ie_2", "b", 101)];
    store.insert_inbound_events(&events, 0).await.unwrap();
    assert_eq!(store.claim_inbound_events(10, 3600).await.unwrap().len(), 2);
    store
        .commit(&settle("ie_1", InboundStatus::Orphan))
        .await
        .unwrap();
    store
        .commit(&settle("ie_2", InboundStatus::Applied))
        .await
        .unwrap();

    let now = b.clock.now_unix();
    assert_eq!(store.requeue_orphans(now - 3600).await.unwrap(), 0);
    assert_eq!(store.requeue_orphans(now + 1).await.unwrap(), 1);
    assert!(
        store
            .list_inbound_events(InboundStatus::Orphan, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The settle cleared the lease, so the requeued event is claimable now.
    let claimed = store.claim_inbound_events(10, 3600).await.unwrap();
    assert_eq!(event_ids(&claimed), ["ie_1"]);
}

async fn due_deliveries_are_claimed_most_overdue_first_and_leased(b: &Backend) {
    let store = &*b.store;
    let mut done = delivery("d_done", 50, T0);
    done.status = DeliveryStatus::Delivered;
    enqueue(
        store,
        vec![
            delivery("d300", 300, T0),
            delivery("d100", 100, T1),
            delivery("d200", 200, T2),
            delivery("d1000", 1000, T0),
            done,
        ],
    )
    .await;

    let first = store.claim_due_deliveries(500, 2, 60).await.unwrap();
    assert_eq!(delivery_ids(&first), ["d100", "d200"]);
    assert!(first.iter().all(|d| d.next_attempt_at == 560));
    let second = store.claim_due_deliveries(500, 10, 60).await.unwrap();
    assert_eq!(delivery_ids(&second), ["d300"]);
    assert!(
        store
            .claim_due_deliveries(559, 10, 60)
            .await
            .unwrap()
            .is_empty()
    );

    // Leases end together: ties go to the oldest delivery.
    let expired = store.claim_due_deliveries(560, 10, 10_000).await.unwrap();
    assert_eq!(delivery_ids(&expired), ["d300", "d100", "d200"]);
    let later = store.claim_due_deliveries(1000, 10, 60).await.unwrap();
    assert_eq!(delivery_ids(&later), ["d1000"]);
}

async fn an_updated_delivery_round_trips_and_a_delivered_one_is_never_claimed(b: &Backend) {
    let store = &*b.store;
    enqueue(store, vec![delivery("d1", 100, T0)]).await;
    let mut d = store.claim_due_deliveries(100, 10, 60).await.unwrap()[0].clone();
    d.status = DeliveryStatus::Delivered;
    d.attempts = 1;
    d.last_status = Some(200);
    d.last_error = Some("none".into());
    d.updated_at = T1.into();
    store.update_delivery(&d).await.unwrap();
    assert_eq!(store.get_delivery("d1").await.unwrap(), Some(d));
    assert!(
        store
            .claim_due_deliveries(i64::MAX, 10, 60)
            .await
            .unwrap()
            .is_empty()
    );

    let err = store
        .update_delivery(&delivery("d_missing", 0, T0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn list_deliveries_filters_by_status_newest_first(b: &Backend) {
    let store = &*b.store;
    let mut failed = delivery("d_failed", 0, T1);
    failed.status = DeliveryStatus::Failed;
    enqueue(
        store,
        vec![delivery("d0", 0, T0), failed, delivery("d2", 0, T2)],
    )
    .await;

    let all = store.list_deliveries(None, 10).await.unwrap();
    assert_eq!(delivery_ids(&all), ["d2", "d_failed", "d0"]);
    let pending = store
        .list_deliveries(Some(DeliveryStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(delivery_ids(&pending), ["d2", "d0"]);
    let failed = store
        .list_deliveries(Some(DeliveryStatus::Failed), 10)
        .await
        .unwrap();
    assert_eq!(delivery_ids(&failed), ["d_failed"]);
    assert_eq!(store.list_deliveries(None, 1).await.unwrap().len(), 1);
}
