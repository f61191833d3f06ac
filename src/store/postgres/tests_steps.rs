//! Units of work sent as one statement: a failure anywhere in one leaves
//! nothing written and the connection usable; a claim that loses answers
//! as a claim would; pairs of steps on one row are folded; and a unit
//! really is one round trip of one statement, shown by a proxy that holds
//! every answer of the server until the client has sent a Sync, and counts
//! the Syncs a unit sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::steps::{self, Step};
use super::tests::open;
use super::{PostgresStore, connect, drop_test_schema};
use crate::domain::model::{AttemptOutcome, PaymentStatus};
use crate::domain::store::{
    AttemptFinish, Commit, IdemClaim, IdemResponse, PaymentLease, Store, StoreError,
};
use crate::store::contract::{T0, T1, attempt, key, payment, postgres_test_url};

/// A new payment and its started attempt, as a create's first unit.
pub(super) fn first_unit(id: &str) -> Commit {
    Commit {
        new_payment: Some(payment(id, "m1", "order-1", T0)),
        new_attempts: vec![attempt(&format!("att_{id}"), id, "stripe_main", T0)],
        ..Commit::default()
    }
}

/// The outcome of `first_unit(id)`, answered under key `k`.
pub(super) fn second_unit(id: &str, k: &str) -> Commit {
    let mut p = payment(id, "m1", "order-1", T0);
    p.status = PaymentStatus::Captured;
    p.updated_at = T1.into();
    Commit {
        payment: Some(p),
        finished_attempts: vec![AttemptFinish {
            id: format!("att_{id}"),
            outcome: AttemptOutcome::Approved,
            provider_reference: Some("pi_1".into()),
            error_code: None,
            latency_ms: 12,
        }],
        response: Some(IdemResponse {
            merchant_id: "m1".into(),
            key: k.into(),
            status: 201,
            body: b"{}".to_vec(),
        }),
        ..Commit::default()
    }
}

async fn audit_kinds(store: &PostgresStore) -> Vec<String> {
    store
        .strings_for_tests("SELECT kind FROM audit_log ORDER BY id")
        .await
}

#[tokio::test]
async fn a_failing_statement_anywhere_in_a_unit_writes_nothing() {
    let url = postgres_test_url().await;
    // One connection, so every unit below runs on the one a failure used.
    let store = PostgresStore::open_sized(&url, 1).await.unwrap();
    let other = open(&url).await;
    store.commit(&first_unit("pay_1")).await.unwrap();

    // The update of a missing payment fails after the insert before it ran.
    let mut missing = first_unit("pay_2");
    missing.payment = Some(payment("pay_none", "m1", "o", T0));
    let err = store.commit(&missing).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    // The attempt's insert breaks a unique key after the payment's.
    let mut duplicate = first_unit("pay_3");
    duplicate.new_attempts[0].gateway_idempotency_key = "att_pay_1-key".into();
    let err = store.commit(&duplicate).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    for id in ["pay_2", "pay_3"] {
        assert_eq!(other.get_payment("m1", id).await.unwrap(), None, "{id}");
        assert!(other.list_attempts(id).await.unwrap().is_empty(), "{id}");
    }
    // The connection left no transaction open: what it commits next is
    // seen from another one.
    store.commit(&first_unit("pay_4")).await.unwrap();
    assert!(other.get_payment("m1", "pay_4").await.unwrap().is_some());
    drop((store, other));
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test]
async fn a_parameter_that_does_not_encode_sends_nothing_of_its_unit() {
    let url = postgres_test_url().await;
    let store = PostgresStore::open_sized(&url, 1).await.unwrap();
    let audit = |kind: &'static str| {
        Step::new("INSERT INTO audit_log (at, kind, detail) VALUES ('t', $1, '{}')").arg(kind)
    };
    // An i64 for an int4 fails in the driver, before anything is sent.
    let unsendable =
        Step::new("INSERT INTO audit_log (at, kind, detail) VALUES ('t', 'x', $1::int4::text)")
            .arg(7_i64);
    let c = store.pool.get().await.unwrap();
    let err = steps::run(&c, &[audit("sent-before"), unsendable])
        .await
        .unwrap_err();
    assert!(err.as_db_error().is_none(), "a driver error: {err:?}");
    steps::run(&c, &[audit("after")]).await.unwrap();
    drop(c);
    // Read on another connection: nothing of the first unit, nothing open.
    let other = open(&url).await;
    assert_eq!(audit_kinds(&other).await, ["after"]);
    drop((store, other));
    drop_test_schema(&url).await.unwrap();
}

