//! Open-loop load test: how much latency payroute adds on top of the
//! gateway it routes to.
//!
//! Starts the sandbox gateway and payroute in-process on loopback (shipped
//! `routing-rules/` pointed at the sandbox, SQLite in a tempdir), then drives
//! card payments at a fixed rate, first through payroute
//! (`POST /v1/payments`, USD card 4242, routed to the sandbox's Stripe
//! dialect), then straight at the sandbox with the same two Stripe calls the
//! connector makes (`payment_methods`, then `payment_intents` with
//! `confirm=true`). Prints a markdown table comparing the two.
//!
//! `LOAD_SCENARIO=failover` (or `--scenario failover`) instead rewrites the
//! rules so that `adyen_sandbox`, the first candidate of route `eu-cards`,
//! points at a closed loopback port, and measures in one run: payroute with
//! healthy first gateway (USD, Stripe first; the baseline), EUR payments
//! that fail over from the refused Adyen to Stripe (no warm-up, so that the
//! payments before the circuit breaker ejects Adyen are measured; they are
//! reported apart from the steady state in which the open circuit skips
//! Adyen), and direct; then prints Adyen's state from the ops listener's
//! `GET /admin/gateways`. Its default rate is 100 rps.
//!
//! `LOAD_SCENARIO=stores` measures the same USD payments, one configuration
//! at a time, through payroute on SQLite, on PostgreSQL, and as two
//! replicas on one PostgreSQL schema taking turns (round-robin), and
//! direct; it needs the PostgreSQL test server (see `load/stores.rs`).
//! With a rate above what a configuration can take (`LOAD_RPS=1000`), its
//! ok/s is that configuration's capacity on this machine.
//!
//! `LOAD_SCENARIO=edge` measures what the tower stack in front of the
//! listeners costs: one cheap merchant API call (a 404 lookup) through
//! payroute's API listener and through a bare hyper connection serving the
//! same handler, alternating (see `load/edge.rs`).
//!
//! Run: `cargo bench --bench load`, tuned with env `LOAD_RPS` (200),
//! `LOAD_SECS` (10), `LOAD_SCENARIO` (`normal` | `failover` | `stores`), `LOAD_CONNS` (64), `LOAD_WARMUP_SECS` (2),
//! `LOAD_WEBHOOKS` (1: the sandbox sends its gateway webhooks to payroute
//! during the payroute phase, as in production; 0: off), or the same as
//! flags after `--`: `cargo bench --bench load -- --rps 100 --secs 5`.
//! Under `cargo test --benches` it makes a one-second smoke run at 20 rps
//! that fails on any error.
//!
//! Open loop, coordinated omission corrected: request `i` is due at
//! `start + i / rps` whether or not earlier replies came back, and its
//! latency runs from that due time, so a stalled server shows up as latency
//! instead of as fewer requests. Bounded: loopback only, a fixed number of
//! requests, each with a deadline.
//!
//! The servers run on a multi-thread runtime; the load generator on its own
//! thread with a current-thread runtime, so its timers are not queued
//! behind server tasks. All of them still share the machine's cores.

#[path = "load/config.rs"]
mod config;
#[path = "load/edge.rs"]
mod edge;
#[path = "load/failover.rs"]
mod failover;
#[path = "load/servers.rs"]
mod servers;
#[path = "load/stats.rs"]
mod stats;
#[path = "load/stores.rs"]
mod stores;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use config::{Config, Scenario};
use payroute::sandbox::Dialect;
use servers::{Servers, WebhookRoute};
use stats::{Phase, Sample};

