//! Test harness: starts the sandbox gateway simulator and a real payroute
//! server on loopback ports chosen by the OS, with the shipped rule files
//! pointed at that sandbox, and talks to both over real HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

pub const DEMO_KEY: &str = "sk_test_demo";

#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Http {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        tokio::time::timeout(
            Duration::from_secs(30),
            self.try_send(method, url, headers, body),
        )
        .await
        .expect("request timed out")
        .expect("request failed")
    }

    /// Like [`Http::send`], returning transport errors (a server that died).
    pub async fn try_send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, String> {
        let mut b = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Copies the shipped `routing-rules/` into `dir`, pointing the gateways at
/// `sandbox` instead of the default sandbox port.
pub fn write_shipped_rules(dir: &Path, sandbox: SocketAddr) {
    std::fs::create_dir_all(dir).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("127.0.0.1:4010", &sandbox.to_string());
            std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
        }
    }
}

/// A port on which nothing listens: connections are refused.
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// The store black-box tests run on: SQLite in the test's temp dir, or
/// with `PAYROUTE_TEST_STORE=postgres` a fresh schema of its own on the
/// test PostgreSQL server (`PAYROUTE_TEST_POSTGRES`, default the local
/// `test` database), so the same suites cover both backends.
pub async fn test_store_url(dir: &Path) -> String {
    match std::env::var("PAYROUTE_TEST_STORE").as_deref() {
        Ok("postgres") => postgres_schema().await,
        Ok("sqlite") | Err(_) => format!("sqlite://{}", dir.join("payroute.db").display()),
        Ok(other) => panic!("PAYROUTE_TEST_STORE={other}: expected sqlite or postgres"),
    }
}

/// A fresh, empty schema on the test PostgreSQL server, as a store URL.
pub async fn postgres_schema() -> String {
    let base = std::env::var(payroute::store::postgres::TEST_URL_ENV)
        .unwrap_or_else(|_| payroute::store::postgres::DEFAULT_TEST_URL.to_string());
    payroute::store::postgres::create_test_schema(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL for tests at {base}: {e}"))
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub rules_dir: PathBuf,
    pub sandbox: payroute_sandbox::SandboxHandle,
    pub payroute: Option<payroute::server::Running>,
    pub http: Http,
    pub api: String,
    pub ops: String,
    pub sandbox_url: String,
    /// The store payroute runs on (see [`test_store_url`]).
    pub store_url: String,
}

impl Harness {
    /// Sandbox + payroute on the shipped rules.
    pub async fn start() -> Harness {
        Self::start_with(|_, _| {}).await
    }

    /// Like [`Harness::start`], letting the test edit the rules folder first.
    pub async fn start_with(edit: impl FnOnce(&Path, SocketAddr)) -> Harness {
        Self::start_opts(edit, |_| {}).await
    }

    /// Like [`Harness::start_with`], also adjusting payroute's settings.
    pub async fn start_opts(
        edit: impl FnOnce(&Path, SocketAddr),
        tune: impl FnOnce(&mut payroute::server::Settings),
    ) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = payroute_sandbox::start(listener, Default::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = dir.path().join("rules");
        write_shipped_rules(&rules_dir, sandbox.addr);
        edit(&rules_dir, sandbox.addr);
        let mut settings = payroute::server::Settings {
            listen: "127.0.0.1:0".into(),
            ops_listen: "127.0.0.1:0".into(),
            rules: rules_dir.clone(),
            store: test_store_url(dir.path()).await,
            shutdown_grace: Duration::from_secs(5),
            // The shipped rules' sandbox secrets, as `serve --sandbox` runs.
            allow_shipped_secrets: true,
            ..Default::default()
        };
        tune(&mut settings);
        let store_url = settings.store.clone();
        let running = payroute::server::start(settings).await.unwrap();
        payroute::server::connect_sandbox(
            &sandbox.state(),
            &running.state.engine.live.load().ruleset,
            sandbox.addr,
            running.api_addr,
        );
        Harness {
            api: format!("http://{}", running.api_addr),
            ops: format!("http://{}", running.ops_addr),
            sandbox_url: format!("http://{}", sandbox.addr),
            payroute: Some(running),
            store_url,
            sandbox,
            rules_dir,
            dir,
            http: Http::default(),
        }
    }

    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Reply {
        let auth = format!("Bearer {DEMO_KEY}");
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(k) = key {
            headers.push(("idempotency-key", k));
        }
        self.http
            .send(
                Method::POST,
                &format!("{}{path}", self.api),
                &headers,
                Some(body.to_string().into_bytes()),
            )
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let auth = format!("Bearer {DEMO_KEY}");
        self.http
            .send(
                Method::GET,
                &format!("{}{path}", self.api),
                &[("authorization", &auth)],
                None,
            )
            .await
    }

    pub async fn ledger(&self) -> Vec<Value> {
        let r = self
            .http
            .send(
                Method::GET,
                &format!("{}/__sandbox/ledger", self.sandbox_url),
                &[],
                None,
            )
            .await;
        r.json()["charges"].as_array().cloned().unwrap_or_default()
    }

    pub async fn live_charges(&self) -> Vec<Value> {
        self.ledger()
            .await
            .into_iter()
            .filter(|c| c["live"] == json!(true))
            .collect()
    }

    pub async fn fault(&self, fault: Value) {
        let r = self
            .http
            .send(
                Method::POST,
                &format!("{}/__sandbox/faults", self.sandbox_url),
                &[],
                Some(fault.to_string().into_bytes()),
            )
            .await;
        assert!(r.status.is_success(), "fault refused: {}", r.text());
    }

    pub async fn metrics(&self) -> String {
        self.http
            .send(Method::GET, &format!("{}/metrics", self.ops), &[], None)
            .await
            .text()
    }

    pub async fn shutdown(mut self) {
        if let Some(p) = self.payroute.take() {
            p.shutdown().await;
        }
        if self.store_url.starts_with("postgres") {
            // Best effort: a schema left behind is only clutter.
            let _ = payroute::store::postgres::drop_test_schema(&self.store_url).await;
        }
    }
}

/// A card payment body.
pub fn card_payment(amount: i64, currency: &str, number: &str, reference: &str) -> Value {
    json!({
        "amount": amount, "currency": currency, "reference": reference,
        "payment_method": {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "A. Buyer"}},
        "customer": {"id": "cus_1", "email": "a@example.com", "country": "DE"},
    })
}

