//! The network edge under abuse, over real sockets: slow headers, bodies
//! that never finish, load past capacity. What users rely on: the attack
//! costs bounded memory and ends at the configured deadlines, and normal
//! requests keep being answered; shed requests leave nothing half-written.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{DEMO_KEY, Harness, Http, Proc, write_shipped_rules};
use http::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// Resident memory of process `pid` (tests run in parallel in this
/// process, so memory bounds are checked on a spawned payroute).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Samples RSS until dropped; `peak()` is the highest seen.
struct RssPeak {
    pid: u32,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssPeak {
    fn start(pid: u32) -> RssPeak {
        let peak = Arc::new(AtomicU64::new(rss_bytes(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                // The sampling rate of a measurement: not a wait.
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssPeak { pid, peak, stop }
    }

    fn peak(&self) -> u64 {
        self.peak.fetch_max(rss_bytes(self.pid), Ordering::Relaxed)
    }
}

/// A spawned `payroute serve` with its own sandbox, as users run it.
struct Served {
    sandbox: payroute_sandbox::SandboxHandle,
    proc: Proc,
    http: Http,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(env: &[(&str, &str)]) -> Served {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = payroute_sandbox::start(l, Default::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        write_shipped_rules(&rules, sandbox.addr);
        let proc = Proc::spawn_env(&rules, &dir.path().join("p.db"), env);
        Served {
            sandbox,
            proc,
            http: Http::default(),
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    async fn sandbox(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> common::Reply {
        let url = format!("http://{}{path}", self.sandbox.addr);
        self.http
            .send(method, &url, &[], body.map(|b| b.to_string().into_bytes()))
            .await
    }

    async fn live_charges(&self) -> usize {
        let ledger = self
            .sandbox(Method::GET, "/__sandbox/ledger", None)
            .await
            .json();
        ledger["charges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["live"] == json!(true))
            .count()
    }

    async fn post(&self, path: &str, body: &serde_json::Value, key: &str) -> common::Reply {
        let auth = format!("Bearer {DEMO_KEY}");
        let headers = [("authorization", auth.as_str()), ("idempotency-key", key)];
        let url = format!("{}{path}", self.proc.api);
        self.http
            .send(
                Method::POST,
                &url,
                &headers,
                Some(body.to_string().into_bytes()),
            )
            .await
    }

    /// Payment `ov-{i}` of the overload test, keyed by its reference.
    async fn overload_payment(&self, i: usize) -> common::Reply {
        let reference = format!("ov-{i}");
        self.post("/v1/payments", &usd_payment(&reference), &reference)
            .await
    }

    async fn get(&self, path: &str) -> common::Reply {
        let auth = format!("Bearer {DEMO_KEY}");
        let url = format!("{}{path}", self.proc.api);
        self.http
            .send(Method::GET, &url, &[("authorization", auth.as_str())], None)
            .await
    }
}

impl Drop for RssPeak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads until the server closes the connection (EOF or reset); returns
/// what it sent.
async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// One unauthenticated request on `c`, answered 401; `c` stays open.
async fn answered_once(c: &mut TcpStream) {
    c.write_all(b"GET /v1/payments/x HTTP/1.1\r\nHost: p\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 401"));
}

/// A normal request on its own connection, with its latency.
async fn normal_request(h: &Harness) -> (u16, Duration) {
    let t = Instant::now();
    let r = h.get("/v1/payments/pay_does_not_exist").await;
    (r.status.as_u16(), t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_header_connections_are_closed_at_the_header_timeout_while_normal_requests_are_answered()
 {
    let timeout = Duration::from_secs(1);
    let h = Harness::start_opts(|_, _| {}, |s| s.edge.api.header_read_timeout = timeout).await;
    let api = addr(&h.api);
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(500);
    let mut slow = JoinSet::new();
    for _ in 0..500 {
        let connected = connected_tx.clone();
        slow.spawn(async move {
            let mut s = TcpStream::connect(api).await.unwrap();
            let start = Instant::now();
            s.write_all(b"GET /v1/payments/x HTTP/1.1\r\nHost: payroute\r\nX-Slow: ")
                .await
                .unwrap();
            connected.send(()).await.unwrap();
            let mut buf = [0u8; 1024];
            loop {
                tokio::select! {
                    r = s.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return start.elapsed(),
                        Ok(_) => panic!("a response to a request whose headers never ended"),
                    },
                    // A client trickling its headers, simulated: not a wait.
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        if s.write_all(b"a").await.is_err() {
                            return start.elapsed();
                        }
                    }
                }
            }
        });
    }
    for _ in 0..500 {
        connected_rx.recv().await.unwrap();
    }
    let (status, took) = normal_request(&h).await;
    assert_eq!(status, 404);
    assert!(
        took < timeout,
        "a normal request took {took:?} while 500 slow clients were connected"
    );
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        let mut closed_after = Vec::new();
        while let Some(r) = slow.join_next().await {
            closed_after.push(r.unwrap());
        }
        closed_after
    })
    .await
    .expect("slow connections were never closed");
    let longest = all.iter().max().unwrap();
    let shortest = all.iter().min().unwrap();
    eprintln!("slow connections closed after {shortest:?} .. {longest:?}");
    assert!(
        *longest < timeout + Duration::from_secs(3),
        "a slow-header connection stayed open {longest:?} (header timeout {timeout:?})"
    );
    assert!(
        all.iter()
            .all(|d| *d >= timeout - Duration::from_millis(100)),
        "connections were closed before the header timeout"
    );
}

const CHUNK: usize = 64 * 1024;

/// Sends the head of a chunked webhook and 15 chunks of 64 KiB (960 KiB),
/// never the last chunk; returns what the server answered and how long the
/// connection lived.
async fn unfinished_webhook(
    api: SocketAddr,
    sent: tokio::sync::mpsc::Sender<()>,
) -> (String, Duration) {
    let mut s = TcpStream::connect(api).await.unwrap();
    let start = Instant::now();
    let head = "POST /webhooks/stripe_sandbox HTTP/1.1\r\nHost: payroute\r\n\
                Content-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let mut ok = s.write_all(head.as_bytes()).await.is_ok();
    let chunk = [b' '; CHUNK];
    for _ in 0..15 {
        if !ok {
            break;
        }
        ok = s
            .write_all(format!("{CHUNK:x}\r\n").as_bytes())
            .await
            .is_ok()
            && s.write_all(&chunk).await.is_ok()
            && s.write_all(b"\r\n").await.is_ok();
    }
    let _ = sent.send(()).await;
    let answer = read_until_closed(&mut s).await;
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (status, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unfinished_webhook_bodies_hold_bounded_memory_and_are_closed_at_the_body_deadline() {
    let deadline = Duration::from_secs(3);
    let s = Served::start(&[("PAYROUTE_BODY_TIMEOUT_S", "3")]).await;
    // Warm up allocator arenas and connections before the baseline.
    assert_eq!(s.get("/v1/payments/pay_none").await.status, 404);
    let before = rss_bytes(s.pid());
    let rss = RssPeak::start(s.pid());
    let api = addr(&s.proc.api);
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::channel(100);
    let mut conns = JoinSet::new();
    for _ in 0..100 {
        conns.spawn(unfinished_webhook(api, sent_tx.clone()));
    }
    for _ in 0..100 {
        sent_rx.recv().await.unwrap();
    }
    let t = Instant::now();
    assert_eq!(
        s.get("/v1/payments/pay_none").await.status,
        404,
        "normal requests are answered"
    );
    assert!(
        t.elapsed() < deadline,
        "a normal request took {:?}",
        t.elapsed()
    );
    let results = tokio::time::timeout(Duration::from_secs(30), async {
        let mut r = Vec::new();
        while let Some(x) = conns.join_next().await {
            r.push(x.unwrap());
        }
        r
    })
    .await
    .expect("unfinished bodies kept their connections open");
    let grown = rss.peak().saturating_sub(before);
    eprintln!("RSS grew by {} KiB", grown / 1024);
    assert!(
        grown < 64 * 1024 * 1024,
        "100 unfinished 960 KiB bodies grew RSS by {} MiB",
        grown / (1024 * 1024)
    );
    for (status, lived) in &results {
        assert!(
            *lived < deadline + Duration::from_secs(3),
            "a connection lived {lived:?} past the {deadline:?} body deadline ({status})"
        );
        assert!(
            status.contains(" 408 ") || status.contains(" 503 ") || status.is_empty(),
            "unexpected answer: {status}"
        );
    }
    let timed_out = results.iter().filter(|(s, _)| s.contains(" 408 ")).count();
    let shed = results.iter().filter(|(s, _)| s.contains(" 503 ")).count();
    assert!(
        timed_out > 0,
        "bodies that fit the budget run into the deadline"
    );
    assert!(
        shed > 0,
        "bodies past the shared budget are refused at once"
    );
    let metrics = s
        .http
        .send(Method::GET, &format!("{}/metrics", s.proc.ops), &[], None)
        .await
        .text();
    for reason in ["body_timeout", "body_budget"] {
        assert!(
            metrics.contains(&format!(
                r#"payroute_edge_shed_total{{listener="api",reason="{reason}"}}"#
            )),
            "{reason} not counted"
        );
    }
}

fn usd_payment(reference: &str) -> serde_json::Value {
    json!({"amount": 1500, "currency": "USD", "reference": reference,
           "payment_method": {"type": "card", "card": {"number": "4242424242424242",
           "exp_month": 12, "exp_year": 2030}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_past_capacity_gets_fast_503s_with_retry_after_and_leaves_no_payment_half_written() {
    let s = Arc::new(Served::start(&[("PAYROUTE_MAX_IN_FLIGHT", "4")]).await);
    let gateway_latency = Duration::from_millis(500);
    let fault = json!({"dialect": "stripe", "mode": "latency", "path_contains": "payment_intents",
                       "latency_ms": gateway_latency.as_millis() as u64});
    assert!(
        s.sandbox(Method::POST, "/__sandbox/faults", Some(fault))
            .await
            .status
            .is_success()
    );
    let before = rss_bytes(s.pid());
    let mut calls = JoinSet::new();
    for i in 0..120 {
        let s = s.clone();
        calls.spawn(async move {
            let t = Instant::now();
            let r = s.overload_payment(i).await;
            (i, r, t.elapsed())
        });
    }
    let (mut ok, mut shed) = (Vec::new(), Vec::new());
    while let Some(r) = calls.join_next().await {
        let (i, r, took) = r.unwrap();
        match r.status.as_u16() {
            201 => ok.push(i),
            503 => {
                assert_eq!(r.json()["error"]["code"], "overloaded", "{}", r.text());
                assert!(
                    r.headers.contains_key("retry-after"),
                    "503 without Retry-After"
                );
                assert!(
                    took < gateway_latency,
                    "a shed request took {took:?}, more than a gateway call"
                );
                shed.push(i);
            }
            other => panic!("unexpected status {other}: {}", r.text()),
        }
    }
    assert!(
        !ok.is_empty() && !shed.is_empty(),
        "ok {} shed {}",
        ok.len(),
        shed.len()
    );
    let grown = rss_bytes(s.pid()).saturating_sub(before);
    assert!(
        grown < 64 * 1024 * 1024,
        "RSS grew by {} MiB under overload",
        grown >> 20
    );
    assert_eq!(s.live_charges().await, ok.len(), "one charge per 201");
    for i in &shed {
        let found = s
            .get(&format!("/v1/payments?reference=ov-{i}"))
            .await
            .json();
        assert_eq!(
            found["data"],
            json!([]),
            "shed request ov-{i} left a payment"
        );
    }
    // A shed request took no idempotency claim: its retry runs now.
    s.sandbox(Method::DELETE, "/__sandbox/faults", None).await;
    for i in &shed {
        let r = s.overload_payment(*i).await;
        assert_eq!(r.status, 201, "retry of shed request {i}: {}", r.text());
    }
    assert_eq!(
        s.live_charges().await,
        120,
        "every payment charged exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_closes_idle_and_half_sent_connections_at_once_and_lets_payments_in_flight_finish()
{
    let mut s = Served::start(&[]).await;
    let fault = json!({"dialect": "stripe", "mode": "latency", "latency_ms": 1500,
                       "path_contains": "payment_intents"});
    assert!(
        s.sandbox(Method::POST, "/__sandbox/faults", Some(fault))
            .await
            .status
            .is_success()
    );
    let api = addr(&s.proc.api);
    let mut quiet = Vec::new();
    for i in 0..40 {
        let mut c = TcpStream::connect(api).await.unwrap();
        if i % 2 == 0 {
            c.write_all(b"POST /v1/payments HTTP/1.1\r\nHost: p\r\nX-Half: ")
                .await
                .unwrap();
        } else {
            // A finished exchange leaves an idle keep-alive connection.
            answered_once(&mut c).await;
        }
        quiet.push(c);
    }
    let http = s.http.clone();
    let auth = format!("Bearer {DEMO_KEY}");
    let url = format!("{}/v1/payments", s.proc.api);
    let in_flight = tokio::spawn(async move {
        let headers = [
            ("authorization", auth.as_str()),
            ("idempotency-key", "term-1"),
        ];
        http.send(
            Method::POST,
            &url,
            &headers,
            Some(usd_payment("term-1").to_string().into_bytes()),
        )
        .await
    });
    let metrics = format!("{}/metrics", s.proc.ops);
    common::eventually(10, "the payment is calling the gateway", || {
        let (http, metrics) = (s.http.clone(), metrics.clone());
        async move {
            let text = http.send(Method::GET, &metrics, &[], None).await.text();
            common::metric(&text, "payroute_payments_in_flight", &[]) == 1.0
        }
    })
    .await;
    s.proc.signal("TERM");
    let signalled = Instant::now();
    for mut c in quiet {
        let closed = tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut c)).await;
        assert!(
            closed.is_ok(),
            "an idle or half-sent connection outlived SIGTERM by 5 s"
        );
    }
    assert!(
        signalled.elapsed() < Duration::from_secs(1),
        "quiet connections took {:?} to close",
        signalled.elapsed()
    );
    let paid = in_flight.await.unwrap();
    assert_eq!(
        paid.status,
        201,
        "the payment in flight finishes: {}",
        paid.text()
    );
    let status = s.proc.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    let logs = s.proc.logs.lock().unwrap().clone();
    assert!(
        !logs.contains("grace period over"),
        "shutdown waited out the grace period:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_accepted_when_sane_made_otherwise_and_echoed() {
    let h = Harness::start().await;
    let auth = format!("Bearer {DEMO_KEY}");
    let get = |rid: Option<&'static str>| {
        let auth = auth.clone();
        let h = &h;
        async move {
            let mut headers = vec![("authorization", auth.as_str())];
            if let Some(r) = rid {
                headers.push(("x-request-id", r));
            }
            h.http
                .send(
                    Method::GET,
                    &format!("{}/v1/payments/pay_x", h.api),
                    &headers,
                    None,
                )
                .await
        }
    };
    let r = get(Some("merchant-req-42")).await;
    assert_eq!(r.headers["x-request-id"], "merchant-req-42");
    let r = get(None).await;
    let made = r.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(made.starts_with("req_"), "{made}");
    let r = get(Some("bad id with spaces")).await;
    let replaced = r.headers["x-request-id"].to_str().unwrap();
    assert!(replaced.starts_with("req_"), "{replaced}");
    let ops = h
        .http
        .send(
            Method::GET,
            &format!("{}/livez", h.ops),
            &[("x-request-id", "probe-1")],
            None,
        )
        .await;
    assert_eq!(ops.headers["x-request-id"], "probe-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_closed_at_once_and_counted() {
    let h = Harness::start_opts(|_, _| {}, |s| s.edge.api.max_connections = 4).await;
    let api = addr(&h.api);
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(api).await.unwrap();
        // A request answered proves the connection holds a slot.
        answered_once(&mut c).await;
        held.push(c);
    }
    let mut extra = TcpStream::connect(api).await.unwrap();
    let _ = extra
        .write_all(b"GET /v1/payments/x HTTP/1.1\r\nHost: p\r\n\r\n")
        .await;
    let answer = tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut extra))
        .await
        .expect("the connection past the cap was left open");
    assert!(answer.is_empty(), "answered past the cap: {answer:?}");
    let refused = common::metric(
        &h.metrics().await,
        "payroute_edge_connections_refused_total",
        &[("listener", "api")],
    );
    assert_eq!(refused, 1.0);
    // A slot freed is a slot taken again.
    drop(held.pop());
    common::eventually(5, "a freed slot", || async {
        common::metric(
            &h.metrics().await,
            "payroute_edge_open_connections",
            &[("listener", "api")],
        ) == 3.0
    })
    .await;
    assert_eq!(normal_request(&h).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_log_line_of_a_request_carries_its_id_and_no_credential_is_logged() {
    let s = Served::start(&[]).await;
    let url = format!("{}/webhooks/stripe_sandbox", s.proc.api);
    let headers = [
        ("x-request-id", "rid-edge-log-7"),
        ("stripe-signature", "t=1,v1=feedfacecafebeef0123456789"),
        ("authorization", "Bearer sk_live_never_in_a_log_line"),
    ];
    let r = s
        .http
        .send(
            Method::POST,
            &url,
            &headers,
            Some(b"{\"id\":\"evt_1\"}".to_vec()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.headers["x-request-id"], "rid-edge-log-7");
    common::eventually(5, "the refusal in the log", || async {
        s.proc.logs.lock().unwrap().contains("webhook refused")
    })
    .await;
    let logs = s.proc.logs.lock().unwrap().clone();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("webhook refused"))
        .collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(line.contains("request_id=rid-edge-log-7"), "{line}");
    }
    for secret in ["feedfacecafebeef", "sk_live_never_in_a_log_line"] {
        assert!(!logs.contains(secret), "{secret} reached the log");
    }
}
