//! The `payroute` binary as users run it: CLI exit codes, logs, SIGHUP and
//! SIGTERM, and no card number in logs or in the SQLite files.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    BIN, DEMO_KEY, Http, Proc, Receiver, card_payment, eventually, set_merchant_webhook,
    stripe_signature, unix_now, write_shipped_rules,
};
use http::Method;
use serde_json::json;

async fn sandbox() -> payroute_sandbox::SandboxHandle {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    payroute_sandbox::start(l, Default::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn card_numbers_never_reach_the_logs_or_the_database_and_sigterm_exits_cleanly() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    write_shipped_rules(&dir.path().join("rules"), sb.addr);
    let db = dir.path().join("p.db");
    let mut p = Proc::spawn(&dir.path().join("rules"), &db);
    let http = Http::default();
    let auth = format!("Bearer {DEMO_KEY}");
    let cards = ["4242424242424242", "4000000000000002", "4000000000009995"];
    for (i, card) in cards.iter().enumerate() {
        for currency in ["USD", "EUR"] {
            let mut body = card_payment(1000, currency, card, &format!("o-{i}"));
            body["capture"] = json!("manual");
            body["payment_method"]["card"]["cvc"] = json!("9731");
            let r = http
                .send(
                    Method::POST,
                    &format!("{}/v1/payments", p.api),
                    &[("authorization", &auth)],
                    Some(body.to_string().into_bytes()),
                )
                .await;
            assert!(r.status == 201 || r.status == 402, "{}", r.text());
            if r.status == 201 {
                let id = r.json()["id"].as_str().unwrap().to_string();
                let c = http
                    .send(
                        Method::POST,
                        &format!("{}/v1/payments/{id}/capture", p.api),
                        &[("authorization", &auth)],
                        Some(b"{}".to_vec()),
                    )
                    .await;
                assert_eq!(c.status, 200);
                let stored = http
                    .send(
                        Method::GET,
                        &format!("{}/v1/payments/{id}", p.api),
                        &[("authorization", &auth)],
                        None,
                    )
                    .await
                    .json();
                assert_eq!(stored["method"]["card"]["last4"], &card[12..]);
                assert_eq!(stored["method"]["card"]["bin"], &card[..6]);
            }
        }
    }
    p.signal("TERM");
    let status = p.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    let logs = p.logs.lock().unwrap().clone();
    assert!(
        logs.contains("gateway call"),
        "logs were captured at debug level"
    );
    let mut files = vec![std::fs::read(&db).unwrap()];
    for ext in ["p.db-wal", "p.db-shm"] {
        if let Ok(b) = std::fs::read(dir.path().join(ext)) {
            files.push(b);
        }
    }
    for card in cards {
        assert!(!logs.contains(card), "card number {card} in the logs");
        for f in &files {
            assert!(
                !f.windows(card.len()).any(|w| w == card.as_bytes()),
                "card number {card} in the database"
            );
        }
    }
    // Gateway references are digit strings, so look for the CVC as a value.
    let lower = logs.to_lowercase();
    for needle in ["\"9731\"", "=9731", ": 9731"] {
        assert!(!lower.contains(needle), "CVC in the logs ({needle})");
    }
    // And for the field's name as a word: inside a random base-62 id
    // ("…aCvC…") it is chance, not a logged CVC.
    let word = |at: usize| {
        let bytes = lower.as_bytes();
        let apart = |i: Option<&u8>| i.is_none_or(|b| !b.is_ascii_alphanumeric());
        apart(at.checked_sub(1).and_then(|i| bytes.get(i))) && apart(bytes.get(at + 3))
    };
    let named: Vec<usize> = lower
        .match_indices("cvc")
        .map(|(i, _)| i)
        .filter(|&i| word(i))
        .collect();
    assert!(named.is_empty(), "CVC named in the logs at {named:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_rules_and_readyz_reports_ready() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_shipped_rules(&rules, sb.addr);
    let p = Proc::spawn(&rules, &dir.path().join("p.db"));
    let http = Http::default();
    let ready = http
        .send(Method::GET, &format!("{}/readyz", p.ops), &[], None)
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    let live = http
        .send(Method::GET, &format!("{}/livez", p.ops), &[], None)
        .await;
    assert_eq!(live.status, 200);
    let before = http
        .send(Method::GET, &format!("{}/admin/rules", p.ops), &[], None)
        .await
        .json()["version"]
        .clone();
    // Append a comment: a content change, a new version.
    let f = rules.join("routes.yaml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, format!("{text}\n# touched\n")).unwrap();
    p.signal("HUP");
    let start = Instant::now();
    loop {
        let now = http
            .send(Method::GET, &format!("{}/admin/rules", p.ops), &[], None)
            .await
            .json()["version"]
            .clone();
        if now != before {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no reload after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn rules_check_passes_the_shipped_rules_and_points_at_the_first_error() {
    let root = env!("CARGO_MANIFEST_DIR");
    let ok = Command::new(BIN)
        .args(["rules", "check", "--rules"])
        .arg(format!("{root}/routing-rules"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("stripe_sandbox") && out.contains("adyen_sandbox"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    write_shipped_rules(dir.path(), "127.0.0.1:4010".parse().unwrap());
    let f = dir.path().join("routes.yaml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, format!("{text}\nbogus_key: 1\n")).unwrap();
    let bad = Command::new(BIN)
        .args(["rules", "check", "--rules"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("routes.yaml"))
        .unwrap_or_else(|| panic!("{err}"));
    let after = &line[line.find("routes.yaml:").unwrap() + "routes.yaml:".len()..];
    let mut parts = after.splitn(3, ':');
    assert!(
        parts.next().unwrap().parse::<u32>().is_ok(),
        "line number in {line}"
    );
    assert!(
        parts.next().unwrap().parse::<u32>().is_ok(),
        "column in {line}"
    );
    assert!(line.contains("bogus_key"), "{line}");
}

#[test]
fn rules_explain_names_the_rule_the_candidates_and_the_risk() {
    let root = env!("CARGO_MANIFEST_DIR");
    let payment = json!({"amount": 1999, "currency": "EUR", "reference": "x", "risk_score": 12,
        "payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2030}}});
    let out = Command::new(BIN)
        .args(["rules", "explain", "--rules"])
        .arg(format!("{root}/routing-rules"))
        .arg("--payment")
        .arg(payment.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("eu-cards"), "{text}");
    let a = text.find("adyen_sandbox").unwrap();
    let s = text.find("stripe_sandbox").unwrap();
    assert!(a < s, "adyen first: {text}");
    assert!(text.contains("12"), "risk score shown: {text}");
    assert!(!text.contains("4242424242424242"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_acknowledged_before_a_sigkill_is_applied_and_delivered_after_restart() {
    let sb = sandbox().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_shipped_rules(&rules, sb.addr);
    set_merchant_webhook(&rules, &receiver.url);
    let db = dir.path().join("p.db");
    // The applier holds events back for a minute: the kill lands after the
    // ack and before processing.
    let mut p = Proc::spawn_env(&rules, &db, &[("PAYROUTE_WEBHOOK_APPLY_DELAY_MS", "60000")]);
    let http = Http::default();
    let auth = format!("Bearer {DEMO_KEY}");
    let mut body = card_payment(4321, "USD", "4242424242424242", "o-crash");
    body["capture"] = json!("manual");
    let pay = http
        .send(
            Method::POST,
            &format!("{}/v1/payments", p.api),
            &[("authorization", &auth)],
            Some(body.to_string().into_bytes()),
        )
        .await
        .json();
    assert_eq!(pay["status"], "authorized");
    let event = serde_json::to_string_pretty(&json!({
        "id": "evt_crash_1", "object": "event", "created": unix_now(), "type": "payment_intent.succeeded",
        "data": {"object": {"id": pay["provider_reference"], "object": "payment_intent", "amount": 4321,
                 "amount_received": 4321, "currency": "usd", "status": "succeeded", "metadata": {}}}
    })).unwrap();
    let sig = stripe_signature(common::PROC_STRIPE_WEBHOOK_SECRET, unix_now(), &event);
    let ack = http
        .send(
            Method::POST,
            &format!("{}/webhooks/stripe_sandbox", p.api),
            &[("stripe-signature", &sig)],
            Some(event.into_bytes()),
        )
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text());
    p.signal("KILL");
    p.wait_exit(Duration::from_secs(5));
    let id = pay["id"].as_str().unwrap().to_string();

    let p2 = Proc::spawn(&rules, &db);
    let url = format!("{}/v1/payments/{id}", p2.api);
    eventually(10, "the event applied after restart", || {
        let (http, url, auth) = (http.clone(), url.clone(), auth.clone());
        async move {
            http.send(Method::GET, &url, &[("authorization", &auth)], None)
                .await
                .json()["status"]
                == "captured"
        }
    })
    .await;
    eventually(10, "the merchant event delivered", || async {
        receiver
            .bodies()
            .iter()
            .any(|b| b["type"] == "payment.captured" && b["data"]["id"] == id.as_str())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_charge_interrupted_by_sigkill_mid_call_is_settled_by_the_reconciler_after_restart() {
    use payroute_sandbox::{FaultMode, FaultRule, FaultScope};
    // Before the charge (slow gateway) and after it (charged, then silent):
    // the kill lands while the call is in flight either way.
    let slow = FaultRule::new(FaultScope::Stripe, FaultMode::Latency)
        .latency_ms(1500)
        .path_contains("payment_intents");
    let charged = FaultRule::new(FaultScope::Stripe, FaultMode::TimeoutAfterCharge);
    let first = interrupted_payment(slow).await;
    assert_eq!(
        first, "failed",
        "the gateway never charged: nothing to keep"
    );
    let second = interrupted_payment(charged).await;
    assert_eq!(
        second, "captured",
        "the gateway charged: payroute finds and keeps it"
    );
}

/// Kills payroute mid-call under `fault`, restarts it, and returns the
/// status the reconciler settled the payment at (checked against the ledger).
async fn interrupted_payment(fault: payroute_sandbox::FaultRule) -> String {
    let sb = sandbox().await;
    // Once: the fault's rule is gone when it fired, which is how the test
    // knows the call is in flight.
    sb.state().add_fault(fault.count(1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_shipped_rules(&rules, sb.addr);
    let db = dir.path().join("p.db");
    let env = [
        ("PAYROUTE_RECONCILE_MIN_AGE_S", "0"),
        ("PAYROUTE_RECONCILE_NOT_FOUND_GRACE_S", "0"),
        ("PAYROUTE_RECONCILE_INTERVAL_S", "1"),
        ("PAYROUTE_IDEMPOTENCY_STALE_S", "0"),
    ];
    let mut p = Proc::spawn_env(&rules, &db, &env);
    let http = Http::default();
    let auth = format!("Bearer {DEMO_KEY}");
    let body = card_payment(7700, "USD", "4242424242424242", "o-midcall");
    let url = format!("{}/v1/payments", p.api);
    let (h2, a2) = (http.clone(), auth.clone());
    let inflight = tokio::spawn(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let req = http::Request::post(url)
            .header("authorization", a2)
            .header("idempotency-key", "k-midcall")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .unwrap();
        let _ = h2;
        client.request(req).await.is_ok()
    });
    eventually(10, "the gateway call in flight", || async {
        sb.state().faults().is_empty()
    })
    .await;
    p.signal("KILL");
    p.wait_exit(Duration::from_secs(5));
    assert!(
        !inflight.await.unwrap(),
        "the merchant's request died with the process"
    );
    sb.state().clear_faults();

    let p2 = Proc::spawn_env(&rules, &db, &env);
    let lookup = format!("{}/v1/payments?reference=o-midcall", p2.api);
    eventually(15, "the interrupted payment reconciled", || {
        let (http, lookup, auth) = (http.clone(), lookup.clone(), auth.clone());
        async move {
            let found = http
                .send(Method::GET, &lookup, &[("authorization", &auth)], None)
                .await
                .json();
            found["data"][0]["status"] != "processing"
        }
    })
    .await;
    let found = http
        .send(Method::GET, &lookup, &[("authorization", &auth)], None)
        .await
        .json();
    let payment = &found["data"][0];
    // Whether the gateway finished the charge after the client vanished is
    // the gateway's business; payroute must end up agreeing with it.
    let charges: Vec<_> = sb.state().ledger().into_iter().filter(|c| c.live).collect();
    match charges.as_slice() {
        [] => assert_eq!(payment["status"], "failed", "{payment}"),
        [charge] => {
            assert_eq!(payment["status"], "captured", "{payment}");
            assert_eq!(payment["provider_reference"], charge.id.as_str());
        }
        more => panic!("more than one charge: {more:?}"),
    }
    // The merchant retries the dead request with its key: it gets the
    // settled payment, never a second one.
    let retry = http
        .send(
            Method::POST,
            &format!("{}/v1/payments", p2.api),
            &[("authorization", &auth), ("idempotency-key", "k-midcall")],
            Some(
                card_payment(7700, "USD", "4242424242424242", "o-midcall")
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert!(
        retry.status == 201 || retry.status == 402,
        "{}",
        retry.text()
    );
    assert_eq!(retry.json()["id"], payment["id"], "the same payment");
    let again: Vec<_> = sb.state().ledger().into_iter().filter(|c| c.live).collect();
    assert_eq!(again.len(), charges.len(), "no second charge");
    payment["status"].as_str().unwrap().to_string()
}

/// `payroute rules check | head` and the like: a reader that goes away
/// before the output is written ends the command quietly, not in a panic.
#[test]
fn rules_commands_end_quietly_when_the_reader_closes_the_pipe() {
    use std::process::{Command, Stdio};
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/routing-rules");
    let mut child = Command::new(env!("CARGO_BIN_EXE_payroute"))
        .args(["rules", "check", "--rules", rules])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the rules are even read, so the write meets no reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
