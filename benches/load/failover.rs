//! The failover scenario's report: EUR card payments whose first candidate
//! gateway (`adyen_sandbox`, route `eu-cards`) refuses every connection, so
//! payroute fails over to `stripe_sandbox`, against the same payments with a
//! healthy first gateway (USD, route `default`, Stripe first) and against
//! the direct Stripe calls. Failover payments are split by what payroute did
//! for them, read from the payment's `route.attempts`: 2 attempts means the
//! dead gateway was dialed (before its circuit opened), 1 means the open
//! circuit skipped it without a network call.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;

use super::HttpClient;
use super::calls::send;
use super::stats::{Phase, Summary, ms};

/// The first candidate of route `eu-cards`, made unreachable.
pub const DEAD_GATEWAY: &str = "adyen_sandbox";
/// How many of the first failover payments are listed one by one.
const FIRST: u64 = 8;

/// One line of `GET /admin/gateways`: the dead gateway's breaker state, as
/// compact JSON, and whether that state is `open`.
pub async fn gateway_state(http: &HttpClient, ops: SocketAddr) -> (String, bool) {
    let req = Request::get(format!("http://{ops}/admin/gateways"))
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("request: {e}"));
    let reply = match req {
        Ok(req) => send(http, req).await,
        Err(e) => Err(e),
    };
    let (status, body) = match reply {
        Ok(r) => r,
        Err(e) => return (format!("GET /admin/gateways failed: {e}"), false),
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let entry = v["gateways"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["gateway"] == DEAD_GATEWAY));
    match entry {
        Some(g) => (g.to_string(), g["state"] == "open"),
        None => (
            format!(
                "HTTP {}: no {DEAD_GATEWAY} in {}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
            ),
            false,
        ),
    }
}

/// A column of the comparison: its title and summary.
struct Column {
    title: &'static str,
    s: Summary,
}

fn columns(failover: &Phase, baseline: &Phase, direct: &Phase) -> Vec<Column> {
    let ok_with = |n: usize| move |s: &super::stats::Sample| s.error.is_none() && s.attempts == n;
    vec![
        Column {
            title: "payroute, dead 1st gateway: all",
            s: failover.summary(|_| true),
        },
        Column {
            title: "… dead gateway dialed (pre-ejection)",
            s: failover.summary(ok_with(2)),
        },
        Column {
            title: "… circuit open, skipped (steady state)",
            s: failover.summary(ok_with(1)),
        },
        Column {
            title: "payroute, healthy 1st gateway (baseline)",
            s: baseline.summary(|_| true),
        },
        Column {
            title: "direct to sandbox",
            s: direct.summary(|_| true),
        },
    ]
}

/// A percentile shown only when the samples resolve it.
fn pct(s: &Summary, p: f64) -> Option<f64> {
    s.resolved_percentile(p).map(ms)
}

fn cell(v: Option<f64>, signed: bool) -> String {
    match v {
        Some(v) if signed => format!("{v:+.2}"),
        Some(v) => format!("{v:.2}"),
        None => "—".into(),
    }
}

const ROWS: [(&str, f64); 4] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

fn latency_table(out: &mut String, cols: &[Column]) {
    let titles: Vec<&str> = cols.iter().map(|c| c.title).collect();
    let _ = writeln!(out, "| metric | {} |", titles.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(cols.len()));
    let row = |out: &mut String, name: &str, f: &dyn Fn(&Summary) -> String| {
        let cells: Vec<String> = cols.iter().map(|c| f(&c.s)).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row(out, "ok / errors / scheduled", &|s| {
        format!("{} / {} / {}", s.ok, s.error_count(), s.scheduled)
    });
    for (name, p) in ROWS {
        row(out, &format!("{name} (ms)"), &|s| cell(pct(s, p), false));
    }
    row(out, "max (ms)", &|s| {
        format!("{:.2}", ms(s.percentile(100.0)))
    });
    row(out, "mean (ms)", &|s| format!("{:.2}", ms(s.mean())));
}

fn difference_table(out: &mut String, cols: &[Column]) {
    let [all, dialed, skipped, baseline, direct] = cols else {
        return;
    };
    let _ = writeln!(
        out,
        "\n| difference | Δ p50 (ms) | Δ p99 (ms) | Δ p99.9 (ms) | p50 ratio |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
    let pairs = [
        ("dead 1st gateway, all − baseline", all, baseline),
        (
            "dead 1st gateway, steady state − baseline",
            skipped,
            baseline,
        ),
        (
            "dead 1st gateway, pre-ejection − baseline",
            dialed,
            baseline,
        ),
        ("baseline − direct", baseline, direct),
        ("dead 1st gateway, all − direct", all, direct),
    ];
    for (name, a, b) in pairs {
        let d = |p: f64| cell(pct(&a.s, p).zip(pct(&b.s, p)).map(|(a, b)| a - b), true);
        let base = ms(b.s.percentile(50.0));
        let ratio = if base > 0.0 {
            format!("{:.2}×", ms(a.s.percentile(50.0)) / base)
        } else {
            "n/a".into()
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {ratio} |",
            d(50.0),
            d(99.0),
            d(99.9)
        );
    }
}

/// The first failover payments in schedule order: calls made and latency.
fn first_payments(out: &mut String, failover: &Phase) {
    let mut first: Vec<_> = failover
        .samples
        .iter()
        .filter(|s| s.index < FIRST)
        .collect();
    first.sort_by_key(|s| s.index);
    let cells: Vec<String> = first
        .iter()
        .map(|s| match &s.error {
            None => format!(
                "#{} {} call(s) {:.2} ms",
                s.index,
                s.attempts,
                ms(s.latency)
            ),
            Some(e) => format!("#{} error {e} {:.2} ms", s.index, ms(s.latency)),
        })
        .collect();
    let _ = writeln!(
        out,
        "\nfirst {FIRST} failover payments (gateway calls, latency): {}",
        cells.join("; ")
    );
}

/// The full failover report; `admin` holds (when, state line) pairs.
pub fn report(
    header: &str,
    failover: &Phase,
    baseline: &Phase,
    direct: &Phase,
    admin: &[(&str, String)],
) -> String {
    let mut out = format!("\n{header}\n\n");
    let cols = columns(failover, baseline, direct);
    latency_table(&mut out, &cols);
    difference_table(&mut out, &cols);
    first_payments(&mut out, failover);
    for c in &cols {
        for (class, n) in &c.s.errors {
            let _ = writeln!(out, "\n{}: {n} × {class}", c.title);
        }
    }
    for (when, line) in admin {
        let _ = writeln!(out, "\nGET /admin/gateways {when}: {DEAD_GATEWAY} = {line}");
    }
    out
}
