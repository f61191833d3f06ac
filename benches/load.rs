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
//! `LOAD_SCENARIO=hop` measures the proxy hop alone, payroute against
//! nginx: payroute started as a child process from its release binary
//! (`cargo build --release --bin payroute` first; env `PAYROUTE_BIN` names
//! another), nginx when one is on `PATH`, and direct, all in front of an
//! instant in-process gateway, on an Adyen route (one upstream call) and
//! Stripe's raw-card route (two), in `LOAD_ROUNDS` rounds of `LOAD_SECS`
//! per target whose order is shuffled each round; it reports the latency
//! each proxy adds over direct, their ratio, and each proxy's CPU time per
//! payment, peak RSS and threads. Its defaults are 1000 rps, 4 rounds of
//! 4 s, 1 s warm-up; at an excessive rate (`LOAD_RPS=8000`) each target's
//! ok/s is its maximum sustained rate (see `load/hop.rs`).
//!
//! Run: `cargo bench --bench load`, tuned with env `LOAD_RPS` (200),
//! `LOAD_SECS` (10), `LOAD_SCENARIO` (`normal` | `failover` | `stores` |
//! `edge` | `hop`), `LOAD_ROUNDS` (4, hop only), `LOAD_CONNS` (64),
//! `LOAD_WARMUP_SECS` (2), `LOAD_WEBHOOKS` (1: the sandbox sends its
//! gateway webhooks to payroute during the payroute phase, as in
//! production; 0: off), `LOAD_HOP_STORE` (`sqlite`, or `postgres`: the hop
//! scenario's payroute on a fresh schema of the PostgreSQL test server),
//! or the same as flags after `--`:
//! `cargo bench --bench load -- --rps 100 --secs 5`.
//! Under `cargo test --benches` it makes a one-second smoke run at 20 rps
//! that fails on any error (the hop scenario is skipped, with a message,
//! when there is no payroute binary).
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

#[path = "load/calls.rs"]
mod calls;
#[path = "load/config.rs"]
mod config;
#[path = "load/edge.rs"]
mod edge;
#[path = "load/failover.rs"]
mod failover;
#[path = "load/hop.rs"]
mod hop;
#[path = "load/procs.rs"]
mod procs;
#[path = "load/servers.rs"]
mod servers;
#[path = "load/stats.rs"]
mod stats;
#[path = "load/stores.rs"]
mod stores;
#[path = "load/upstream.rs"]
mod upstream;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tokio::time::Instant;

use config::{Config, Scenario};
use payroute_sandbox::Dialect;
use servers::{Servers, WebhookRoute};
use stats::{Phase, Sample};

/// A single logical operation may not take longer than this; past it the
/// operation counts as an error with this latency.
const OP_DEADLINE: Duration = Duration::from_secs(10);
/// Pause after each target's phase.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("bad setting {name}={value:?}: expected a whole number (positive except the warm-up)")]
    Setting { name: String, value: String },
    #[error(
        "unknown argument {0:?} (known: --scenario normal|failover|stores|edge|hop --rps N --secs N --rounds N --conns N --warmup-secs N --webhooks 0|1 --hop-store sqlite|postgres)"
    )]
    Argument(String),
    #[error("unknown scenario {0:?} (known: normal, failover, stores, edge, hop)")]
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
        sandbox: Arc<payroute_sandbox::Sandbox>,
    },
    /// `GET` without credentials, answered 401, alternating between two
    /// URLs (the edge scenario: the stack, then the bare connection); the
    /// sample's `attempts` says which (0 or 1).
    Alternate {
        name: &'static str,
        urls: [String; 2],
    },
    /// One payment of the hop scenario (see `load/hop.rs`).
    Hop(hop::Op),
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
            Target::Payroute { webhooks: None, .. } | Target::Alternate { .. } | Target::Hop(_) => {
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Target::Payroute { name, .. } | Target::Alternate { name, .. } => name,
            Target::Direct { .. } => "direct",
            Target::Hop(op) => op.name(),
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
                calls::payroute_payment(http, url, key, currency, "stripe_sandbox").await
            }
            Target::Direct { base, .. } => calls::direct_payment(http, base, key).await.map(|()| 0),
            Target::Alternate { urls, .. } => {
                let which = usize::from(index % 2 == 1);
                calls::unauthorized(http, &urls[which])
                    .await
                    .map(|()| which)
            }
            Target::Hop(op) => op.run(http, key).await,
        }
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
    on_generator_thread(move || drive(cfg, targets, ops))
}

/// Runs the future `load` makes on the load generator's own thread and
/// current-thread runtime (see the module doc).
fn on_generator_thread<F, T>(load: impl FnOnce() -> F + Send + 'static) -> Result<T, LoadError>
where
    F: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let generator = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(setup("generator runtime"))?;
        Ok::<_, LoadError>(rt.block_on(load()))
    });
    generator
        .join()
        .map_err(|_| LoadError::Setup("load generator panicked".into()))?
}

/// The report and the number of failed operations (and failed checks).
fn run(cfg: Config) -> Result<(String, u64), LoadError> {
    if cfg.scenario == Scenario::Hop {
        return hop::run(cfg);
    }
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
        Scenario::Hop => "scenario hop; ",
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