/// A single logical operation may not take longer than this; past it the
/// operation counts as an error with this latency.
const OP_DEADLINE: Duration = Duration::from_secs(10);
const MERCHANT_KEY: &str = "sk_test_demo";
/// The sandbox accepts any `sk_` key when none is configured.
const STRIPE_KEY: &str = "sk_test_x";
const STRIPE_VERSION: &str = "2024-06-20";
const CARD: &str = "4242424242424242";
/// Pause after each target's phase.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("bad setting {name}={value:?}: expected a whole number (positive except the warm-up)")]
    Setting { name: String, value: String },
    #[error(
        "unknown argument {0:?} (known: --scenario normal|failover|stores|edge --rps N --secs N --conns N --warmup-secs N --webhooks 0|1)"
    )]
    Argument(String),
    #[error("unknown scenario {0:?} (known: normal, failover, stores, edge)")]
    Scenario(String),
    #[error(
        "the stores scenario needs PostgreSQL at {url} (env {env} names another server): {reason}"
    )]
    Postgres {
        url: String,
        env: &'static str,
        reason: String,
    },
    #[error("setup: {0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> LoadError + '_ {
    move |e| LoadError::Setup(format!("{what}: {e}"))
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn http_client(conns: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // The legacy client opens a connection whenever none is idle; this only
    // bounds how many stay open between requests.
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(conns)
        .build(connector)
}

/// What one scheduled operation does.
#[derive(Clone)]
enum Target {
    /// `POST /v1/payments` on payroute, in `currency`; with several
    /// `urls` (replicas), round-robin over them as a load balancer would.
    Payroute {
        name: &'static str,
        urls: Vec<String>,
        currency: &'static str,
        /// Measure from the first payment on, without a warm-up phase.
        cold: bool,
        /// Make this payroute the target of the sandbox's gateway webhooks
        /// before the phase (when several payroutes take turns).
        webhooks: Option<WebhookRoute>,
    },
    /// The connector's two Stripe calls, straight at the sandbox. Its
    /// webhooks are switched off first so that its charges do not make
    /// payroute work during this phase.
    Direct {
        base: String,
        sandbox: Arc<payroute::sandbox::Sandbox>,
    },
    /// `GET` without credentials, answered 401, alternating between two
    /// URLs (the edge scenario: the stack, then the bare connection); the
    /// sample's `attempts` says which (0 or 1).
    Alternate {
        name: &'static str,
        urls: [String; 2],
    },
}

impl Target {
    fn prepare(&self) {
        match self {
            Target::Direct { sandbox, .. } => {
                for dialect in [Dialect::Stripe, Dialect::Adyen] {
                    sandbox.set_webhook_target(dialect, None);
                }
            }
            Target::Payroute {
                webhooks: Some(route),
                ..
            } => route.apply(),
            Target::Payroute { webhooks: None, .. } | Target::Alternate { .. } => {}
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Target::Payroute { name, .. } | Target::Alternate { name, .. } => name,
            Target::Direct { .. } => "direct",
        }
    }

    fn cold(&self) -> bool {
        matches!(self, Target::Payroute { cold: true, .. })
    }

    /// Payment `index`: the gateway calls payroute made for it (0 for
    /// direct), or a short error class for the counts.
    async fn run(&self, http: &HttpClient, key: &str, index: u64) -> Result<usize, String> {
        match self {
            Target::Payroute { urls, currency, .. } => {
                let n = u64::try_from(urls.len()).unwrap_or(u64::MAX);
                let url = usize::try_from(index % n.max(1))
                    .ok()
                    .and_then(|i| urls.get(i))
                    .ok_or("payroute target without a URL")?;
                payroute_payment(http, url, key, currency).await
            }
            Target::Direct { base, .. } => direct_payment(http, base, key).await.map(|()| 0),
            Target::Alternate { urls, .. } => {
                let which = usize::from(index % 2 == 1);
                unauthorized(http, &urls[which]).await.map(|()| which)
            }
        }
    }
}

async fn send(http: &HttpClient, req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), String> {
    let resp = http
        .request(req)
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    Ok((status, body.to_bytes()))
}

async fn unauthorized(http: &HttpClient, url: &str) -> Result<(), String> {
    let req = Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("request: {e}"))?;
    match send(http, req).await? {
        (StatusCode::UNAUTHORIZED, _) => Ok(()),
        (status, _) => Err(format!("HTTP {}", status.as_u16())),
    }
}

async fn payroute_payment(
    http: &HttpClient,
    url: &str,
    key: &str,
    currency: &str,
) -> Result<usize, String> {
    let body = json!({
        "amount": 2000, "currency": currency, "reference": key,
        "payment_method": {"type": "card", "card": {"number": CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "A. Buyer"}},
        "customer": {"id": "cus_load", "email": "load@example.com", "country": "US"},
        "return_url": "https://shop.example.com/return",
    });
    let req = Request::post(url)
        .header("authorization", format!("Bearer {MERCHANT_KEY}"))
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("request: {e}"))?;
    let (status, body) = send(http, req).await?;
    if !status.is_success() {
        return Err(format!("payroute HTTP {}", status.as_u16()));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match v["status"].as_str() {
        Some("captured" | "authorized") => route_calls(&v["route"]["attempts"]),
        other => Err(format!("payroute status {other:?}")),
    }
}

