//! `LOAD_SCENARIO=hop`: what the proxy hop costs, payroute against nginx.
//!
//! One run on loopback measures card payments to an instant gateway (see
//! `load/upstream.rs`) three ways, side by side:
//! - **direct**: the load generator makes the gateway calls itself;
//! - **nginx** (when `nginx` is on `PATH`): the same calls through an nginx
//!   reverse proxy, one process, upstream keep-alive (see `load/procs.rs`);
//! - **payroute**: `POST /v1/payments` (merchant API key, a unique
//!   `Idempotency-Key` each) to payroute started from its release binary
//!   (env `PAYROUTE_BIN`, default `target/release/payroute`; build it first
//!   with `cargo build --release --bin payroute`), which makes the calls.
//!
//! on two routes: Adyen (EUR, one `POST /v71/payments`, the same single hop
//! as nginx's) and Stripe's raw-card route (USD, `POST /v1/payment_methods`
//! then `POST /v1/payment_intents` with `confirm=true`: two upstream calls,
//! made by the load itself for direct and nginx).
//!
//! Each (route, target) pair is warmed up once (`LOAD_WARMUP_SECS`, 1),
//! then measured for `LOAD_SECS` (4) seconds in each of `LOAD_ROUNDS` (4)
//! rounds, all pairs in a new random order each round, so that drift in the
//! machine's load falls on every pair alike; a pair's rounds are pooled.
//! The open-loop rate is `LOAD_RPS` (1000). payroute's store is a SQLite
//! file, or with `LOAD_HOP_STORE=postgres` a fresh schema on the
//! PostgreSQL test server (dropped at the end).
//!
//! The report (markdown, stdout): per route and target ok/s, errors, p50,
//! p99 and p99.9; the latency each proxy ADDS over direct (its percentile
//! minus direct's at the same percentile); payroute's added latency over
//! nginx's at p50 and p99; upstream calls per successful payment (the same
//! for every target of a route, or the comparison is off); CPU time per
//! successful payment of the proxy process (utime + stime from
//! `/proc/<pid>/stat` across its measured phases, divided by the payments
//! that succeeded in them; resolution one clock tick per phase); and each
//! proxy's peak RSS (`VmHWM`) and thread count at the end.
//!
//! **Max rate**: with a rate no target can sustain (`LOAD_RPS=8000`), each
//! target's ok/s is its maximum sustained rate on this machine, and its
//! latencies are queueing. The load keeps at most 256 operations of a
//! target in flight, as a client's connection pool would; the rest wait
//! for one (the wait counts in their latency, and past the 10 s deadline
//! they are errors), so an overloaded proxy queues rather than sheds. The load generator, the upstream and the proxy
//! share the machine's cores, so this is the rate of the whole loop, a lower
//! bound on the proxy's own. Rows below 95 % of the offered rate are marked.
//!
//! Under `cargo test --benches` with `LOAD_SCENARIO=hop` it makes one short
//! round at 20 rps; without a payroute binary it is skipped with a message.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use tokio::sync::Semaphore;

use super::config::{Config, HopStore};
use super::procs::{self, ADYEN_GATEWAY, Proc, STRIPE_GATEWAY};
use super::stats::{Phase, Summary};
use super::upstream::{ADYEN_PREFIX, Counts, Upstream};
use super::{
    HttpClient, LoadError, Target, calls, http_client, on_generator_thread, phase, setup, stores,
};

/// Pause between two measured phases, so that one target's last replies and
/// closing connections are not on the next one's clock.
const PAUSE: Duration = Duration::from_millis(300);
/// Operations of one target in flight at once, as a merchant backend's
/// connection pool would allow; later ones wait for one to finish, their
/// wait counted in their latency. Far above what a keeping-up target needs
/// at 1000 rps; past a target's capacity (max-rate mode) it bounds the
/// connections the load opens (file descriptors of this process) and stays
/// under payroute's default in-flight limit (512), past which it would shed
/// requests instead of queueing them.
const MAX_IN_FLIGHT: usize = 256;
/// Below this share of the offered rate a target did not keep up.
const SATURATED: f64 = 0.95;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Adyen,
    Stripe,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Direct,
    Nginx,
    Payroute,
}

