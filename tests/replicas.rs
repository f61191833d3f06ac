//! Several payroute processes on one PostgreSQL database, as a deployment
//! behind a load balancer runs them: one idempotency key means one charge
//! whichever replicas the retries hit, a webhook delivered to two replicas
//! is applied once, the merchant delivery queue is shared and survives a
//! replica killed mid-send, and exactly one replica reconciles, another
//! taking over when it dies.
//!
//! Each test has its own schema on the test server (see
//! `common::postgres_schema`).

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use common::{
    DEMO_KEY, Http, Proc, Receiver, card_payment, eventually, metric, postgres_schema,
    set_merchant_webhook, stripe_signature, unix_now, write_shipped_rules,
};
use http::Method;
use payroute_sandbox::{Dialect, SandboxHandle, WebhookTarget};
use serde_json::{Value, json};

struct Replicas {
    sandbox: SandboxHandle,
    procs: Vec<Option<Proc>>,
    http: Http,
    store: String,
    _dir: tempfile::TempDir,
}

const STRIPE_SECRET: &str = common::PROC_STRIPE_WEBHOOK_SECRET;

impl Replicas {
    async fn start(n: usize, env: &[(&str, &str)], edit: impl FnOnce(&std::path::Path)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = payroute_sandbox::start(listener, Default::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rules: PathBuf = dir.path().join("rules");
        write_shipped_rules(&rules, sandbox.addr);
        edit(&rules);
        let store = postgres_schema().await;
        let procs = (0..n)
            .map(|_| Some(Proc::spawn_store(&rules, &store, env)))
            .collect();
        Replicas {
            sandbox,
            procs,
            http: Http::default(),
            store,
            _dir: dir,
        }
    }

    fn api(&self, i: usize) -> String {
        self.procs[i].as_ref().unwrap().api.clone()
    }

    fn ops(&self, i: usize) -> String {
        self.procs[i].as_ref().unwrap().ops.clone()
    }

    fn kill(&mut self, i: usize) {
        let mut p = self.procs[i].take().unwrap();
        p.signal("KILL");
        p.wait_exit(Duration::from_secs(5));
    }

    /// The sandbox's gateway webhooks go to replica `i` (or nowhere).
    fn webhooks_to(&self, i: Option<usize>) {
        let target = i.map(|i| {
            WebhookTarget::new(
                &format!("{}/webhooks/stripe_sandbox", self.api(i)),
                STRIPE_SECRET,
            )
        });
        self.sandbox
            .state()
            .set_webhook_target(Dialect::Stripe, target);
        let target = i.map(|i| {
            WebhookTarget::new(
                &format!("{}/webhooks/adyen_sandbox", self.api(i)),
                common::PROC_ADYEN_HMAC_KEY,
            )
        });
        self.sandbox
            .state()
            .set_webhook_target(Dialect::Adyen, target);
    }

    async fn post(&self, i: usize, path: &str, body: &Value, key: Option<&str>) -> common::Reply {
        let auth = format!("Bearer {DEMO_KEY}");
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(k) = key {
            headers.push(("idempotency-key", k));
        }
        let url = format!("{}{path}", self.api(i));
        self.http
            .send(
                Method::POST,
                &url,
                &headers,
                Some(body.to_string().into_bytes()),
            )
            .await
    }

    async fn get(&self, i: usize, path: &str) -> Value {
        let auth = format!("Bearer {DEMO_KEY}");
        let url = format!("{}{path}", self.api(i));
        self.http
            .send(Method::GET, &url, &[("authorization", &auth)], None)
            .await
            .json()
    }

    async fn fault(&self, fault: Value) {
        let url = format!("http://{}/__sandbox/faults", self.sandbox.addr);
        let r = self
            .http
            .send(
                Method::POST,
                &url,
                &[],
                Some(fault.to_string().into_bytes()),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text());
    }

    /// Reconciler rounds (leading or not) per replica.
    async fn reconciler_rounds(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for i in (0..self.procs.len()).filter(|i| self.procs[*i].is_some()) {
            let url = format!("{}/metrics", self.ops(i));
            let text = self.http.send(Method::GET, &url, &[], None).await.text();
            out.push(metric(&text, "payroute_reconciler_rounds_total", &[]));
        }
        out
    }

    /// Stripe webhooks (accepted, duplicate) summed over the live replicas.
    async fn webhook_results(&self) -> (f64, f64) {
        let mut sum = (0.0, 0.0);
        for i in (0..self.procs.len()).filter(|i| self.procs[*i].is_some()) {
            let url = format!("{}/metrics", self.ops(i));
            let text = self.http.send(Method::GET, &url, &[], None).await.text();
            let count = |result| {
                let labels = [("gateway", "stripe_sandbox"), ("result", result)];
                metric(&text, "payroute_webhooks_received_total", &labels)
            };
            sum.0 += count("accepted");
            sum.1 += count("duplicate");
        }
        sum
    }

    async fn leader_flags(&self) -> Vec<Option<f64>> {
        let mut out = Vec::new();
        for (i, p) in self.procs.iter().enumerate() {
            if p.is_none() {
                out.push(None);
                continue;
            }
            let url = format!("{}/metrics", self.ops(i));
            let text = self.http.send(Method::GET, &url, &[], None).await.text();
            out.push(Some(metric(&text, "payroute_reconciler_leader", &[])));
        }
        out
    }

    async fn finish(mut self) {
        for p in self.procs.iter_mut().filter_map(Option::take) {
            p.signal("TERM");
        }
        let _ = payroute::store::postgres::drop_test_schema(&self.store).await;
    }
}

#[tokio::test]
async fn one_key_sent_to_two_replicas_at_once_charges_once() {
    let r = Replicas::start(2, &[], |_| {}).await;
    r.webhooks_to(Some(0));
    // Slow gateway answers keep every first request in flight while its
    // duplicates arrive at the other replica.
    r.fault(json!({"dialect": "any", "mode": "latency", "latency_ms": 300}))
        .await;
    let mut tasks = tokio::task::JoinSet::new();
    let auth = format!("Bearer {DEMO_KEY}");
    for k in 0..8i64 {
        for attempt in 0..6 {
            let body = card_payment(1000 + k, "USD", "4242424242424242", &format!("o-rep-{k}"));
            let key = format!("key-rep-{k}");
            let url = format!("{}/v1/payments", r.api(attempt % 2));
            let (http, auth) = (r.http.clone(), auth.clone());
            tasks.spawn(async move {
                let headers = [("authorization", auth.as_str()), ("idempotency-key", &key)];
                let body = Some(body.to_string().into_bytes());
                let reply = http.send(Method::POST, &url, &headers, body).await;
                (k, reply.status.as_u16(), reply.json())
            });
        }
    }
    let replies = tasks.join_all().await;
    let mut ids: HashMap<i64, Vec<String>> = HashMap::new();
    for (k, status, body) in &replies {
        assert!(
            matches!(status, 201 | 409),
            "key {k}: unexpected {status} {body}"
        );
        if *status == 201 {
            ids.entry(*k)
                .or_default()
                .push(body["id"].as_str().unwrap().to_string());
        }
    }
    for k in 0..8 {
        let list = r.get(1, &format!("/v1/payments?reference=o-rep-{k}")).await;
        let payments = list["data"].as_array().unwrap();
        assert_eq!(payments.len(), 1, "key {k}: one payment: {list}");
        let id = payments[0]["id"].as_str().unwrap();
        assert!(
            ids.get(&k).into_iter().flatten().all(|i| i == id),
            "every answer for key {k} names the one payment"
        );
    }
    let ledger = r.sandbox.state().ledger();
    assert_eq!(ledger.len(), 8, "one charge per key: {ledger:?}");
    r.finish().await;
}

#[tokio::test]
async fn a_webhook_delivered_to_both_replicas_is_applied_and_forwarded_once() {
    let receiver = Receiver::start().await;
    let url = receiver.url.clone();
    let r = Replicas::start(2, &[], move |dir| set_merchant_webhook(dir, &url)).await;
    r.webhooks_to(None);
    let mut body = card_payment(2500, "USD", "4242424242424242", "o-rep-wh");
    body["capture"] = json!("manual");
    let p = r.post(0, "/v1/payments", &body, None).await.json();
    assert_eq!(p["status"], "authorized", "{p}");
    let (id, pi) = (
        p["id"].as_str().unwrap().to_string(),
        p["provider_reference"].as_str().unwrap().to_string(),
    );
    // Captured in the gateway's dashboard; Stripe sends the event to both
    // replicas (its retry reached the other one).
    let event = json!({
        "id": "evt_rep_capture", "object": "event", "created": unix_now(), "type": "payment_intent.succeeded",
        "data": {"object": {"id": pi, "object": "payment_intent", "amount": 2500, "amount_received": 2500,
                 "currency": "usd", "status": "succeeded", "metadata": {"payroute_payment_id": id}}}
    })
    .to_string();
    let sig = stripe_signature(STRIPE_SECRET, unix_now(), &event);
    let send = |i: usize| {
        let url = format!("{}/webhooks/stripe_sandbox", r.api(i));
        let (event, sig, http) = (event.clone(), sig.clone(), r.http.clone());
        async move {
            http.send(
                Method::POST,
                &url,
                &[
                    ("stripe-signature", &sig),
                    ("content-type", "application/json"),
                ],
                Some(event.into_bytes()),
            )
            .await
            .status
            .as_u16()
        }
    };
    let (a, b) = tokio::join!(send(0), send(1));
    assert_eq!((a, b), (200, 200), "both acknowledged");
    eventually(15, "captured and forwarded", || async {
        receiver
            .bodies()
            .iter()
            .any(|e| e["type"] == "payment.captured" && e["data"]["id"] == id.as_str())
    })
    .await;
    // The two copies were judged at ingest: one stored, one a duplicate
    // never stored, so there is no second application to wait for.
    eventually(10, "one copy accepted, one a duplicate", || async {
        let counts = r.webhook_results().await;
        counts == (1.0, 1.0)
    })
    .await;
    // A merchant event is queued in the commit that applies the gateway's;
    // with the queue drained, the receiver has had all there will be.
    let url = format!("{}/admin/deliveries", r.ops(1));
    eventually(15, "the delivery queue drained", || async {
        let all = r.http.send(Method::GET, &url, &[], None).await.json();
        let all = all["data"].as_array().cloned().unwrap_or_default();
        all.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let captured: Vec<_> = receiver
        .bodies()
        .into_iter()
        .filter(|e| e["type"] == "payment.captured" && e["data"]["id"] == id.as_str())
        .collect();
    assert_eq!(captured.len(), 1, "forwarded once: {captured:?}");
    let url = format!("{}/admin/events?status=applied", r.ops(1));
    let events = r.http.send(Method::GET, &url, &[], None).await.json();
    let stored = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["provider_event_id"] == "evt_rep_capture")
        .count();
    assert_eq!(stored, 1, "stored once: {events}");
    assert_eq!(
        r.get(1, &format!("/v1/payments/{id}")).await["status"],
        "captured"
    );
    r.finish().await;
}

#[tokio::test]
async fn merchant_deliveries_survive_a_replica_killed_mid_send() {
    let receiver = Receiver::start().await;
    // Each answer takes 1.5 s: the kill below lands mid-send.
    receiver
        .delay_ms
        .store(1500, std::sync::atomic::Ordering::SeqCst);
    let url = receiver.url.clone();
    let env = [
        ("PAYROUTE_DELIVERY_TIMEOUT_S", "3"),
        ("PAYROUTE_DELIVERY_BASE_MS", "200"),
        ("PAYROUTE_DELIVERY_MAX_DELAY_S", "1"),
    ];
    let mut r = Replicas::start(2, &env, move |dir| set_merchant_webhook(dir, &url)).await;
    // Gateway events reach the replica that survives; the merchant events
    // they become are queued in the shared store for either to send.
    r.webhooks_to(Some(1));
    let mut ids = Vec::new();
    for i in 0..16 {
        let body = card_payment(3000 + i, "USD", "4242424242424242", &format!("o-rep-d{i}"));
        let p = r
            .post(i as usize % 2, "/v1/payments", &body, None)
            .await
            .json();
        assert_eq!(p["status"], "captured", "{p}");
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    eventually(10, "sends under way", || async {
        receiver.arrived.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await;
    r.kill(0);
    // A send cut by the kill is not recorded as done: its lease expires and
    // the survivor sends it (again, if the endpoint had already taken it:
    // at least once, with the same event id for the merchant to dedupe).
    let url = format!("{}/admin/deliveries?status=delivered", r.ops(1));
    eventually(40, "every delivery recorded delivered", || async {
        let delivered = r.http.send(Method::GET, &url, &[], None).await.json();
        delivered["data"].as_array().unwrap().len() == ids.len()
    })
    .await;
    let bodies = receiver.bodies();
    for id in &ids {
        let got = bodies
            .iter()
            .filter(|e| e["type"] == "payment.captured" && e["data"]["id"] == id.as_str())
            .count();
        assert!(
            (1..=2).contains(&got),
            "{id}: received {got} times (once, or twice if cut mid-send)"
        );
    }
    r.finish().await;
}

#[tokio::test]
async fn one_replica_reconciles_and_another_takes_over_when_it_dies() {
    let env = [
        ("PAYROUTE_RECONCILE_INTERVAL_S", "1"),
        ("PAYROUTE_RECONCILE_MIN_AGE_S", "0"),
        ("PAYROUTE_RECONCILE_NOT_FOUND_GRACE_S", "0"),
    ];
    let mut r = Replicas::start(2, &env, |_| {}).await;
    r.webhooks_to(None);
    eventually(10, "one leader", || async {
        r.leader_flags().await.iter().flatten().sum::<f64>() == 1.0
    })
    .await;
    // Two more rounds on each replica, each asking for the role again.
    let rounds = r.reconciler_rounds().await;
    eventually(15, "two more rounds on each replica", || async {
        let now = r.reconciler_rounds().await;
        now.iter().zip(&rounds).all(|(n, r)| *n >= r + 2.0)
    })
    .await;
    let flags = r.leader_flags().await;
    assert_eq!(
        flags.iter().flatten().sum::<f64>(),
        1.0,
        "still exactly one: {flags:?}"
    );
    let leader = flags.iter().position(|f| *f == Some(1.0)).unwrap();
    let survivor = 1 - leader;
    r.kill(leader);
    eventually(15, "the survivor leads", || async {
        r.leader_flags().await[survivor] == Some(1.0)
    })
    .await;
    // And it does the leader's work: a payment whose answer was lost is
    // settled from the gateway's records.
    r.fault(json!({"dialect": "stripe", "mode": "500_after_charge", "path_contains": "payment_intents", "count": 3}))
        .await;
    let body = card_payment(4400, "USD", "4242424242424242", "o-rep-rec");
    let p = r.post(survivor, "/v1/payments", &body, None).await;
    assert_eq!(p.status, 202, "{}", p.text());
    let id = p.json()["id"].as_str().unwrap().to_string();
    eventually(20, "settled by the new leader", || async {
        r.get(survivor, &format!("/v1/payments/{id}")).await["status"] == "captured"
    })
    .await;
    r.finish().await;
}