/// The number of gateway calls, provided every one but the last found its
/// gateway unavailable and the last was approved by Stripe: any other route
/// would measure something else than failover.
fn route_calls(attempts: &Value) -> Result<usize, String> {
    let calls = attempts.as_array().map_or(&[][..], Vec::as_slice);
    let shape: Vec<String> = calls
        .iter()
        .map(|a| format!("{}:{}", a["gateway"], a["outcome"]))
        .collect();
    let Some((last, before)) = calls.split_last() else {
        return Err("payroute payment without attempts".into());
    };
    let unavailable = before.iter().all(|a| a["outcome"] == "unavailable");
    if unavailable && last["gateway"] == "stripe_sandbox" && last["outcome"] == "approved" {
        Ok(calls.len())
    } else {
        Err(format!("unexpected route [{}]", shape.join(", ")))
    }
}

fn stripe_post(url: String, key: &str, body: String) -> Result<Request<Full<Bytes>>, String> {
    Request::post(url)
        .header("authorization", format!("Bearer {STRIPE_KEY}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("stripe-version", STRIPE_VERSION)
        .header("idempotency-key", key)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))
}

/// The bodies mirror `connectors::stripe::{payment_method_body, payment_intent_body}`.
async fn direct_payment(http: &HttpClient, base: &str, key: &str) -> Result<(), String> {
    let pm_body = form_urlencoded::Serializer::new(String::new())
        .append_pair("type", "card")
        .append_pair("card[number]", CARD)
        .append_pair("card[exp_month]", "12")
        .append_pair("card[exp_year]", "2030")
        .append_pair("card[cvc]", "123")
        .append_pair("billing_details[name]", "A. Buyer")
        .finish();
    let req = stripe_post(
        format!("{base}/v1/payment_methods"),
        &format!("{key}-pm"),
        pm_body,
    )?;
    let (status, body) = send(http, req).await?;
    if status != StatusCode::OK {
        return Err(format!("payment_methods HTTP {}", status.as_u16()));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let pm = v["id"].as_str().ok_or("payment_methods reply without id")?;
    let pi_body = form_urlencoded::Serializer::new(String::new())
        .append_pair("amount", "2000")
        .append_pair("currency", "usd")
        .append_pair("confirm", "true")
        .append_pair("capture_method", "automatic")
        .append_pair("metadata[payroute_payment_id]", key)
        .append_pair("metadata[reference]", key)
        .append_pair("return_url", "https://shop.example.com/return")
        .append_pair("payment_method", pm)
        .append_pair("payment_method_types[0]", "card")
        .finish();
    let req = stripe_post(format!("{base}/v1/payment_intents"), key, pi_body)?;
    let (status, body) = send(http, req).await?;
    if status != StatusCode::OK {
        return Err(format!("payment_intents HTTP {}", status.as_u16()));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match v["status"].as_str() {
        Some("succeeded" | "requires_capture") => Ok(()),
        other => Err(format!("payment_intent status {other:?}")),
    }
}

/// Fires `rps * secs` operations at fixed due times and waits for all.
async fn phase(target: &Target, http: &HttpClient, rps: u64, secs: u64, label: &str) -> Phase {
    let total = rps * secs;
    let start = Instant::now() + Duration::from_millis(10);
    let target = Arc::new(target.clone());
    let mut tasks = JoinSet::new();
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rps);
        tokio::time::sleep_until(due).await;
        let (target, http, key) = (target.clone(), http.clone(), format!("{label}-{i}"));
        tasks.spawn(async move {
            let result = match tokio::time::timeout(OP_DEADLINE, target.run(&http, &key, i)).await {
                Ok(r) => r,
                Err(_) => Err("deadline".to_string()),
            };
            let done = Instant::now();
            Sample {
                index: i,
                latency: done - due,
                done,
                attempts: *result.as_ref().unwrap_or(&0),
                error: result.err(),
            }
        });
    }
    let mut samples = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(s) => samples.push(s),
            Err(e) => samples.push(Sample {
                index: u64::MAX,
                latency: OP_DEADLINE,
                done: Instant::now(),
                error: Some(format!("task: {e}")),
                attempts: 0,
            }),
        }
    }
    Phase {
        samples,
        start,
        window: Duration::from_secs(secs),
    }
}