impl Route {
    fn title(self) -> &'static str {
        match self {
            Route::Adyen => "Adyen, EUR (1 call)",
            Route::Stripe => "Stripe card, USD (2 calls)",
        }
    }
}

impl Via {
    fn title(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Nginx => "nginx",
            Via::Payroute => "payroute",
        }
    }
}

/// One payment on one route through one target.
#[derive(Clone)]
pub struct Op {
    /// Prefixes the idempotency keys: plain ASCII.
    name: &'static str,
    route: Route,
    via: Via,
    /// payroute's `/v1/payments`, or the gateway's base URL (direct or
    /// through nginx).
    url: String,
    /// The target's operations in flight, at most [`MAX_IN_FLIGHT`].
    in_flight: Arc<Semaphore>,
}

impl Op {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Gateway attempts payroute reports (1), or the calls the load made.
    pub async fn run(&self, http: &HttpClient, key: &str) -> Result<usize, String> {
        let Ok(_permit) = self.in_flight.acquire().await else {
            return Err("in-flight limit closed".into());
        };
        let url = &self.url;
        match (self.via, self.route) {
            (Via::Payroute, Route::Adyen) => {
                calls::payroute_payment(http, url, key, "EUR", ADYEN_GATEWAY).await
            }
            (Via::Payroute, Route::Stripe) => {
                calls::payroute_payment(http, url, key, "USD", STRIPE_GATEWAY).await
            }
            (_, Route::Adyen) => calls::adyen_payment(http, url, key).await.map(|()| 1),
            (_, Route::Stripe) => calls::direct_payment(http, url, key).await.map(|()| 2),
        }
    }
}

/// A (route, target) pair and what its rounds measured.
struct Cell {
    op: Op,
    /// The proxy process whose CPU time the pair is charged.
    pid: Option<u32>,
    phases: Vec<Phase>,
    cpu_ticks: u64,
    upstream_calls: u64,
}

/// A proxy process at the end of the run.
struct ProcEnd {
    name: &'static str,
    /// Peak RSS in KiB and threads, when `/proc` could tell.
    status: Option<(u64, u64)>,
    exited: Option<String>,
}

