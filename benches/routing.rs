//! Micro-benchmarks of the per-payment CPU work that does not touch the
//! network: the routing decision (`Ruleset::decide`) as the route list
//! grows, and parsing a create-payment body from its bytes.
//!
//! Run: `cargo bench --bench routing` (add `-- --quick` for a short run).
//!
//! Rulesets are generated into a tempdir and loaded through the real loader,
//! so what is measured is exactly what the server evaluates. The routes
//! before the matching one all pass `method`, `currency` and `country` and
//! fail only on `card_bin`, which is checked late in `RouteWhen::matches`:
//! every skipped route costs close to a full evaluation.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use payroute::api::request::{CreateBody, parse_create, parse_explain};
use payroute::domain::facts::PaymentFacts;
use payroute::risk::Velocity;
use payroute::routing::Ruleset;
use serde_json::{Value, json};

/// The shipped files reused unchanged; only `routes.yaml` is generated.
const SHIPPED: [&str; 3] = ["gateways.yaml", "merchants.yaml", "risk.yaml"];

/// Where the matching route sits in the generated list.
#[derive(Clone, Copy)]
enum Position {
    First,
    Last,
}

impl Position {
    fn label(self) -> &'static str {
        match self {
            Position::First => "match_first",
            Position::Last => "match_last",
        }
    }
}

/// A typical create-payment body: USD card 4242, routed to Stripe.
fn create_body() -> Value {
    json!({
        "amount": 2000,
        "currency": "USD",
        "reference": "order-10045",
        "capture": "automatic",
        "payment_method": {"type": "card", "card": {
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
            "cvc": "123", "holder_name": "A. Buyer"}},
        "customer": {"id": "cus_1", "email": "a@example.com", "country": "US"},
        "metadata": {"channel": "web", "cart": "c-981"},
        "return_url": "https://shop.example.com/return",
    })
}

/// One route that never matches the benchmark payment: only its BIN differs.
fn miss_route(i: usize) -> String {
    format!(
        "  - name: miss-{i}\n    when: {{ method: [card], currency: [USD], country: [US], card_bin: [\"5{i:05}\"] }}\n    gateways: [adyen_sandbox]\n"
    )
}

const HIT_ROUTE: &str = "  - name: hit\n    when: { method: [card], currency: [USD], country: [US], card_bin: [\"4242\"] }\n    gateways: [stripe_sandbox, adyen_sandbox]\n";

fn routes_yaml(total: usize, position: Position) -> String {
    let misses = (0..total.saturating_sub(1)).map(miss_route);
    let mut out = String::from("routes:\n");
    if let Position::First = position {
        out.push_str(HIT_ROUTE);
    }
    misses.for_each(|r| out.push_str(&r));
    if let Position::Last = position {
        out.push_str(HIT_ROUTE);
    }
    out
}

/// Writes and loads a ruleset of `total` routes; panics on a setup failure,
/// which is the right outcome for a benchmark with a broken fixture.
fn ruleset(dir: &Path, total: usize, position: Position) -> Ruleset {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    for name in SHIPPED {
        std::fs::copy(shipped.join(name), dir.join(name)).expect("copy shipped rules");
    }
    std::fs::write(dir.join("routes.yaml"), routes_yaml(total, position)).expect("write routes");
    let rs = payroute::config::load(dir).expect("generated ruleset loads");
    assert_eq!(rs.routes.len(), total);
    rs
}

fn facts() -> PaymentFacts {
    let bytes = serde_json::to_vec(&create_body()).expect("serialize body");
    parse_explain("demo", &bytes).expect("benchmark body is valid")
}

fn bench_decide(c: &mut Criterion) {
    let facts = facts();
    // Empty history: the velocity signals are evaluated but never fire.
    let velocity = Velocity::new(Duration::from_secs(3600));
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    let cases = [
        (1, Position::Last),
        (100, Position::Last),
        (1000, Position::Last),
        (100, Position::First),
        (1000, Position::First),
    ];
    for (total, position) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let rs = ruleset(dir.path(), total, position);
        let check = rs.decide(&facts, &velocity);
        assert_eq!(
            check.rule.as_deref(),
            Some("hit"),
            "the benchmark must reach the hit route"
        );
        let id = BenchmarkId::new(position.label(), total);
        group.bench_with_input(id, &rs, |b, rs| {
            b.iter(|| rs.decide(black_box(&facts), black_box(&velocity)))
        });
    }
    group.finish();
}

fn bench_parse(c: &mut Criterion) {
    let bytes = serde_json::to_vec(&create_body()).expect("serialize body");
    assert!(parse_create(&bytes).is_ok(), "benchmark body must parse");
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("CreateBody::parse", |b| {
        b.iter(|| CreateBody::parse(black_box(&bytes)))
    });
    group.bench_function("parse_create", |b| {
        b.iter(|| parse_create(black_box(&bytes)))
    });
    group.bench_function("parse_explain", |b| {
        b.iter(|| parse_explain("demo", black_box(&bytes)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_decide, bench_parse
}
criterion_main!(benches);
