//! Chaos: thousands of payments from concurrent merchant clients that retry
//! with their idempotency keys, through a payroute process that is SIGKILLed
//! and restarted several times, against a sandbox injecting ~10 % faults
//! (timeouts and resets after the charge, 500s, 429s) on all three gateway
//! kinds: USD goes to Stripe and EUR to Adyen (the shipped routes), SEK to
//! Checkout.com (a route this test adds), a third of the payments each. Afterwards, with
//! reconciliation run to completion, the sandbox ledger and payroute must
//! agree: at most one live charge per payment, every charge owned by exactly
//! one payment, every payment final and equal to the ledger, and every final
//! answer a client got the true one.
//!
//! Seeded: `CHAOS_SEED` replays a run (the seed is printed on failure);
//! `CHAOS_PAYMENTS`, `CHAOS_KILLS` and `CHAOS_CLIENTS` (concurrent
//! merchants) scale it; the defaults (2,000 payments, 5 kills, 16
//! clients) are what CI runs (README: the long run).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::{DEMO_KEY, Http, Proc, card_payment, write_shipped_rules};
use http::Method;
use payroute_sandbox::{Dialect, FaultMode, FaultRule, FaultScope, SandboxConfig, WebhookTarget};
use rand::{RngExt, SeedableRng};
use serde_json::Value;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Final answers clients got, by reference.
type Answers = Arc<Mutex<HashMap<String, Value>>>;

struct Cluster {
    /// The API address stays the same across restarts, as a real
    /// deployment's does: gateways keep retrying webhooks to it.
    listen: String,
    proc: Mutex<Option<Proc>>,
    api: RwLock<String>,
    rules: std::path::PathBuf,
    db: std::path::PathBuf,
    sandbox: Arc<payroute_sandbox::Sandbox>,
}

const ENV: &[(&str, &str)] = &[
    ("PAYROUTE_RECONCILE_MIN_AGE_S", "1"),
    ("PAYROUTE_RECONCILE_NOT_FOUND_GRACE_S", "0"),
    ("PAYROUTE_RECONCILE_INTERVAL_S", "1"),
    ("PAYROUTE_RECONCILE_REVERSE_AFTER_S", "15"),
    ("PAYROUTE_IDEMPOTENCY_STALE_S", "2"),
    ("PAYROUTE_SHUTDOWN_GRACE", "1"),
    ("RUST_LOG", "warn,payroute::server=info"),
];

impl Cluster {
    fn start(&self) {
        let mut env = ENV.to_vec();
        env.push(("PAYROUTE_LISTEN", &self.listen));
        let p = Proc::spawn_env(&self.rules, &self.db, &env);
        // The sandbox's webhooks follow payroute to its new port.
        let base = p.api.clone();
        self.sandbox.set_webhook_target(
            Dialect::Stripe,
            Some(WebhookTarget::new(
                &format!("{base}/webhooks/stripe_sandbox"),
                common::PROC_STRIPE_WEBHOOK_SECRET,
            )),
        );
        self.sandbox.set_webhook_target(
            Dialect::Adyen,
            Some(WebhookTarget::new(
                &format!("{base}/webhooks/adyen_sandbox"),
                common::PROC_ADYEN_HMAC_KEY,
            )),
        );
        self.sandbox.set_webhook_target(
            Dialect::Checkout,
            Some(WebhookTarget::new(
                &format!("{base}/webhooks/checkout_sandbox"),
                common::PROC_CHECKOUT_WEBHOOK_SECRET,
            )),
        );
        *self.api.write().unwrap() = base;
        *self.proc.lock().unwrap() = Some(p);
    }

    fn kill(&self) {
        if let Some(mut p) = self.proc.lock().unwrap().take() {
            p.signal("KILL");
            p.wait_exit(Duration::from_secs(5));
        }
    }

    fn api(&self) -> String {
        self.api.read().unwrap().clone()
    }
}