/// What the load generator brings back.
struct Driven {
    phases: Vec<(String, Phase)>,
    /// When, the dead gateway's `/admin/gateways` line, and whether it
    /// showed `open`.
    admin: Vec<(&'static str, String, bool)>,
}

/// Warm-up (except for a cold target) then measurement, for each target in
/// turn; with `ops`, the dead gateway's breaker state after each cold
/// target and at the end.
async fn drive(cfg: Config, targets: Vec<Target>, ops: Option<SocketAddr>) -> Driven {
    let http = http_client(cfg.conns);
    let mut out = Driven {
        phases: Vec::new(),
        admin: Vec::new(),
    };
    for target in &targets {
        target.prepare();
        let name = target.name();
        if cfg.warmup_secs > 0 && !target.cold() {
            eprintln!(
                "load: {name}: warm-up {}s at {} rps",
                cfg.warmup_secs, cfg.rps
            );
            let _ = phase(
                target,
                &http,
                cfg.rps,
                cfg.warmup_secs,
                &format!("{name}-warm"),
            )
            .await;
        }
        eprintln!("load: {name}: measuring {}s at {} rps", cfg.secs, cfg.rps);
        let measured = phase(target, &http, cfg.rps, cfg.secs, &format!("{name}-run")).await;
        out.phases.push((name.to_string(), measured));
        if let (Some(ops), true) = (ops, target.cold()) {
            let (line, open) = failover::gateway_state(&http, ops).await;
            out.admin.push(("right after that phase", line, open));
        }
        // Asynchronous work (webhooks, event deliveries) of this phase
        // settles before the next one starts.
        tokio::time::sleep(SETTLE).await;
    }
    if let Some(ops) = ops {
        let (line, open) = failover::gateway_state(&http, ops).await;
        out.admin.push(("at the end of the run", line, open));
    }
    out
}

fn targets(cfg: Config, servers: &Servers) -> Vec<Target> {
    let url = format!("http://{}/v1/payments", servers.payroute.api_addr);
    let mut targets = vec![Target::Payroute {
        name: "payroute",
        urls: vec![url.clone()],
        currency: "USD",
        cold: false,
        webhooks: None,
    }];
    if cfg.scenario == Scenario::Failover {
        targets.push(Target::Payroute {
            name: "payroute-failover",
            urls: vec![url],
            currency: "EUR",
            cold: true,
            webhooks: None,
        });
    }
    targets.push(direct_target(servers));
    targets
}

fn direct_target(servers: &Servers) -> Target {
    Target::Direct {
        base: format!("http://{}/stripe", servers.sandbox.addr),
        sandbox: servers.sandbox.state(),
    }
}

/// Drives `targets` from a thread of its own (see the module doc).
fn generate(
    cfg: Config,
    targets: Vec<Target>,
    ops: Option<SocketAddr>,
) -> Result<Driven, LoadError> {
    let generator = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(setup("generator runtime"))?;
        Ok::<_, LoadError>(rt.block_on(drive(cfg, targets, ops)))
    });
    generator
        .join()
        .map_err(|_| LoadError::Setup("load generator panicked".into()))?
}