/// The report and the number of failed operations.
pub fn run(cfg: Config) -> Result<(String, u64), LoadError> {
    let bin = match procs::payroute_bin() {
        Ok(bin) => bin,
        Err(why) if cfg.smoke => {
            eprintln!("load: hop scenario skipped: {why}");
            return Ok((format!("hop scenario skipped: {why}"), 0));
        }
        Err(why) => return Err(LoadError::Setup(why)),
    };
    let upstream = Upstream::start()?;
    let dir = tempfile::tempdir().map_err(setup("tempdir"))?;
    let mkdir = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d)
            .map(|()| d)
            .map_err(setup("tempdir"))
    };
    // A PostgreSQL store is a fresh schema, dropped whatever happens.
    let schema = match cfg.hop_store {
        HopStore::Sqlite => None,
        HopStore::Postgres => Some(Schema::create()?),
    };
    let store = schema.as_ref().map(|s| s.url.as_str());
    let (payroute, api) = procs::payroute(&bin, &mkdir("payroute")?, upstream.addr, store)?;
    let nginx = match procs::nginx_bin() {
        Some(bin) => {
            let (proc, addr) = procs::nginx(&bin, &mkdir("nginx")?, upstream.addr)?;
            Some((proc, addr, procs::nginx_version(&bin)))
        }
        None => {
            eprintln!("load: no nginx on PATH: measuring direct and payroute only");
            None
        }
    };
    let direct = format!("http://{}", upstream.addr);
    let mut cells = Vec::new();
    for route in [Route::Adyen, Route::Stripe] {
        cells.push(cell(route, Via::Direct, &direct, None));
        if let Some((proc, addr, _)) = &nginx {
            cells.push(cell(
                route,
                Via::Nginx,
                &format!("http://{addr}"),
                Some(proc),
            ));
        }
        let url = format!("http://{api}/v1/payments");
        cells.push(cell(route, Via::Payroute, &url, Some(&payroute)));
    }
    let counts = upstream.counts();
    let cells = on_generator_thread(move || drive(cfg, cells, counts))?;
    let mut ends = vec![proc_end(payroute)];
    let mut version = None;
    if let Some((proc, _, v)) = nginx {
        ends.push(proc_end(proc));
        version = Some(v);
    }
    let header = header(cfg, version.as_deref());
    let (mut out, mut errors) = report(&header, cfg.rps, &cells, &ends, procs::ticks_per_sec());
    let counts = upstream.counts();
    let (refused, accept_errors) = (counts.refused(), counts.accept_errors());
    if refused > 0 {
        errors += refused;
        let _ = writeln!(
            out,
            "\nthe upstream refused {refused} call(s): unknown path or wrong credentials"
        );
    }
    if accept_errors > 0 {
        let _ = writeln!(
            out,
            "\nthe upstream failed to accept {accept_errors} time(s) (file descriptors?)"
        );
    }
    Ok((out, errors))
}

/// A test schema for the run, dropped with this value.
struct Schema {
    url: String,
    rt: tokio::runtime::Runtime,
}

impl Schema {
    fn create() -> Result<Schema, LoadError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(setup("runtime"))?;
        let mut made = rt.block_on(stores::create_schemas(1))?;
        let url = made
            .pop()
            .ok_or_else(|| LoadError::Setup("no schema made".into()))?;
        Ok(Schema { url, rt })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        self.rt
            .block_on(stores::drop_schemas(std::slice::from_ref(&self.url)));
    }
}

fn cell(route: Route, via: Via, base: &str, proc: Option<&Proc>) -> Cell {
    let name = match (route, via) {
        (Route::Adyen, Via::Direct) => "adyen-direct",
        (Route::Adyen, Via::Nginx) => "adyen-nginx",
        (Route::Adyen, Via::Payroute) => "adyen-payroute",
        (Route::Stripe, Via::Direct) => "stripe-direct",
        (Route::Stripe, Via::Nginx) => "stripe-nginx",
        (Route::Stripe, Via::Payroute) => "stripe-payroute",
    };
    // The Adyen dialect's paths hang under its version; payroute's URL is whole.
    let url = match (route, via) {
        (Route::Adyen, Via::Direct | Via::Nginx) => format!("{base}{ADYEN_PREFIX}"),
        _ => base.to_string(),
    };
    Cell {
        op: Op {
            name,
            route,
            via,
            url,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        },
        pid: proc.map(Proc::pid),
        phases: Vec::new(),
        cpu_ticks: 0,
        upstream_calls: 0,
    }
}

/// Reads what `/proc` says about `proc`, then drops (kills) it.
fn proc_end(mut proc: Proc) -> ProcEnd {
    ProcEnd {
        name: proc.name,
        status: procs::memory_and_threads(proc.pid()),
        exited: proc.exited(),
    }
}