/// A create that calls no gateway (risk refused it) writes its claim, its
/// payment, its answer and its lease's start and end in one unit, whose
/// steps cannot see each other's rows: the answer must still replay and no
/// lease may be left behind.
#[tokio::test]
async fn a_unit_that_claims_answers_and_leases_at_once_leaves_a_replayable_answer_and_no_lease() {
    let url = postgres_test_url().await;
    let store = open(&url).await;
    let lease = PaymentLease {
        payment_id: "pay_1".into(),
        holder: "h".into(),
        until: i64::MAX / 2,
    };
    let mut unit = first_unit("pay_1");
    unit.new_attempts.clear();
    unit.take_lease = Some(lease.clone());
    unit.end_lease = Some(lease);
    unit.response = Some(IdemResponse {
        merchant_id: "m1".into(),
        key: "k1".into(),
        status: 402,
        body: b"{\"status\":\"failed\"}".to_vec(),
    });
    let claimed = store.claim_and_commit(key("k1", "fp", 3600), &unit).await;
    assert_eq!(claimed.unwrap(), IdemClaim::Claimed);
    assert_eq!(
        store
            .claim_idempotency(key("k1", "fp", 3600))
            .await
            .unwrap(),
        IdemClaim::Replay {
            status: 402,
            body: b"{\"status\":\"failed\"}".to_vec()
        }
    );
    assert!(store.lock_payment("pay_1", "other", 0, 30).await.unwrap());
    drop(store);
    drop_test_schema(&url).await.unwrap();
}

#[tokio::test]
async fn a_claim_that_loses_writes_nothing_and_answers_as_a_claim() {
    let url = postgres_test_url().await;
    let store = open(&url).await;
    let claim = |id: &'static str, fp: &'static str| {
        let store = &store;
        async move {
            store
                .claim_and_commit(key("k1", fp, 3600), &first_unit(id))
                .await
                .unwrap()
        }
    };
    assert_eq!(claim("pay_1", "fp").await, IdemClaim::Claimed);
    assert!(matches!(
        claim("pay_2", "fp").await,
        IdemClaim::InFlight { .. }
    ));
    assert_eq!(claim("pay_3", "other").await, IdemClaim::Mismatch);
    store.commit(&second_unit("pay_1", "k1")).await.unwrap();
    assert_eq!(
        claim("pay_4", "fp").await,
        IdemClaim::Replay {
            status: 201,
            body: b"{}".to_vec()
        }
    );
    for id in ["pay_2", "pay_3", "pay_4"] {
        assert_eq!(store.get_payment("m1", id).await.unwrap(), None, "{id}");
        assert!(store.list_attempts(id).await.unwrap().is_empty(), "{id}");
    }
    // An expired key is claimed again, in the unit's statement itself.
    store
        .exec_for_tests("UPDATE idempotency_keys SET created_at = created_at - 7200")
        .await;
    assert_eq!(claim("pay_5", "fp").await, IdemClaim::Claimed);
    assert!(store.get_payment("m1", "pay_5").await.unwrap().is_some());
    drop(store);
    drop_test_schema(&url).await.unwrap();
}

/// The extended protocol's Sync as it goes on the wire: 'S' and its
/// length, 4. The driver ends each statement with one.
const SYNC_MESSAGE: &[u8] = b"S\0\0\0\x04";

