//! PostgreSQL going away under a running payroute: readiness turns false,
//! the API answers 503 with `Retry-After` within seconds instead of
//! hanging, nothing is half-written, and payroute recovers by itself when
//! the database is back. The outage is a TCP relay between payroute and the
//! test server that the test cuts and restores.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Harness, card_payment, eventually, postgres_schema};
use http::Method;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// A relay that forwards connections to `upstream` while open; cutting it
/// drops every relayed connection and refuses new ones (closes them at once).
struct Relay {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    /// While cut: hold new connections silently open (a server that hangs,
    /// or packets dropped) instead of closing them (a server that is down).
    stall: Arc<AtomicBool>,
    conns: Arc<Mutex<JoinSet<()>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let stall = Arc::new(AtomicBool::new(false));
        let (o, st, c) = (open.clone(), stall.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    if st.load(Ordering::SeqCst) {
                        c.lock().await.spawn(async move {
                            let _held = client;
                            std::future::pending::<()>().await;
                        });
                    }
                    continue; // otherwise dropped: the connection closes
                }
                c.lock().await.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay {
            addr,
            open,
            stall,
            conns,
        }
    }

    async fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.conns.lock().await.abort_all();
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_database_that_is_down_means_503_with_retry_after_then_recovery_without_restart() {
    outage(false).await;
}

#[tokio::test]
async fn a_database_that_hangs_means_503_within_seconds_then_recovery_without_restart() {
    outage(true).await;
}

async fn outage(stall: bool) {
    let url = postgres_schema().await;
    let relay = Relay::start("127.0.0.1:5432".parse().unwrap()).await;
    relay.stall.store(stall, Ordering::SeqCst);
    let relayed = url.replacen("127.0.0.1:5432", &relay.addr.to_string(), 1);
    assert_ne!(url, relayed, "the test server URL names 127.0.0.1:5432");
    let h = Harness::start_opts(|_, _| {}, move |s| s.store = relayed).await;
    let before = h
        .post(
            "/v1/payments",
            &card_payment(1500, "USD", "4242424242424242", "o-out-1"),
            None,
        )
        .await;
    assert_eq!(before.status, 201, "{}", before.text());

    relay.cut().await;
    let ready = || async {
        let url = format!("{}/readyz", h.ops);
        h.http
            .try_send(Method::GET, &url, &[], None)
            .await
            .map(|r| r.status.as_u16())
    };
    eventually(10, "not ready", || async {
        ready().await.ok() == Some(503)
    })
    .await;
    let started = Instant::now();
    let body = card_payment(1600, "USD", "4242424242424242", "o-out-2");
    let during = h.post("/v1/payments", &body, Some("key-out-2")).await;
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "answered in {:?}, not hung",
        started.elapsed()
    );
    assert_eq!(during.status, 503, "{}", during.text());
    assert_eq!(during.json()["error"]["code"], "store_unavailable");
    assert!(during.headers.get("retry-after").is_some(), "Retry-After");
    assert!(
        h.ledger().await.iter().all(|c| c["amount"] != 1600),
        "no gateway call without a durable attempt"
    );

    relay.restore();
    eventually(20, "ready again", || async {
        ready().await.ok() == Some(200)
    })
    .await;
    let list = h.get("/v1/payments?reference=o-out-2").await.json();
    assert_eq!(list["data"], serde_json::json!([]), "nothing half-written");
    let after = h.post("/v1/payments", &body, Some("key-out-2")).await;
    assert_eq!(
        after.status,
        201,
        "the merchant's retry succeeds: {}",
        after.text()
    );
    assert_eq!(after.json()["status"], "captured");
    let charges = h
        .ledger()
        .await
        .into_iter()
        .filter(|c| c["amount"] == 1600)
        .count();
    assert_eq!(charges, 1);
    h.shutdown().await;
}

#[tokio::test]
async fn a_database_lost_during_the_gateway_call_never_leads_to_a_second_charge() {
    let url = postgres_schema().await;
    let relay = Relay::start("127.0.0.1:5432".parse().unwrap()).await;
    let relayed = url.replacen("127.0.0.1:5432", &relay.addr.to_string(), 1);
    let h = Harness::start_opts(|_, _| {}, move |s| s.store = relayed).await;
    // The gateway takes a second to answer; the database goes away meanwhile.
    // Once: the rule is gone when it fired, so the cut below waits for the
    // call to be at the gateway, not for a guess of how long that takes.
    h.fault(serde_json::json!({"dialect": "stripe", "mode": "latency", "latency_ms": 1000, "path_contains": "payment_intents", "count": 1}))
        .await;
    let body = card_payment(1700, "USD", "4242424242424242", "o-out-3");
    let during = {
        let send = h.post("/v1/payments", &body, Some("key-out-3"));
        let cut = async {
            eventually(10, "the gateway call in flight", || async {
                h.sandbox.state().faults().is_empty()
            })
            .await;
            relay.cut().await;
        };
        tokio::join!(send, cut).0
    };
    assert_eq!(during.status, 503, "{}", during.text());
    assert_eq!(during.json()["error"]["code"], "outcome_not_recorded");
    assert_eq!(h.ledger().await.len(), 1, "the gateway charged once");

    relay.restore();
    let ready = format!("{}/readyz", h.ops);
    eventually(20, "ready again", || async {
        h.http.send(Method::GET, &ready, &[], None).await.status == 200
    })
    .await;
    // The key was not given back: the retry cannot charge again.
    let retry = h.post("/v1/payments", &body, Some("key-out-3")).await;
    assert_eq!(retry.status, 409, "{}", retry.text());
    assert_eq!(h.ledger().await.len(), 1, "still one charge");
    h.shutdown().await;
}