/// A merchant: sends one payment and retries it with the same key until it
/// gets a final answer (or gives up after `deadline`).
async fn merchant(
    cluster: &Cluster,
    http: &Http,
    i: u64,
    seed: u64,
    rng: &mut rand::rngs::StdRng,
    answers: &Answers,
) {
    let currency = ["USD", "EUR", "SEK"][rng.random_range(0..3)];
    let card = if rng.random_bool(0.1) {
        "4000000000000002"
    } else {
        "4242424242424242"
    };
    let reference = format!("chaos-{seed}-{i}");
    let body = card_payment(rng.random_range(100..50_000), currency, card, &reference).to_string();
    let key = format!("key-{reference}");
    let auth = format!("Bearer {DEMO_KEY}");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let url = format!("{}/v1/payments", cluster.api());
        let sent = tokio::time::timeout(
            Duration::from_secs(10),
            http.try_send(
                Method::POST,
                &url,
                &[("authorization", &auth), ("idempotency-key", &key)],
                Some(body.clone().into_bytes()),
            ),
        )
        .await;
        // 202 (unknown yet), 409 (in flight), 503, a dead process: ask again later.
        if let Ok(Ok(r)) = sent
            && matches!(r.status.as_u16(), 201 | 402 | 502)
        {
            answers.lock().unwrap().insert(reference.clone(), r.json());
            return;
        }
        // A merchant's own back-off before it asks again, simulated: not a wait.
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..250))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_survive_kills_and_faults_with_one_true_outcome_each() {
    let seed = env_num("CHAOS_SEED", rand::rng().random());
    let total = env_num("CHAOS_PAYMENTS", 2000);
    let kills = env_num("CHAOS_KILLS", 5);
    eprintln!("chaos seed {seed} ({total} payments, {kills} kills); replay with CHAOS_SEED={seed}");
    let result = std::panic::AssertUnwindSafe(run(seed, total, kills));
    if let Err(e) = futures_catch(result).await {
        panic!("chaos failed with CHAOS_SEED={seed}: {e}");
    }
}