/// Warm-up of every pair, then the rounds (see the module doc).
async fn drive(cfg: Config, mut cells: Vec<Cell>, counts: Arc<Counts>) -> Vec<Cell> {
    let http = http_client(cfg.conns);
    if cfg.warmup_secs > 0 {
        for cell in &cells {
            let name = cell.op.name;
            eprintln!(
                "load: {name}: warm-up {}s at {} rps",
                cfg.warmup_secs, cfg.rps
            );
            let target = Target::Hop(cell.op.clone());
            let label = format!("{name}-warm");
            let _ = phase(&target, &http, cfg.rps, cfg.warmup_secs, &label).await;
            tokio::time::sleep(PAUSE).await;
        }
    }
    let mut order: Vec<usize> = (0..cells.len()).collect();
    for round in 1..=cfg.rounds {
        order.shuffle(&mut rand::rng());
        let names: Vec<&str> = order.iter().map(|&i| cells[i].op.name).collect();
        eprintln!(
            "load: round {round}/{}, {}s each at {} rps: {}",
            cfg.rounds,
            cfg.secs,
            cfg.rps,
            names.join(", ")
        );
        for &i in &order {
            measure(&mut cells[i], cfg, &http, &counts, round).await;
            tokio::time::sleep(PAUSE).await;
        }
    }
    cells
}

/// One measured phase of `cell`, with its proxy's CPU time and the upstream
/// calls it caused.
async fn measure(cell: &mut Cell, cfg: Config, http: &HttpClient, counts: &Counts, round: u64) {
    let target = Target::Hop(cell.op.clone());
    let label = format!("{}-r{round}", cell.op.name);
    let cpu_before = cell.pid.and_then(procs::cpu_ticks);
    let calls_before = counts.answered();
    let measured = phase(&target, http, cfg.rps, cfg.secs, &label).await;
    if let (Some(before), Some(after)) = (cpu_before, cell.pid.and_then(procs::cpu_ticks)) {
        cell.cpu_ticks += after.saturating_sub(before);
    }
    cell.upstream_calls += counts.answered().saturating_sub(calls_before);
    cell.phases.push(measured);
}

fn header(cfg: Config, nginx: Option<&str>) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let nginx = nginx.map_or_else(
        || "no nginx on PATH".to_string(),
        |v| format!("{v} (1 process, upstream keepalive 64)"),
    );
    format!(
        "scenario hop: open loop at {} rps, {} round(s) of {} s per target in shuffled order \
         (after {} s warm-up each), idle pool {} conns; payroute release binary ({}, warn \
         logging, no merchant webhooks), {nginx}; instant in-process upstream; {cores} cores \
         shared by load generator, upstream and proxies; latencies in µs",
        cfg.rps,
        cfg.rounds,
        cfg.secs,
        cfg.warmup_secs,
        cfg.conns,
        cfg.hop_store.as_str()
    )
}

/// Latency at `p` in µs, when the samples resolve it.
fn us(s: &Summary, p: f64) -> Option<f64> {
    s.resolved_percentile(p).map(|d| d.as_secs_f64() * 1e6)
}

fn cell_text(v: Option<f64>, signed: bool) -> String {
    match v {
        Some(v) if signed => format!("{v:+.0}"),
        Some(v) => format!("{v:.0}"),
        None => "—".into(),
    }
}

const PERCENTILES: [f64; 3] = [50.0, 99.0, 99.9];