/// The value of one metric series, or 0 when absent.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A merchant's webhook endpoint: records every request and answers with
/// the status the test sets (200 by default).
pub struct Receiver {
    pub url: String,
    pub status: Arc<std::sync::atomic::AtomicU16>,
    /// How long each answer takes (0 by default): a slow endpoint keeps
    /// deliveries in flight.
    pub delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Requests that reached the endpoint, answered or not yet.
    pub arrived: Arc<std::sync::atomic::AtomicU64>,
    pub requests: Arc<std::sync::Mutex<Vec<(HeaderMap, Bytes)>>>,
}

use std::sync::Arc;

impl Receiver {
    pub async fn start() -> Receiver {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let requests: Arc<std::sync::Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let arrived = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (st, rq, dl, ar) = (
            status.clone(),
            requests.clone(),
            delay_ms.clone(),
            arrived.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, rq, dl, ar) = (st.clone(), rq.clone(), dl.clone(), ar.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (st, rq, dl) = (st.clone(), rq.clone(), dl.clone());
                        ar.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async move {
                            let delay = dl.load(std::sync::atomic::Ordering::SeqCst);
                            // A slow merchant endpoint, simulated: not a wait.
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            rq.lock().unwrap().push((parts.headers, body));
                            let code = st.load(std::sync::atomic::Ordering::SeqCst);
                            let mut resp =
                                hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                            *resp.status_mut() = StatusCode::from_u16(code).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver {
            url: format!("http://{addr}/payment-events"),
            status,
            delay_ms,
            arrived,
            requests,
        }
    }

    pub fn set_status(&self, code: u16) {
        self.status.store(code, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice(b).ok())
            .collect()
    }
}

/// Points the demo merchant's webhook_url at `url` in a rules folder (the
/// default of its `${DEMO_WEBHOOK_URL:-...}`, the sandbox's receiver).
pub fn set_merchant_webhook(dir: &Path, url: &str) {
    const REF: &str = "${DEMO_WEBHOOK_URL:-";
    let p = dir.join("merchants.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text
        .find(REF)
        .expect("the shipped merchants.yaml names the demo webhook URL")
        + REF.len();
    let end = start + text[start..].find('}').unwrap();
    let edited = format!("{}{url}{}", &text[..start], &text[end..]);
    std::fs::write(p, edited).unwrap();
}

/// A `Stripe-Signature` header for `body`, as Stripe makes it.
pub fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls `check` every 25 ms until it holds or `secs` pass: a wait for a
/// state, whose poll interval only bounds how late it is seen.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `payroute` binary, run as users run it.
pub const BIN: &str = env!("CARGO_BIN_EXE_payroute");

/// The spawned binary's Stripe webhook secret: `serve` without `--sandbox`
/// refuses the repository's public defaults, so it runs with its own.
pub const PROC_STRIPE_WEBHOOK_SECRET: &str = "whsec_proc_test_b1d7c0ffee";
/// The spawned binary's Adyen HMAC key (hex).
pub const PROC_ADYEN_HMAC_KEY: &str =
    "9F3A51C2E07B4D6688A1F0C3D5E7092B4C6D8E0F1A2B3C4D5E6F708192A3B4C5";
/// The spawned binary's Checkout.com secret key (its sandbox account).
pub const PROC_CHECKOUT_API_KEY: &str = "sk_sbox_proc_test_key";
/// The spawned binary's Checkout.com webhook signature key.
pub const PROC_CHECKOUT_WEBHOOK_SECRET: &str = "cko_proc_test_signature_key";
const PROC_ENV: &[(&str, &str)] = &[
    ("STRIPE_API_KEY", "sk_test_proc_key"),
    ("STRIPE_WEBHOOK_SECRET", PROC_STRIPE_WEBHOOK_SECRET),
    ("ADYEN_API_KEY", "adyen_proc_key"),
    ("ADYEN_HMAC_KEY", PROC_ADYEN_HMAC_KEY),
    ("CHECKOUT_API_KEY", PROC_CHECKOUT_API_KEY),
    ("CHECKOUT_WEBHOOK_SECRET", PROC_CHECKOUT_WEBHOOK_SECRET),
    ("DEMO_WEBHOOK_SECRET", "whsec_demo_proc_test"),
];

pub struct Proc {
    pub child: std::process::Child,
    pub logs: Arc<std::sync::Mutex<String>>,
    pub api: String,
    pub ops: String,
}

impl Proc {
    pub fn spawn(rules: &std::path::Path, db: &std::path::Path) -> Proc {
        Self::spawn_env(rules, db, &[])
    }

    pub fn spawn_env(rules: &std::path::Path, db: &std::path::Path, env: &[(&str, &str)]) -> Proc {
        Self::spawn_store(rules, &format!("sqlite://{}", db.display()), env)
    }

    /// `payroute serve` on the store at `store` (a `sqlite://` or
    /// `postgres://` URL).
    pub fn spawn_store(rules: &std::path::Path, store: &str, env: &[(&str, &str)]) -> Proc {
        let listen = env
            .iter()
            .find(|(k, _)| *k == "PAYROUTE_LISTEN")
            .map_or("127.0.0.1:0", |(_, v)| *v);
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen, "--ops-listen", "127.0.0.1:0"])
            .arg("--rules")
            .arg(rules)
            .arg("--store")
            .arg(store)
            .env("RUST_LOG", "debug")
            .env("PAYROUTE_FINGERPRINT_KEY", "test-fingerprint-key")
            .env("PAYROUTE_DELIVERY_BASE_MS", "50")
            .envs(PROC_ENV.iter().copied())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn payroute");
        let logs = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = logs.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let start = Instant::now();
        let (api, ops) = loop {
            let text = logs.lock().unwrap().clone();
            if let Some(line) = text.lines().find(|l| l.contains("payroute listening")) {
                let field = |name: &str| {
                    let rest = &line[line.find(&format!("{name}=")).unwrap() + name.len() + 1..];
                    format!("http://{}", rest.split_whitespace().next().unwrap())
                };
                break (field("api_addr"), field("ops_addr"));
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "payroute did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Proc {
            child,
            logs,
            api,
            ops,
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < within, "payroute did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Harness {
    /// The stored gateway events in `status` (`GET /admin/events`).
    pub async fn events(&self, status: &str) -> Vec<Value> {
        let url = format!("{}/admin/events?status={status}", self.ops);
        let r = self.http.send(Method::GET, &url, &[], None).await;
        r.json()["data"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until gateway event `provider_event_id` is applied with a note
    /// that contains `note`.
    pub async fn wait_applied_with_note(&self, provider_event_id: &str, note: &str) {
        eventually(
            10,
            &format!("{provider_event_id} applied: {note}"),
            || async {
                self.events("applied").await.iter().any(|e| {
                    e["provider_event_id"] == provider_event_id
                        && e["note"].as_str().unwrap_or("").contains(note)
                })
            },
        )
        .await;
    }

    /// Waits until the sandbox sent every webhook and payroute applied them.
    pub async fn settle(&self) {
        assert!(
            self.sandbox
                .state()
                .wait_for_webhooks(Duration::from_secs(30))
                .await,
            "sandbox webhooks drained"
        );
        eventually(30, "events applied", || async {
            self.events("received").await.is_empty()
        })
        .await;
    }
}

impl Harness {
    /// Stops the sandbox sending Adyen notifications: they wait in its
    /// outbox until [`Harness::reconnect_sandbox_webhooks`].
    pub fn hold_adyen_webhooks(&self) {
        let sandbox = self.sandbox.state();
        sandbox.set_webhook_target(payroute_sandbox::Dialect::Adyen, None);
    }

    /// Points the sandbox's webhooks at payroute again; what waited is sent.
    pub fn reconnect_sandbox_webhooks(&self) {
        let running = self.payroute.as_ref().unwrap();
        payroute::server::connect_sandbox(
            &self.sandbox.state(),
            &running.state.engine.live.load().ruleset,
            self.sandbox.addr,
            running.api_addr,
        );
    }

    /// Like [`Harness::start_opts`] with gateway timeouts of 400 ms, for
    /// tests that make gateway answers get lost.
    pub async fn start_short_timeouts(
        tune: impl FnOnce(&mut payroute::server::Settings),
    ) -> Harness {
        Self::start_opts(
            |dir, _| {
                let p = dir.join("gateways.yaml");
                let text = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, text.replace("timeout_ms: 8000", "timeout_ms: 400")).unwrap();
            },
            tune,
        )
        .await
    }

    /// Creates a card payment whose outcome payroute cannot know yet (202)
    /// and returns its id.
    pub async fn processing_payment(&self, amount: i64, currency: &str, reference: &str) -> String {
        let body = card_payment(amount, currency, "4242424242424242", reference);
        let r = self.post("/v1/payments", &body, None).await;
        assert_eq!(r.status, 202, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_string()
    }

    /// Refunds `amount` of captured payment `id` and checks that the refund
    /// stays `pending`, is not counted as refunded, and still holds its
    /// amount: a refund of `over` is refused.
    pub async fn pending_refund_holds_its_amount(&self, id: &str, amount: i64, over: i64) {
        let path = format!("/v1/payments/{id}/refunds");
        let r = self.post(&path, &json!({ "amount": amount }), None).await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["status"], "pending");
        let p = self.get(&format!("/v1/payments/{id}")).await.json();
        assert_eq!(
            (p["status"].as_str(), p["amount_refunded"].as_i64()),
            (Some("captured"), Some(0))
        );
        let refused = self.post(&path, &json!({ "amount": over }), None).await;
        assert_eq!(refused.json()["error"]["code"], "amount_too_large");
    }

    /// Creates a card payment with manual capture and returns its JSON.
    pub async fn manual_payment(
        &self,
        amount: i64,
        currency: &str,
        number: &str,
        reference: &str,
    ) -> Value {
        let mut body = card_payment(amount, currency, number, reference);
        body["capture"] = json!("manual");
        self.post("/v1/payments", &body, None).await.json()
    }
}
