//! The contract every [`Store`] backend keeps, as one test suite run
//! against each: every test here is an `async fn(&Backend)` written
//! against `dyn Store` alone, and [`contract_tests!`] turns each into one
//! `#[tokio::test]` per backend (SQLite in memory, SQLite in a WAL file,
//! PostgreSQL in a fresh schema of its own). What only one backend can
//! show (a file reopened, two processes on one file, replicas racing on
//! one schema) stays with that backend's own tests.
//!
//! Each store runs on a manual clock ([`Backend::clock`]) that starts at the
//! present and stands still until a test moves it.
//!
//! PostgreSQL tests use the server at [`postgres::DEFAULT_TEST_URL`], or
//! the one named by `PAYROUTE_TEST_POSTGRES`, and fail (never skip) when
//! it cannot be reached.

mod clock;
mod fixtures;
mod records;
mod units;
mod webhooks;

pub(crate) use fixtures::*;

use std::sync::Arc;

use super::postgres::{self, PostgresStore};
use super::sqlite::SqliteStore;
use crate::domain::clock::Clock;
use crate::domain::store::{Store, StoreError};

/// Connections per PostgreSQL test store: enough for real concurrency,
/// few enough that many tests share one server's connection limit.
pub(crate) const TEST_POOL_SIZE: usize = 4;

/// A store under test, with what it takes to reach under the trait.
pub(crate) struct Backend {
    pub store: Arc<dyn Store>,
    /// The store's "now".
    pub clock: Clock,
    kind: Kind,
}

enum Kind {
    /// The temp dir of a file store, removed once the store is dropped.
    Sqlite(
        Arc<SqliteStore>,
        #[allow(dead_code)] Option<tempfile::TempDir>,
    ),
    Postgres(Arc<PostgresStore>, String),
}

impl Backend {
    pub async fn sqlite_memory() -> Backend {
        let clock = Clock::manual_at_system_time();
        let store = SqliteStore::open(":memory:", false).await.unwrap();
        let store = Arc::new(store.with_clock(clock.clone()));
        Backend {
            store: store.clone(),
            clock,
            kind: Kind::Sqlite(store, None),
        }
    }

    /// A WAL file in a fresh temp dir: readers on their own connections.
    pub async fn sqlite_file() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/payroute.db");
        let store = SqliteStore::open(path.to_str().unwrap(), true)
            .await
            .unwrap();
        let clock = Clock::manual_at_system_time();
        let store = Arc::new(store.with_clock(clock.clone()));
        Backend {
            store: store.clone(),
            clock,
            kind: Kind::Sqlite(store, Some(dir)),
        }
    }

    pub async fn postgres() -> Backend {
        let url = postgres_test_url().await;
        let store = PostgresStore::open_sized(&url, TEST_POOL_SIZE)
            .await
            .unwrap_or_else(|e| panic!("opening the test schema: {e}"));
        let clock = Clock::manual_at_system_time();
        let store = Arc::new(store.with_clock(clock.clone()));
        Backend {
            store: store.clone(),
            clock,
            kind: Kind::Postgres(store, url),
        }
    }

    /// Runs SQL under the trait, for the few tests that must age or break
    /// a row; the statements used are valid on both backends.
    pub async fn exec(&self, sql: &str) {
        match &self.kind {
            Kind::Sqlite(s, _) => s.exec_for_tests(sql).await,
            Kind::Postgres(s, _) => s.exec_for_tests(sql).await,
        }
    }

    /// Drops the PostgreSQL schema (best effort: a failed test leaves it
    /// behind for inspection).
    async fn finish(self) {
        if let Kind::Postgres(store, url) = self.kind {
            drop((self.store, store));
            if let Err(e) = postgres::drop_test_schema(&url).await {
                eprintln!("dropping test schema: {e}");
            }
        }
    }
}

/// A fresh schema on the test server; panics with the way out when the
/// server cannot be reached.
pub(crate) async fn postgres_test_url() -> String {
    let base = std::env::var(postgres::TEST_URL_ENV)
        .unwrap_or_else(|_| postgres::DEFAULT_TEST_URL.to_owned());
    match postgres::create_test_schema(&base).await {
        Ok(url) => url,
        Err(e @ StoreError::Unavailable(_)) => panic!(
            "PostgreSQL for tests unreachable at {base}: {e}. Start it, or set {} to a \
             server where this user may create schemas.",
            postgres::TEST_URL_ENV
        ),
        Err(e) => panic!("creating a test schema on {base}: {e}"),
    }
}

/// Runs one contract test against a fresh backend.
pub(crate) async fn run(backend: Backend, test: impl AsyncFnOnce(&Backend)) {
    test(&backend).await;
    backend.finish().await;
}

/// One `#[tokio::test]` per backend for each named contract test.
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = $crate::store::contract::Backend::sqlite_memory().await;
                    $crate::store::contract::run(b, super::$name).await;
                }
            )*
        }
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = $crate::store::contract::Backend::sqlite_file().await;
                    $crate::store::contract::run(b, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = $crate::store::contract::Backend::postgres().await;
                    $crate::store::contract::run(b, super::$name).await;
                }
            )*
        }
    };
}
pub(crate) use contract_tests;