/// The report and the number of failed operations (and failed checks).
fn run(cfg: Config) -> Result<(String, u64), LoadError> {
    let servers_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(setup("runtime"))?;
    if cfg.scenario == Scenario::Stores {
        return stores::run(cfg, &servers_rt);
    }
    if cfg.scenario == Scenario::Edge {
        return run_edge(cfg, &servers_rt);
    }
    let failover = cfg.scenario == Scenario::Failover;
    let dead = failover.then_some(failover::DEAD_GATEWAY);
    let servers = servers_rt.block_on(Servers::start(cfg.webhooks, dead))?;
    let targets = targets(cfg, &servers);
    let ops = failover.then_some(servers.payroute.ops_addr);
    let driven = generate(cfg, targets, ops);
    let (sink_hits, acked) = (servers.sink_hits(), servers.webhooks_acknowledged());
    servers_rt.block_on(servers.shutdown());
    let Driven { phases, admin } = driven?;
    let failed_checks = admin.iter().filter(|(_, _, open)| !open).count() as u64;
    let errors = phases
        .iter()
        .map(|(_, p)| p.summary(|_| true).error_count())
        .sum::<u64>()
        + failed_checks;
    let mut report = match &phases[..] {
        [(_, baseline), (_, dead), (_, direct)] if failover => {
            let admin: Vec<_> = admin.into_iter().map(|(w, l, _)| (w, l)).collect();
            failover::report(&cfg_line(cfg), dead, baseline, direct, &admin)
        }
        _ => {
            let results: Vec<_> = phases
                .iter()
                .map(|(n, p)| (n.clone(), p.summary(|_| true)))
                .collect();
            stats::report(&cfg_line(cfg), &results)
        }
    };
    let _ = writeln!(
        report,
        "\ngateway webhooks acknowledged by payroute: {acked}; merchant events received by the sink: {sink_hits}"
    );
    Ok((report, errors))
}

/// The edge scenario: requests alternate between the stack and the bare
/// connection within one phase, so that the machine's drift falls on both.
fn run_edge(cfg: Config, rt: &tokio::runtime::Runtime) -> Result<(String, u64), LoadError> {
    let servers = rt.block_on(Servers::start(false, None))?;
    let (bare, bare_task) = rt.block_on(edge::bare(servers.payroute.state.clone()))?;
    let urls = [
        format!("http://{}{}", servers.payroute.api_addr, edge::PATH),
        format!("http://{bare}{}", edge::PATH),
    ];
    let targets = vec![Target::Alternate { name: "edge", urls }];
    let driven = generate(cfg, targets, None);
    bare_task.abort();
    rt.block_on(servers.shutdown());
    let phases = driven?.phases;
    let (_, phase) = phases
        .first()
        .ok_or_else(|| LoadError::Setup("no phase ran".into()))?;
    let results = [
        ("edge-stack".to_string(), phase.summary(|s| s.attempts == 0)),
        ("bare-hyper".to_string(), phase.summary(|s| s.attempts == 1)),
    ];
    let errors = phase.summary(|_| true).error_count();
    let mut report = stats::report(&cfg_line(cfg), &results);
    for (q, label) in [(50.0, "p50"), (90.0, "p90"), (99.0, "p99")] {
        let us = |i: usize| results[i].1.percentile(q).as_secs_f64() * 1e6;
        let _ = writeln!(
            report,
            "stack minus bare at {label}: {:.1} µs",
            us(0) - us(1)
        );
    }
    Ok((report, errors))
}

fn cfg_line(cfg: Config) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let scenario = match cfg.scenario {
        Scenario::Normal => "",
        Scenario::Failover => {
            "scenario failover (adyen_sandbox refuses connections; the EUR target runs without warm-up); "
        }
        Scenario::Stores => {
            "scenario stores (each payroute configuration runs alone, on a fresh store; unique Idempotency-Key per payment); "
        }
        Scenario::Edge => {
            "scenario edge (GET of a missing payment through the edge stack, then through a bare hyper connection, twice); "
        }
    };
    format!(
        "{scenario}open loop, {} rps for {} s per target (after {} s warm-up), idle pool {} conns, {cores} cores shared by load generator, payroute and sandbox; sandbox webhooks to payroute {}",
        cfg.rps,
        cfg.secs,
        cfg.warmup_secs,
        cfg.conns,
        if cfg.webhooks {
            "on in the payroute phases"
        } else {
            "off"
        }
    )
}

fn main() -> ExitCode {
    let cfg = match Config::from_env_and_args() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(cfg) {
        Ok((table, errors)) => {
            println!("{table}");
            if errors > 0 {
                eprintln!("load: {errors} operation(s) failed; see the error classes above");
            }
            // Under `cargo bench` errors are a result worth reading (e.g. an
            // overloaded rate); under `cargo test` they are a failure.
            if errors > 0 && cfg.smoke {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}