async fn futures_catch<F: std::future::Future<Output = ()> + Send + 'static>(
    f: std::panic::AssertUnwindSafe<F>,
) -> Result<(), String> {
    match tokio::spawn(f.0).await {
        Ok(()) => Ok(()),
        Err(e) => Err(match e.try_into_panic() {
            Ok(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
            Err(e) => e.to_string(),
        }),
    }
}

async fn run(seed: u64, total: u64, kills: u64) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sb = payroute_sandbox::start(
        listener,
        SandboxConfig {
            rng_seed: Some(seed),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let state = sb.state();
    for dialect in [FaultScope::Stripe, FaultScope::Adyen, FaultScope::Checkout] {
        for mode in [
            FaultMode::TimeoutAfterCharge,
            FaultMode::ResetAfterCharge,
            FaultMode::Error500AfterCharge,
            FaultMode::Error500BeforeCharge,
            FaultMode::RateLimited,
        ] {
            let mut rule = FaultRule::new(dialect, mode);
            rule.rate = 0.02;
            state.add_fault(rule).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_shipped_rules(&rules, sb.addr);
    let gateways = rules.join("gateways.yaml");
    let text = std::fs::read_to_string(&gateways).unwrap();
    std::fs::write(
        &gateways,
        text.replace("timeout_ms: 8000", "timeout_ms: 300"),
    )
    .unwrap();
    // SEK to the shipped Checkout.com gateway, Stripe as failover.
    let routes = rules.join("routes.yaml");
    let text = std::fs::read_to_string(&routes).unwrap();
    let sek = "\nroutes:\n  - name: sek-checkout\n    when: { currency: [SEK] }\n    gateways: [checkout_sandbox, stripe_sandbox]\n";
    std::fs::write(&routes, text.replacen("\nroutes:\n", sek, 1)).unwrap();
    // No velocity or large-amount blocks: every payment is a real attempt.
    std::fs::write(rules.join("risk.yaml"), "risk:\n  block_at: 100\n").unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let cluster = Arc::new(Cluster {
        listen,
        proc: Mutex::new(None),
        api: RwLock::new(String::new()),
        rules,
        db: dir.path().join("chaos.db"),
        sandbox: state.clone(),
    });
    cluster.start();

    let answers: Answers = Arc::default();
    let http = Http::default();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut clients = Vec::new();
    let n = env_num("CHAOS_CLIENTS", 16);
    for w in 0..n {
        let (cluster, http, answers, done) =
            (cluster.clone(), http.clone(), answers.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (w + 1));
            for i in (w..total).step_by(n as usize) {
                merchant(&cluster, &http, i, seed, &mut rng, &answers).await;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    // The killer: evenly through the run.
    let killer = {
        let (cluster, done) = (cluster.clone(), done.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xdead);
            for k in 1..=kills {
                let at = total * k / (kills + 1);
                // Polls for the progress the kill waits for.
                while done.load(std::sync::atomic::Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // A random moment inside the work, simulated: not a wait.
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
                cluster.kill();
                cluster.start();
            }
        })
    };
    for c in clients {
        c.await.unwrap();
    }
    killer.await.unwrap();
    state.clear_faults();
    settle(&cluster, &http, total, seed).await;
    check(&cluster, &http, total, seed, &answers).await;
    cluster.kill();
}

/// Payments of this run, by reference, as payroute has them now.
async fn payments(
    cluster: &Cluster,
    http: &Http,
    total: u64,
    seed: u64,
) -> HashMap<String, Vec<Value>> {
    let auth = format!("Bearer {DEMO_KEY}");
    let mut out = HashMap::new();
    for i in 0..total {
        let reference = format!("chaos-{seed}-{i}");
        let url = format!("{}/v1/payments?reference={reference}", cluster.api());
        let r = http
            .send(Method::GET, &url, &[("authorization", &auth)], None)
            .await;
        out.insert(
            reference,
            r.json()["data"].as_array().cloned().unwrap_or_default(),
        );
    }
    out
}

/// Waits until reconciliation has settled everything (or 120 s pass).
async fn settle(cluster: &Cluster, http: &Http, total: u64, seed: u64) {
    let started = Instant::now();
    loop {
        let open: usize = payments(cluster, http, total, seed)
            .await
            .values()
            .flatten()
            .filter(|p| {
                matches!(
                    p["status"].as_str(),
                    Some("processing" | "capture_pending" | "void_pending")
                )
            })
            .count();
        if open == 0 || started.elapsed() > Duration::from_secs(120) {
            return;
        }
        // Polls for the state; `check` then judges whatever is left open.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn check(cluster: &Cluster, http: &Http, total: u64, seed: u64, answers: &Answers) {
    let ledger = cluster.sandbox.ledger();
    let by_ref = payments(cluster, http, total, seed).await;
    let mut owner: HashMap<String, String> = HashMap::new();
    for (reference, list) in &by_ref {
        assert!(
            list.len() <= 1,
            "{reference}: {} payments for one idempotency key",
            list.len()
        );
        if let Some(p) = list.first() {
            owner.insert(p["id"].as_str().unwrap().to_string(), reference.clone());
        }
    }
    // Every charge belongs to exactly one payment.
    let mut live_by_payment: HashMap<String, Vec<&payroute_sandbox::LedgerEntry>> = HashMap::new();
    for c in &ledger {
        let pid = c
            .metadata
            .get("payroute_payment_id")
            .cloned()
            .or_else(|| c.reference.clone())
            .unwrap_or_default();
        assert!(
            owner.contains_key(&pid),
            "ledger charge {} names no payment ({pid})",
            c.id
        );
        if c.live {
            live_by_payment.entry(pid).or_default().push(c);
        }
    }
    let answers = answers.lock().unwrap();
    let mut problems = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (reference, list) in &by_ref {
        let Some(p) = list.first() else { continue };
        let id = p["id"].as_str().unwrap();
        let status = p["status"].as_str().unwrap();
        *counts.entry(status.to_string()).or_default() += 1;
        let live = live_by_payment.get(id).map(Vec::as_slice).unwrap_or(&[]);
        match live {
            [] if matches!(status, "failed" | "voided") => {}
            // A late authorization payroute reversed by refunding it in
            // full: no money stands for a payment the merchant saw fail.
            [c] if status == "failed"
                && c.amount_captured > 0
                && c.amount_refunded >= c.amount_captured => {}
            [c] if status == charge_status(c) && p["provider_reference"] == c.id.as_str() => {}
            [] => {
                let mine: Vec<_> = ledger
                    .iter()
                    .filter(|c| {
                        c.metadata.get("payroute_payment_id").map(String::as_str) == Some(id)
                            || c.reference.as_deref() == Some(id)
                    })
                    .collect();
                problems.push(format!(
                    "{reference} {id}: payroute {status} {} {}, no live charge; ledger: {mine:?}",
                    p["gateway"], p["provider_reference"]
                ))
            }
            [c] => problems.push(format!(
                "{reference} {id}: payroute {status} {}, ledger {} {}",
                p["provider_reference"],
                charge_status(c),
                c.id
            )),
            more => problems.push(format!(
                "{reference} {id}: {} live charges (double charge)",
                more.len()
            )),
        }
        if let Some(a) = answers.get(reference) {
            let told = a["status"].as_str().unwrap_or("");
            if a["id"] != p["id"] || told != status {
                problems.push(format!(
                    "{reference}: client was told {told} ({}), truth is {status} ({id})",
                    a["id"]
                ));
            }
        }
    }
    eprintln!(
        "chaos: {} payments, {} answered, states {counts:?}, {} ledger entries",
        by_ref.len(),
        answers.len(),
        ledger.len()
    );
    for dialect in [Dialect::Stripe, Dialect::Adyen, Dialect::Checkout] {
        assert!(
            ledger.iter().any(|c| c.dialect == dialect && c.live),
            "{dialect:?} took live charges: the run covered every gateway kind"
        );
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        answers.len() as u64 >= total * 9 / 10,
        "most clients got a final answer"
    );
}

fn charge_status(c: &payroute_sandbox::LedgerEntry) -> String {
    serde_json::to_value(c.status)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}