/// A TCP proxy to the test server. While held, the server's bytes wait in
/// the proxy until the client sends a Sync, which opens it again; it
/// counts the Syncs clients send.
struct Gate {
    open: watch::Sender<bool>,
    syncs: Arc<AtomicUsize>,
    port: u16,
}

impl Gate {
    async fn start(upstream: (String, u16)) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (open, _) = watch::channel(true);
        let syncs = Arc::new(AtomicUsize::new(0));
        let (gate, counted) = (open.clone(), Arc::clone(&syncs));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(upstream.clone()).await.unwrap();
                relay(client, server, gate.clone(), Arc::clone(&counted));
            }
        });
        Gate { open, syncs, port }
    }

    fn hold(&self) {
        self.open.send_replace(false);
    }

    fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    fn syncs(&self) -> usize {
        self.syncs.load(Ordering::SeqCst)
    }
}

fn relay(client: TcpStream, server: TcpStream, gate: watch::Sender<bool>, syncs: Arc<AtomicUsize>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let mut opened = gate.subscribe();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        // The tail of earlier reads, for a Sync split across reads.
        let mut window = Vec::new();
        while let Ok(n @ 1..) = from_client.read(&mut buf).await {
            window.extend_from_slice(&buf[..n]);
            let seen = window
                .windows(SYNC_MESSAGE.len())
                .filter(|w| *w == SYNC_MESSAGE)
                .count();
            // Counted before the server can answer, so a caller that has
            // its answer sees its Syncs counted.
            syncs.fetch_add(seen, Ordering::SeqCst);
            if seen > 0 {
                gate.send_replace(true);
            }
            // Too short to hold a whole Sync, so one is never seen twice.
            window.drain(..window.len().saturating_sub(SYNC_MESSAGE.len() - 1));
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from_server.read(&mut buf).await {
            if opened.wait_for(|open| *open).await.is_err()
                || to_client.write_all(&buf[..n]).await.is_err()
            {
                break;
            }
        }
    });
}

/// `url` through `gate`, and the server it points at.
fn upstream_of(url: &str) -> (String, u16) {
    let config = connect::parse(url).unwrap().config;
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("a TCP test server, not {other:?}"),
    };
    (host, config.get_ports()[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_with_its_unit_and_a_commit_are_each_one_statement_in_one_round_trip() {
    let url = postgres_test_url().await;
    let (host, port) = upstream_of(&url);
    let gate = Gate::start((host.clone(), port)).await;
    let server = format!("@{host}:{port}/");
    assert!(url.contains(&server), "{url}");
    let proxied = url.replacen(&server, &format!("@127.0.0.1:{}/", gate.port), 1);
    let store = PostgresStore::open_sized(&proxied, 1).await.unwrap();
    // Warm the one connection's statement cache with units of each shape.
    let warm = store
        .claim_and_commit(key("k0", "fp", 3600), &first_unit("pay_0"))
        .await
        .unwrap();
    assert_eq!(warm, IdemClaim::Claimed);
    store.commit(&second_unit("pay_0", "k0")).await.unwrap();

    gate.hold();
    let before = gate.syncs();
    let got = store
        .claim_and_commit(key("k1", "fp", 3600), &first_unit("pay_1"))
        .await
        .unwrap();
    assert_eq!(got, IdemClaim::Claimed);
    assert!(gate.is_open(), "opened by the unit's Sync");
    assert_eq!(
        gate.syncs() - before,
        1,
        "the claim's unit is one statement"
    );
    gate.hold();
    let before = gate.syncs();
    store.commit(&second_unit("pay_1", "k1")).await.unwrap();
    assert_eq!(
        gate.syncs() - before,
        1,
        "the outcome's unit is one statement"
    );
    let p = store.get_payment("m1", "pay_1").await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Captured);

    // The gate does hold answers: a transaction that waits for its BEGIN
    // (simple protocol: no Sync) to be answered runs into the deadline.
    gate.hold();
    let err = store
        .claim_idempotency(key("k2", "fp", 3600))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    drop(store);
    drop_test_schema(&url).await.unwrap();
}
