//! The stores scenario: what the store behind payroute costs a payment.
//! In one run, the same USD card payments (unique `Idempotency-Key` each,
//! as merchants send them) at the same rate through payroute on SQLite,
//! on PostgreSQL, as two replicas on one PostgreSQL schema with the load
//! split round-robin between them, and straight at the sandbox (the
//! baseline); one markdown row per configuration.
//!
//! Each payroute configuration runs alone on a fresh store: the
//! PostgreSQL replicas start before their warm-up and stop after their
//! phase, so that idle servers, their pools and their background work do
//! not weigh on the next (the SQLite payroute, measured first, idles on). The sandbox's gateway webhooks go to the measured payroute (the
//! first replica of two), so the store takes the webhook writes and the
//! merchant deliveries of a real deployment too.
//!
//! The PostgreSQL server is the test server (`store::postgres`'s
//! `DEFAULT_TEST_URL`, or env `TEST_URL_ENV`); the scenario makes two
//! schemas on it, fails before any measurement when it cannot, and drops
//! them at the end whatever happened in between.

use std::fmt::Write as _;

use payroute::server::Running;
use payroute::store::postgres::{
    DEFAULT_TEST_URL, TEST_URL_ENV, create_test_schema, drop_test_schema,
};
use tokio::runtime::Runtime;

use super::config::Config;
use super::servers::Servers;
use super::stats::{Summary, ms, ratio};
use super::{LoadError, Target, cfg_line, direct_target, generate};

/// Which servers a configuration measures.
#[derive(Clone, Copy)]
enum Under {
    /// The first payroute of [`Servers`], on SQLite.
    Sqlite,
    /// `replicas` payroutes on test schema number `schema`.
    Postgres {
        schema: usize,
        replicas: usize,
    },
    Direct,
}

/// Target name (it prefixes the idempotency keys, so plain ASCII), row
/// title, servers; in the order measured.
const CONFIGURATIONS: [(&str, &str, Under); 4] = [
    ("sqlite", "payroute, SQLite, 1 replica", Under::Sqlite),
    (
        "postgres",
        "payroute, PostgreSQL, 1 replica",
        Under::Postgres {
            schema: 0,
            replicas: 1,
        },
    ),
    (
        "postgres-2-replicas",
        "payroute, PostgreSQL, 2 replicas (round-robin)",
        Under::Postgres {
            schema: 1,
            replicas: 2,
        },
    ),
    ("direct", "direct to sandbox (baseline)", Under::Direct),
];
/// Schemas the configurations above use.
const SCHEMAS: usize = 2;

/// One measured configuration.
struct Row {
    name: &'static str,
    title: &'static str,
    s: Summary,
    /// Gateway webhooks payroute acknowledged, and merchant events the sink
    /// received, during its warm-up and measurement.
    webhooks: u64,
    events: u64,
}

/// The report and the number of failed operations.
pub fn run(cfg: Config, rt: &Runtime) -> Result<(String, u64), LoadError> {
    let schemas = rt.block_on(create_schemas(SCHEMAS))?;
    let measured = measure(cfg, rt, &schemas);
    rt.block_on(drop_schemas(&schemas));
    measured
}

