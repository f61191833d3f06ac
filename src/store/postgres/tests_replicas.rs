//! Replicas on one schema: several `PostgresStore`s (each its own pool, as
//! separate processes would have) racing on the write paths, leading roles
//! and leasing payments. Only the database's own locking keeps them apart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::tests::open;
use super::tests_steps::{first_unit, second_unit};
use super::{PostgresStore, drop_test_schema, leases};
use crate::domain::clock::Clock;
use crate::domain::store::events::InboundStatus;
use crate::domain::store::{Commit, IdemClaim, PaymentLease, Store, StoreError};
use crate::store::contract::{
    T0, count_claimed, delivery, enqueue, event, key, payment, postgres_test_url, settle,
};

/// `n` stores on one fresh schema, and its URL for the final drop.
async fn replicas(n: usize) -> (String, Vec<Arc<PostgresStore>>) {
    let url = postgres_test_url().await;
    let mut stores = Vec::new();
    for _ in 0..n {
        stores.push(Arc::new(open(&url).await));
    }
    (url, stores)
}

/// These stores run on the system clock, as replicas on separate hosts do.
fn now_unix() -> i64 {
    Clock::system().now_unix()
}

async fn finish(url: &str, stores: Vec<Arc<PostgresStore>>) {
    drop(stores);
    drop_test_schema(url).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_claiming_one_key_yield_exactly_one_claimed() {
    let (url, stores) = replicas(2).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move { store.claim_idempotency(key("k", "fp", 3600)).await })
        })
        .collect();
    assert_eq!(count_claimed(tasks).await, 1);
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_claiming_one_key_with_units_make_one_payment() {
    let (url, stores) = replicas(2).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move {
                let unit = first_unit(&format!("pay_{i}"));
                store.claim_and_commit(key("k1", "fp", 3600), &unit).await
            })
        })
        .collect();
    assert_eq!(count_claimed(tasks).await, 1);
    let made = stores[1]
        .find_payments_by_reference("m1", "order-1")
        .await
        .unwrap();
    assert_eq!(made.len(), 1, "one payment for one key");
    let attempts = stores[0]
        .strings_for_tests("SELECT payment_id FROM attempts")
        .await;
    assert_eq!(attempts, [made[0].id.clone()], "and only its attempt");
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_retaking_one_claim_yield_one_winner() {
    let (url, stores) = replicas(2).await;
    stores[0]
        .claim_idempotency(key("k", "fp", 3600))
        .await
        .unwrap();
    let since = now_unix() + 5;
    stores[0]
        .exec_for_tests(&format!("UPDATE idempotency_keys SET created_at = {since}"))
        .await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move { store.retake_idempotency("m1", "k", since).await })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1);
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_inserting_one_event_store_it_once() {
    let (url, stores) = replicas(2).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let e = event(&format!("ie_{i}"), "evt_same", 100);
            tokio::spawn(async move { store.insert_inbound_events(&[e], 0).await })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        fresh += t.await.unwrap().unwrap().iter().filter(|f| **f).count();
    }
    assert_eq!(fresh, 1);
    let stored = stores[1]
        .list_inbound_events(InboundStatus::Received, 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_never_claim_the_same_inbound_event() {
    let (url, stores) = replicas(2).await;
    let events: Vec<_> = (0..40)
        .map(|i| event(&format!("ie_{i}"), &format!("evt_{i}"), 100 + i))
        .collect();
    stores[0].insert_inbound_events(&events, 0).await.unwrap();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move { store.claim_inbound_events(3, 3600).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        for e in t.await.unwrap().unwrap() {
            assert!(seen.insert(e.id.clone()), "{} claimed twice", e.id);
        }
    }
    assert_eq!(seen.len(), 40);
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_never_claim_the_same_delivery() {
    let (url, stores) = replicas(2).await;
    let due = (0..40).map(|i| delivery(&format!("d{i}"), 0, T0)).collect();
    enqueue(&*stores[0], due).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move { store.claim_due_deliveries(10, 3, 3600).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        for d in t.await.unwrap().unwrap() {
            assert!(seen.insert(d.id.clone()), "{} claimed twice", d.id);
        }
    }
    assert_eq!(seen.len(), 40);
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_settling_one_event_apply_it_once() {
    let (url, stores) = replicas(2).await;
    stores[0]
        .insert_payment(&payment("pay_1", "m1", "o1", T0))
        .await
        .unwrap();
    stores[0]
        .insert_inbound_events(&[event("ie_1", "a", 100)], 0)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let mut c = settle("ie_1", InboundStatus::Applied);
            c.deliveries = vec![delivery(&format!("d{i}"), 0, T0)];
            tokio::spawn(async move { store.commit(&c).await })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => applied += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(applied, 1);
    let deliveries = stores[1].list_deliveries(None, 100).await.unwrap();
    assert_eq!(deliveries.len(), 1, "only the winner's events were kept");
    finish(&url, stores).await;
}

/// Asks `store` to lead until it does, for up to a few seconds: the server
/// frees a dead session's locks once that session's process has exited.
async fn leads_soon(store: &PostgresStore, role: &str) -> bool {
    for _ in 0..50 {
        if store.try_lead(role).await.unwrap_or(false) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_store_leads_until_the_leader_is_dropped() {
    let (url, mut stores) = replicas(2).await;
    let first = stores[0].try_lead("reconciler").await.unwrap();
    let second = stores[1].try_lead("reconciler").await.unwrap();
    assert!(first ^ second, "one leader: {first} {second}");
    let (leader, follower) = if first { (0, 1) } else { (1, 0) };
    for _ in 0..3 {
        assert!(stores[leader].try_lead("reconciler").await.unwrap());
        assert!(!stores[follower].try_lead("reconciler").await.unwrap());
    }
    // Another role is a lock of its own.
    assert!(stores[follower].try_lead("reaper").await.unwrap());
    assert!(!stores[leader].try_lead("reaper").await.unwrap());

    drop(stores.remove(leader));
    let survivor = &stores[0];
    assert!(leads_soon(survivor, "reconciler").await, "takes over");
    assert!(survivor.try_lead("reaper").await.unwrap(), "still leads");
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_session_dies_is_told_so_and_another_takes_over() {
    let (url, stores) = replicas(2).await;
    assert!(stores[0].try_lead("reconciler").await.unwrap());
    assert!(!stores[1].try_lead("reconciler").await.unwrap());
    let pid = leases::session_pid(&stores[0].leadership).await.unwrap();
    stores[1]
        .exec_for_tests(&format!("SELECT pg_terminate_backend({pid}, 5000)"))
        .await;

    assert!(leads_soon(&stores[1], "reconciler").await, "takes over");
    assert!(
        !stores[0].try_lead("reconciler").await.unwrap(),
        "the old leader is told it lost the role"
    );
    assert!(
        !stores[0].try_lead("reconciler").await.unwrap(),
        "and does not get it back while the new one lives"
    );
    let new_pid = leases::session_pid(&stores[0].leadership).await;
    assert!(
        new_pid.is_some_and(|p| p != pid),
        "reconnected: {new_pid:?}"
    );
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_leader_whose_session_dies_leads_again_after_one_false() {
    let (url, stores) = replicas(1).await;
    assert!(stores[0].try_lead("reconciler").await.unwrap());
    let pid = leases::session_pid(&stores[0].leadership).await.unwrap();
    stores[0]
        .exec_for_tests(&format!("SELECT pg_terminate_backend({pid}, 5000)"))
        .await;
    assert!(!stores[0].try_lead("reconciler").await.unwrap());
    assert!(leads_soon(&stores[0], "reconciler").await);
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_leases_exclude_other_holders_until_they_expire() {
    let (url, stores) = replicas(2).await;
    let (a, b) = (&stores[0], &stores[1]);
    assert!(a.lock_payment("pay_1", "a", 1000, 30).await.unwrap());
    assert!(!b.lock_payment("pay_1", "b", 1010, 30).await.unwrap());
    assert!(
        b.lock_payment("pay_2", "b", 1010, 30).await.unwrap(),
        "per payment"
    );
    assert!(
        a.lock_payment("pay_1", "a", 1020, 30).await.unwrap(),
        "renewed to 1050"
    );
    assert!(!b.lock_payment("pay_1", "b", 1050, 30).await.unwrap());
    assert!(
        b.lock_payment("pay_1", "b", 1051, 30).await.unwrap(),
        "expired"
    );
    assert!(!a.lock_payment("pay_1", "a", 1052, 30).await.unwrap());
    // Unlocking someone else's lease does nothing; the holder's frees it.
    a.unlock_payment("pay_1", "a").await.unwrap();
    assert!(!a.lock_payment("pay_1", "a", 1053, 30).await.unwrap());
    b.unlock_payment("pay_1", "b").await.unwrap();
    assert!(a.lock_payment("pay_1", "a", 1053, 30).await.unwrap());
    finish(&url, stores).await;
}

/// A create takes its payment's lease in the unit that makes the payment
/// visible and ends it in the unit that records the outcome: no round trip
/// of their own, and the same exclusion as `lock_payment`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_in_a_unit_excludes_other_replicas_until_a_unit_ends_it() {
    let (url, stores) = replicas(2).await;
    let (a, b) = (&stores[0], &stores[1]);
    let lease = |id: &str, holder: &str| PaymentLease {
        payment_id: id.into(),
        holder: holder.into(),
        until: now_unix() + 60,
    };
    let mut first = first_unit("pay_1");
    first.take_lease = Some(lease("pay_1", "a"));
    let claim = a.claim_and_commit(key("k1", "fp", 3600), &first).await;
    assert_eq!(claim.unwrap(), IdemClaim::Claimed);
    assert!(!b.lock_payment("pay_1", "b", now_unix(), 30).await.unwrap());

    // A unit that cannot take the lease writes none of its parts.
    let mut rival = first_unit("pay_2");
    rival.take_lease = Some(lease("pay_1", "b"));
    let refused = b.commit(&rival).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert!(b.get_payment_by_id("pay_2").await.unwrap().is_none());

    let mut outcome = second_unit("pay_1", "k1");
    outcome.end_lease = Some(lease("pay_1", "a"));
    a.commit(&outcome).await.unwrap();
    assert!(b.lock_payment("pay_1", "b", now_unix(), 30).await.unwrap());
    // Ending a lease that is another holder's leaves it in place.
    let stray = Commit {
        end_lease: Some(lease("pay_1", "a")),
        ..Commit::default()
    };
    a.commit(&stray).await.unwrap();
    assert!(!a.lock_payment("pay_1", "a", now_unix(), 30).await.unwrap());
    finish(&url, stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payment_lock_requests_have_one_winner() {
    let (url, stores) = replicas(2).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let holder = format!("h{i}");
            tokio::spawn(async move { store.lock_payment("pay_1", &holder, 1000, 30).await })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1);
    finish(&url, stores).await;
}
