//! Tests only the SQLite store can run: a file reopened, two stores (two
//! writer connections, as two processes would have) on one file, the
//! lease boundary at a chosen clock. Everything the trait promises is in
//! the contract suite (`store::contract`), which runs here too.

use std::collections::HashSet;
use std::sync::Arc;

use super::{SqliteStore, inbound};
use crate::domain::store::{Store, StoreError};
use crate::store::contract::{T0, count_claimed, delivery, enqueue, event, key, payment};

impl SqliteStore {
    /// Runs SQL on the writer, for contract tests that age or break rows.
    pub(crate) async fn exec_for_tests(&self, sql: &str) {
        let sql = sql.to_owned();
        self.write(move |c| Ok(c.execute_batch(&sql)?))
            .await
            .unwrap();
    }
}

/// A file store in a fresh temp dir; the dir must outlive the store.
async fn file_store() -> (tempfile::TempDir, String, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/payroute.db");
    let path = path.to_str().unwrap().to_owned();
    let store = SqliteStore::open(&path, true).await.unwrap();
    (dir, path, store)
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
    let versions: Vec<i64> = store
        .read(|conn| {
            let mut stmt = conn.prepare("SELECT version FROM schema_migrations")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    assert_eq!(versions, [1, 2, 3, 4]);
    drop((store, dir));
}

#[tokio::test]
async fn a_schema_newer_than_the_build_is_refused() {
    let (_dir, path, store) = file_store().await;
    store
        .exec_for_tests("INSERT INTO schema_migrations VALUES (999, 'later')")
        .await;
    drop(store);
    let err = SqliteStore::open(&path, false).await.err().unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_inbound_lease_frees_the_event_exactly_when_it_expires() {
    let store = SqliteStore::open(":memory:", false).await.unwrap();
    store
        .insert_inbound_events(&[event("ie_1", "a", 100)], 0)
        .await
        .unwrap();
    let claim_at = |now| store.write(move |c| inbound::claim(c, now, 10, 60));
    assert_eq!(claim_at(1000).await.unwrap().len(), 1);
    assert!(claim_at(1059).await.unwrap().is_empty());
    assert_eq!(claim_at(1060).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_never_claim_the_same_delivery() {
    // Two writer connections: only the IMMEDIATE transaction around
    // select-and-lease keeps their claims apart.
    let (_dir, path, first) = file_store().await;
    let second = SqliteStore::open(&path, false).await.unwrap();
    enqueue(
        &first,
        (0..40).map(|i| delivery(&format!("d{i}"), 0, T0)).collect(),
    )
    .await;
    let stores = [Arc::new(first), Arc::new(second)];
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
    // 30 claims of up to 3 cover all 40, each exactly once.
    assert_eq!(seen.len(), 40);
}