/// `n` fresh schemas on the test server, or none (and a clear error) when
/// it cannot be reached.
pub(super) async fn create_schemas(n: usize) -> Result<Vec<String>, LoadError> {
    let base = std::env::var(TEST_URL_ENV).unwrap_or_else(|_| DEFAULT_TEST_URL.to_string());
    let base = base.as_str();
    let mut made = Vec::with_capacity(n);
    for _ in 0..n {
        match create_test_schema(base).await {
            Ok(url) => made.push(url),
            Err(e) => {
                drop_schemas(&made).await;
                return Err(LoadError::Postgres {
                    url: redact(base),
                    env: TEST_URL_ENV,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(made)
}

/// A schema left behind is litter on a shared server, not a failed
/// measurement: it is reported, not returned.
pub(super) async fn drop_schemas(schemas: &[String]) {
    for url in schemas {
        if let Err(e) = drop_test_schema(url).await {
            eprintln!("load: could not drop the schema of {}: {e}", redact(url));
        }
    }
}

fn measure(cfg: Config, rt: &Runtime, schemas: &[String]) -> Result<(String, u64), LoadError> {
    let servers = rt.block_on(Servers::start(cfg.webhooks, None))?;
    let rows = measure_rows(cfg, rt, &servers, schemas);
    rt.block_on(servers.shutdown());
    let rows = rows?;
    let errors = rows.iter().map(|r| r.s.error_count()).sum();
    Ok((report(&cfg_line(cfg), cfg.rps, &rows), errors))
}

fn measure_rows(
    cfg: Config,
    rt: &Runtime,
    servers: &Servers,
    schemas: &[String],
) -> Result<Vec<Row>, LoadError> {
    let mut rows = Vec::with_capacity(CONFIGURATIONS.len());
    for (name, title, under) in CONFIGURATIONS {
        let replicas = match under {
            Under::Postgres { schema, replicas } => {
                let url = schemas
                    .get(schema)
                    .ok_or_else(|| LoadError::Setup(format!("no test schema {schema}")))?;
                rt.block_on(start_replicas(servers, url, replicas))?
            }
            Under::Sqlite | Under::Direct => Vec::new(),
        };
        let target = match under {
            Under::Direct => direct_target(servers),
            Under::Sqlite => {
                payroute_target(cfg, servers, name, std::slice::from_ref(&servers.payroute))
            }
            Under::Postgres { .. } => payroute_target(cfg, servers, name, &replicas),
        };
        let (webhooks, events) = (servers.webhooks_acknowledged(), servers.sink_hits());
        let driven = generate(cfg, vec![target], None);
        let webhooks = servers.webhooks_acknowledged().saturating_sub(webhooks);
        let events = servers.sink_hits().saturating_sub(events);
        for replica in replicas {
            rt.block_on(replica.shutdown());
        }
        let (_, phase) = driven?
            .phases
            .pop()
            .ok_or_else(|| LoadError::Setup(format!("{name}: no phase measured")))?;
        rows.push(Row {
            name,
            title,
            s: phase.summary(|_| true),
            webhooks,
            events,
        });
    }
    Ok(rows)
}

/// `n` payroutes on the store at `url`, started one after the other (the
/// first migrates the fresh schema); all stopped again if one fails.
async fn start_replicas(servers: &Servers, url: &str, n: usize) -> Result<Vec<Running>, LoadError> {
    let mut started = Vec::with_capacity(n);
    for _ in 0..n {
        match servers.start_payroute(url).await {
            Ok(replica) => started.push(replica),
            Err(e) => {
                for replica in started {
                    replica.shutdown().await;
                }
                return Err(e);
            }
        }
    }
    Ok(started)
}

/// Payments round-robin over `replicas`; the sandbox's webhooks to the
/// first.
fn payroute_target(
    cfg: Config,
    servers: &Servers,
    name: &'static str,
    replicas: &[Running],
) -> Target {
    Target::Payroute {
        name,
        urls: replicas
            .iter()
            .map(|r| format!("http://{}/v1/payments", r.api_addr))
            .collect(),
        currency: "USD",
        cold: false,
        webhooks: replicas
            .first()
            .filter(|_| cfg.webhooks)
            .map(|r| servers.webhook_route(r)),
    }
}

/// A latency in ms, or `—` when the samples do not resolve percentile `p`.
fn pct(s: &Summary, p: f64) -> Option<f64> {
    s.resolved_percentile(p).map(ms)
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.2}"))
}

fn ratio_cell(a: &Summary, b: &Summary, p: f64) -> String {
    match (pct(a, p), pct(b, p)) {
        (Some(a), Some(b)) => ratio(a, b),
        _ => "—".into(),
    }
}

/// Below this share of the offered rate a configuration did not keep up.
const SATURATED: f64 = 0.95;

/// The table (one row per configuration, the last the direct baseline),
/// then error classes, saturated rows and webhook counts.
fn report(header: &str, rps: u64, rows: &[Row]) -> String {
    let mut out = format!("\n{header}\n\n");
    let Some(direct) = rows.last() else {
        return out + "no configuration measured\n";
    };
    let _ = writeln!(
        out,
        "| configuration | ok/s | p50 (ms) | p99 (ms) | p99.9 (ms) | errors / scheduled | p50 vs direct | p99 vs direct |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} | {} | {} / {} | {} | {} |",
            r.title,
            r.s.throughput,
            cell(pct(&r.s, 50.0)),
            cell(pct(&r.s, 99.0)),
            cell(pct(&r.s, 99.9)),
            r.s.error_count(),
            r.s.scheduled,
            ratio_cell(&r.s, &direct.s, 50.0),
            ratio_cell(&r.s, &direct.s, 99.0),
        );
    }
    for r in rows {
        for (class, n) in &r.s.errors {
            let _ = writeln!(out, "\n{}: {n} × {class}", r.title);
        }
    }
    let saturated: Vec<&str> = rows
        .iter()
        .filter(|r| r.s.throughput < SATURATED * rps as f64)
        .map(|r| r.title)
        .collect();
    if !saturated.is_empty() {
        let _ = writeln!(
            out,
            "\nbelow the offered {rps}/s, so saturated (their ok/s is their capacity here; latency is queueing): {}",
            saturated.join("; ")
        );
    }
    let counts: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} / {}", r.name, r.webhooks, r.events))
        .collect();
    let _ = writeln!(
        out,
        "\ngateway webhooks acknowledged by payroute / merchant events received by the sink, warm-up included: {}",
        counts.join("; ")
    );
    out
}

/// `url` with any password replaced, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority
        .rsplit_once('@')
        .and_then(|(userinfo, host)| Some((userinfo.split_once(':')?.0, host)))
    {
        Some((user, host)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.into(),
    }
}
