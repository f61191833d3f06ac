//! Tests only the PostgreSQL store has: opening (URLs, schemas, TLS,
//! migrations, an unreachable server) and the lease boundary at a chosen
//! clock. Replicas racing on one schema are in `tests_replicas`; what the
//! trait promises is in the contract suite (`store::contract`).

use std::time::{Duration, Instant};

use super::{PostgresStore, drop_test_schema, inbound, records};
use crate::domain::store::{Store, StoreError};
use crate::store::contract::{T0, TEST_POOL_SIZE, event, payment, postgres_test_url};

impl PostgresStore {
    /// Runs SQL on a pooled connection, for tests that age or break rows.
    pub(crate) async fn exec_for_tests(&self, sql: &str) {
        let c = self.pool.get().await.unwrap();
        c.batch_execute(sql).await.unwrap();
    }

    /// The first column of the rows of a query, as text.
    pub(crate) async fn strings_for_tests(&self, sql: &str) -> Vec<String> {
        let c = self.pool.get().await.unwrap();
        let rows = c.query(sql, &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }
}

pub(super) async fn open(url: &str) -> PostgresStore {
    PostgresStore::open_sized(url, TEST_POOL_SIZE)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_test_url_selects_its_own_schema_and_tables_land_there() {
    let url = postgres_test_url().await;
    assert!(url.contains("options=-c%20search_path%3Dt_"), "{url}");
    let store = open(&url).await;
    let schema = store
        .strings_for_tests("SELECT current_schema()::text")
        .await;
    assert!(schema[0].starts_with("t_"), "{schema:?}");
    let tables = store
        .strings_for_tests(&format!(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = '{}' AND table_name = 'payment_locks'",
            schema[0]
        ))
        .await;
    assert_eq!(tables, ["payment_locks"]);
    drop(store);
    drop_test_schema(&url).await.unwrap();
    let gone = PostgresStore::open_sized(&url, 1).await.err();
    assert!(matches!(gone, Some(StoreError::Unavailable(_))), "{gone:?}");
}

#[tokio::test]
async fn only_schemas_made_for_tests_are_dropped() {
    // The base URL resolves to `public`, which must survive.
    let base =
        std::env::var(super::TEST_URL_ENV).unwrap_or_else(|_| super::DEFAULT_TEST_URL.to_owned());
    let url = postgres_test_url().await; // fails clearly if the server is down
    let err = drop_test_schema(&base).await.unwrap_err();
    assert!(matches!(err, StoreError::BadUrl(_)), "{err:?}");
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test]
async fn store_open_accepts_both_url_schemes() {
    let url = postgres_test_url().await;
    for scheme_url in [url.clone(), url.replacen("postgres://", "postgresql://", 1)] {
        let store = crate::store::open(&scheme_url, false, Default::default())
            .await
            .unwrap();
        store.ping().await.unwrap();
    }
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test]
async fn a_search_path_naming_no_schema_is_refused() {
    let url = postgres_test_url().await;
    let missing = url.replace("search_path%3Dt_", "search_path%3Dmissing_t_");
    let err = PostgresStore::open_sized(&missing, 1).await.err().unwrap();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("schema")),
        "{err:?}"
    );
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_seconds() {
    let started = Instant::now();
    let err = PostgresStore::open("postgres://postgres@127.0.0.1:1/test")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable_within_seconds() {
    // Accepts connections and says nothing, like a hung server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let err = PostgresStore::open(&url).await.err().unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

#[tokio::test]
async fn reopening_keeps_data_and_a_newer_schema_is_refused() {
    let url = postgres_test_url().await;
    let store = open(&url).await;
    store
        .insert_payment(&payment("pay_1", "m1", "order-1", T0))
        .await
        .unwrap();
    drop(store);
    let store = open(&url).await;
    assert!(store.get_payment("m1", "pay_1").await.unwrap().is_some());
    let versions = store
        .strings_for_tests("SELECT version::text FROM schema_migrations")
        .await;
    assert_eq!(versions, ["1", "2", "3", "4"]);

    store
        .exec_for_tests("INSERT INTO schema_migrations VALUES (999, 'later')")
        .await;
    drop(store);
    let err = PostgresStore::open_sized(&url, 1).await.err().unwrap();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("newer")),
        "{err:?}"
    );
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_apply_migrations_once() {
    let url = postgres_test_url().await;
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::open_sized(&url, 1).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(o.await.unwrap().unwrap());
    }
    let versions = stores[0]
        .strings_for_tests("SELECT version::text FROM schema_migrations")
        .await;
    assert_eq!(versions, ["1", "2", "3", "4"]);
    drop(stores);
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test]
async fn an_inbound_lease_frees_the_event_exactly_when_it_expires() {
    let url = postgres_test_url().await;
    let store = open(&url).await;
    store
        .insert_inbound_events(&[event("ie_1", "a", 100)], 0)
        .await
        .unwrap();
    let c = store.pool.get().await.unwrap();
    assert_eq!(inbound::claim(&c, 1000, 10, 60).await.unwrap().len(), 1);
    assert!(inbound::claim(&c, 1059, 10, 60).await.unwrap().is_empty());
    assert_eq!(inbound::claim(&c, 1060, 10, 60).await.unwrap().len(), 1);
    drop((c, store));
    drop_test_schema(&url).await.unwrap();
}

/// The test URL over TLS to `localhost` (the name the local server's
/// certificate carries), trusting the certificate file the server uses.
async fn tls_url(sslmode: &str, trust_server_cert: bool) -> (String, String) {
    let url = postgres_test_url().await;
    let plain = open(&url).await;
    let ssl = plain.strings_for_tests("SHOW ssl").await;
    assert_eq!(ssl, ["on"], "the test server must have TLS on (ssl = on)");
    let cert = plain
        .strings_for_tests("SHOW ssl_cert_file")
        .await
        .remove(0);
    let mut tls = url.replacen("@127.0.0.1:", "@localhost:", 1) + "&sslmode=" + sslmode;
    if trust_server_cert {
        tls = tls + "&sslrootcert=" + &cert;
    }
    (url, tls)
}

#[tokio::test]
async fn verify_full_connects_over_tls_with_the_servers_own_root() {
    let (url, tls) = tls_url("verify-full", true).await;
    let store = open(&tls).await;
    store.ping().await.unwrap();
    let ssl = store
        .strings_for_tests("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await;
    assert_eq!(ssl, ["true"], "the session is encrypted");
    drop(store);
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test]
async fn require_refuses_a_certificate_no_trusted_root_signs() {
    // The local server's certificate is self-signed: unlike libpq's
    // `require`, payroute checks the chain, so without `sslrootcert` the
    // handshake fails and nothing is sent in the clear either.
    let (url, tls) = tls_url("require", false).await;
    let err = PostgresStore::open(&tls).await.err().unwrap();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    drop_test_schema(&url).await.unwrap();
}

/// A new schema's tables have no statistics until autovacuum's first
/// ANALYZE, and a generic plan made then is kept until the next one: a
/// statement naming a payment by id and merchant must still find it
/// through the primary key, never by filtering every payment of the
/// merchant (which, under load, halved throughput).
#[tokio::test]
async fn a_payment_named_by_id_is_found_by_its_primary_key_on_a_table_without_statistics() {
    let url = postgres_test_url().await;
    // One connection: the session's settings and prepared statements hold.
    let store = PostgresStore::open_sized(&url, 1).await.unwrap();
    store
        .exec_for_tests(&format!(
            "SET plan_cache_mode = force_generic_plan;
             PREPARE get_one AS SELECT id FROM payments {};
             PREPARE update_one AS {}",
            records::BY_ID_AND_MERCHANT,
            records::UPDATE_PAYMENT
        ))
        .await;
    for execute in [
        "EXECUTE get_one('pay_1', 'm1')",
        "EXECUTE update_one('pay_1', 'm1', 'captured', 0, 0, NULL, NULL, '{}', '{}', \
         NULL, NULL, NULL, '{}', 't')",
    ] {
        let plan = store
            .strings_for_tests(&format!("EXPLAIN {execute}"))
            .await
            .join("\n");
        assert!(
            plan.contains("using payments_pkey") && plan.contains("Index Cond: (id = $1)"),
            "{execute}:\n{plan}"
        );
    }
    drop(store);
    drop_test_schema(&url).await.unwrap();
}