/// The summaries of `cells`, and the report with its failure count.
fn report(
    header: &str,
    rps: u64,
    cells: &[Cell],
    ends: &[ProcEnd],
    ticks_per_sec: u64,
) -> (String, u64) {
    let summaries: Vec<Summary> = cells.iter().map(|c| Summary::merged(&c.phases)).collect();
    let find = |route: Route, via: Via| {
        let i = cells
            .iter()
            .position(|c| c.op.route == route && c.op.via == via)?;
        summaries.get(i)
    };
    let added = |route: Route, via: Via, p: f64| {
        let (s, d) = (find(route, via)?, find(route, Via::Direct)?);
        Some(us(s, p)? - us(d, p)?)
    };
    let tick_us = 1e6 / ticks_per_sec.max(1) as f64;
    let mut out = format!("\n{header}\n\n");
    let _ = writeln!(
        out,
        "| route | target | ok/s | errors / sent | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 | upstream calls / ok payment | proxy CPU / ok payment (µs) |"
    );
    let _ = writeln!(out, "| --- | --- |{}", " ---: |".repeat(10));
    for (c, s) in cells.iter().zip(&summaries) {
        let (route, via) = (c.op.route, c.op.via);
        let latency: Vec<String> = PERCENTILES
            .iter()
            .map(|&p| cell_text(us(s, p), false))
            .collect();
        let adds: Vec<String> = PERCENTILES
            .iter()
            .map(|&p| match via {
                Via::Direct => "—".into(),
                _ => cell_text(added(route, via, p), true),
            })
            .collect();
        let ok = s.ok.max(1) as f64;
        let cpu = match c.pid {
            Some(_) => format!("{:.0}", c.cpu_ticks as f64 * tick_us / ok),
            None => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1}{} | {} / {} | {} | {} | {:.2} | {cpu} |",
            route.title(),
            via.title(),
            s.throughput,
            if s.throughput < SATURATED * rps as f64 {
                " ⚠"
            } else {
                ""
            },
            s.error_count(),
            s.scheduled,
            latency.join(" | "),
            adds.join(" | "),
            c.upstream_calls as f64 / ok,
        );
    }
    ratios(&mut out, &added);
    processes(&mut out, cells, ends, tick_us);
    let mut errors: u64 = summaries.iter().map(Summary::error_count).sum();
    for (c, s) in cells.iter().zip(&summaries) {
        for (class, n) in &s.errors {
            let _ = writeln!(out, "\n{}: {n} × {class}", c.op.name);
        }
    }
    for end in ends {
        if let Some(status) = &end.exited {
            errors += 1;
            let _ = writeln!(out, "\n{} exited during the run: {status}", end.name);
        }
    }
    if summaries
        .iter()
        .any(|s| s.throughput < SATURATED * rps as f64)
    {
        let _ = writeln!(
            out,
            "\n⚠ below 95 % of the offered {rps}/s: saturated, so its ok/s is its maximum sustained rate here and its latency is queueing."
        );
    }
    (out, errors)
}

/// payroute's added latency over nginx's, per route.
fn ratios(out: &mut String, added: &dyn Fn(Route, Via, f64) -> Option<f64>) {
    let _ = writeln!(
        out,
        "\n| route | payroute added / nginx added at p50 | at p99 |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: |");
    for route in [Route::Adyen, Route::Stripe] {
        let ratio = |p: f64| match (added(route, Via::Payroute, p), added(route, Via::Nginx, p)) {
            (Some(a), Some(b)) if b > 0.0 => format!("{a:.0} / {b:.0} = {:.1}×", a / b),
            (Some(a), Some(b)) => format!("{a:.0} / {b:.0} = n/a"),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            route.title(),
            ratio(50.0),
            ratio(99.0)
        );
    }
}

/// Each proxy's peak RSS and threads at the end, and its CPU per successful
/// payment over both routes.
fn processes(out: &mut String, cells: &[Cell], ends: &[ProcEnd], tick_us: f64) {
    let _ = writeln!(
        out,
        "\n| process | peak RSS (MiB) | threads at end | CPU / ok payment, both routes (µs) |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for end in ends {
        let mine = |c: &&Cell| c.op.via.title() == end.name;
        let ticks: u64 = cells.iter().filter(mine).map(|c| c.cpu_ticks).sum();
        let ok: usize = cells
            .iter()
            .filter(mine)
            .flat_map(|c| &c.phases)
            .map(|p| p.samples.iter().filter(|s| s.error.is_none()).count())
            .sum();
        let (rss, threads) = match end.status {
            Some((kib, threads)) => (format!("{:.1}", kib as f64 / 1024.0), threads.to_string()),
            None => ("—".into(), "—".into()),
        };
        let cpu = ticks as f64 * tick_us / ok.max(1) as f64;
        let _ = writeln!(out, "| {} | {rss} | {threads} | {cpu:.0} |", end.name);
    }
}
