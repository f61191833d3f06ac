//! Hot reload: an edit changes the next payment's route within 2 s while
//! traffic keeps flowing; an invalid edit is refused, counted, and the
//! running rules stay.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Harness, card_payment, eventually, metric};
use http::Method;

fn swap_eu_route(dir: &std::path::Path) {
    let p = dir.join("routes.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let edited = text.replace(
        "[adyen_sandbox, stripe_sandbox]",
        "[stripe_sandbox, adyen_sandbox]",
    );
    assert_ne!(text, edited, "the shipped eu-cards route lists adyen first");
    std::fs::write(p, edited).unwrap();
}

#[tokio::test]
async fn a_rule_edit_changes_the_next_route_within_two_seconds_while_requests_keep_succeeding() {
    let h = Arc::new(Harness::start().await);
    let before = h
        .post(
            "/v1/payments",
            &card_payment(100, "EUR", "4242424242424242", "o-r0"),
            None,
        )
        .await
        .json();
    assert_eq!(before["gateway"], "adyen_sandbox");
    let version_before = before["route"]["ruleset_version"].clone();

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let load = {
        let (h, stop, failures, sent) = (h.clone(), stop.clone(), failures.clone(), sent.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let r = h
                    .post(
                        "/v1/payments",
                        &card_payment(100, "USD", "4242424242424242", "o-load"),
                        None,
                    )
                    .await;
                sent.fetch_add(1, Ordering::SeqCst);
                if r.status != 201 {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    eventually(10, "the load running", || async {
        sent.load(Ordering::SeqCst) > 0
    })
    .await;
    swap_eu_route(&h.rules_dir);
    let edited_at = Instant::now();
    let mut routed = None;
    while edited_at.elapsed() < Duration::from_secs(2) {
        let p = h
            .post(
                "/v1/payments",
                &card_payment(100, "EUR", "4242424242424242", "o-r1"),
                None,
            )
            .await
            .json();
        if p["gateway"] == "stripe_sandbox" {
            routed = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    let p = routed.expect("the edit did not take effect within 2 s");
    assert_ne!(
        p["route"]["ruleset_version"], version_before,
        "the new version is recorded on the payment"
    );
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no request failed during the reload"
    );
    assert!(sent.load(Ordering::SeqCst) > 0);
    let m = h.metrics().await;
    assert!(metric(&m, "payroute_rules_reloads_total", &[("result", "success")]) >= 1.0);
    let version = p["route"]["ruleset_version"].as_str().unwrap();
    assert_eq!(
        metric(&m, "payroute_rules_info", &[("version", version)]),
        1.0
    );
}

#[tokio::test]
async fn an_invalid_edit_is_refused_counted_and_the_running_rules_stay() {
    let h = Harness::start().await;
    let status = h
        .http
        .send(Method::GET, &format!("{}/admin/rules", h.ops), &[], None)
        .await
        .json();
    let version = status["version"].as_str().unwrap().to_string();
    let p = h.rules_dir.join("routes.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace(
            "[adyen_sandbox, stripe_sandbox]",
            "[adyen_sandbox, no_such_gateway]",
        ),
    )
    .unwrap();

    let r = h
        .http
        .send(
            Method::POST,
            &format!("{}/admin/rules/reload", h.ops),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let err = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        err.contains("routes.yaml") && err.contains("no_such_gateway"),
        "{err}"
    );

    let status = h
        .http
        .send(Method::GET, &format!("{}/admin/rules", h.ops), &[], None)
        .await
        .json();
    assert_eq!(
        status["version"],
        version.as_str(),
        "the running ruleset stays"
    );
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("no_such_gateway")
    );
    let pay = h
        .post(
            "/v1/payments",
            &card_payment(100, "EUR", "4242424242424242", "o-still"),
            None,
        )
        .await;
    assert_eq!(pay.status, 201);
    assert_eq!(pay.json()["gateway"], "adyen_sandbox");
    assert_eq!(pay.json()["route"]["ruleset_version"], version.as_str());
    let m = h.metrics().await;
    assert!(metric(&m, "payroute_rules_reloads_total", &[("result", "failure")]) >= 1.0);
    h.shutdown().await;
}

#[tokio::test]
async fn a_kubernetes_style_symlink_swap_is_picked_up() {
    // ConfigMap layout: rules/x.yaml -> ..data/x.yaml, ..data -> ..v1
    let h = Harness::start_with(|dir, _| {
        let v1 = dir.join("..v1");
        std::fs::create_dir(&v1).unwrap();
        for f in std::fs::read_dir(dir).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                let name = f.file_name().unwrap().to_owned();
                std::fs::rename(&f, v1.join(&name)).unwrap();
                std::os::unix::fs::symlink(
                    std::path::Path::new("..data").join(&name),
                    dir.join(&name),
                )
                .unwrap();
            }
        }
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    })
    .await;
    let p = h
        .post(
            "/v1/payments",
            &card_payment(100, "EUR", "4242424242424242", "o-k0"),
            None,
        )
        .await
        .json();
    assert_eq!(p["gateway"], "adyen_sandbox");
    let dir = &h.rules_dir;
    let v2 = dir.join("..v2");
    std::fs::create_dir(&v2).unwrap();
    for f in std::fs::read_dir(dir.join("..v1")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, v2.join(f.file_name().unwrap())).unwrap();
    }
    swap_eu_route(&v2);
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let start = Instant::now();
    loop {
        let p = h
            .post(
                "/v1/payments",
                &card_payment(100, "EUR", "4242424242424242", "o-k1"),
                None,
            )
            .await
            .json();
        if p["gateway"] == "stripe_sandbox" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "symlink swap not seen within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.shutdown().await;
}

async fn rules_status(h: &Harness) -> serde_json::Value {
    let url = format!("{}/admin/rules", h.ops);
    h.http.send(Method::GET, &url, &[], None).await.json()
}

async fn force_reload(h: &Harness) -> common::Reply {
    let url = format!("{}/admin/rules/reload", h.ops);
    h.http.send(Method::POST, &url, &[], None).await
}

/// The `rules.*` entries of the audit log, newest first.
async fn rule_audits(h: &Harness) -> Vec<payroute::domain::store::AuditEntry> {
    let running = h.payroute.as_ref().unwrap();
    let all = running.state.engine.store.list_audit(100).await.unwrap();
    all.into_iter()
        .filter(|e| e.kind.starts_with("rules."))
        .collect()
}

#[tokio::test]
async fn reverting_a_refused_edit_clears_last_error_and_audits_the_recovery() {
    let h = Harness::start().await;
    let version = rules_status(&h).await["version"].clone();
    let p = h.rules_dir.join("routes.yaml");
    let good = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        good.replace(
            "[adyen_sandbox, stripe_sandbox]",
            "[adyen_sandbox, no_such_gateway]",
        ),
    )
    .unwrap();
    assert_eq!(force_reload(&h).await.status, 422);
    assert!(
        rules_status(&h).await["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no_such_gateway"))
    );

    // Back to exactly the running files: the version (a content hash) is
    // the running one, so the reload is "unchanged", and the error is gone.
    std::fs::write(&p, &good).unwrap();
    let r = force_reload(&h).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"], "unchanged");
    let status = rules_status(&h).await;
    assert_eq!(status["version"], version);
    assert_eq!(status["last_error"], serde_json::Value::Null, "{status}");
    assert_eq!(status["last_reload"]["result"], "unchanged", "{status}");
    assert_eq!(status["last_reload"]["version"], version);

    let audits = rule_audits(&h).await;
    assert_eq!(audits[0].kind, "rules.reload_recovered", "{:?}", audits);
    assert!(
        audits[0].detail["cleared_error"]
            .as_str()
            .is_some_and(|e| e.contains("no_such_gateway")),
        "{:?}",
        audits[0]
    );
    assert!(audits.iter().any(|a| a.kind == "rules.reload_failed"));
    h.shutdown().await;
}

#[tokio::test]
async fn an_unchanged_reload_after_no_failure_records_and_audits_nothing() {
    let h = Harness::start().await;
    for _ in 0..2 {
        let r = force_reload(&h).await;
        assert_eq!(r.json()["result"], "unchanged", "{}", r.text());
    }
    let status = rules_status(&h).await;
    assert_eq!(status["last_reload"], serde_json::Value::Null, "{status}");
    assert_eq!(status["last_error"], serde_json::Value::Null, "{status}");
    assert!(rule_audits(&h).await.is_empty());
    let m = h.metrics().await;
    assert!(
        metric(
            &m,
            "payroute_rules_reloads_total",
            &[("result", "unchanged")]
        ) >= 2.0
    );
    h.shutdown().await;
}

/// The shipped rules with every public default secret replaced by another.
fn own_secrets(dir: &std::path::Path) {
    for (file, public, own) in [
        (
            "gateways.yaml",
            "whsec_sandbox_secret",
            "whsec_operator_own",
        ),
        ("gateways.yaml", "sk_test_sandbox", "sk_test_operator_own"),
        ("gateways.yaml", "adyen_sandbox_key", "adyen_operator_own"),
        (
            "gateways.yaml",
            "sk_sbox_payroute_sandbox",
            "sk_sbox_operator_own",
        ),
        (
            "gateways.yaml",
            "cko_sandbox_signature_key",
            "cko_operator_own_signature_key",
        ),
        (
            "gateways.yaml",
            "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
            "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90",
        ),
        ("merchants.yaml", "whsec_demo}", "whsec_demo_operator_own}"),
    ] {
        let p = dir.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(public), "{public} not in {file}");
        std::fs::write(p, text.replace(public, own)).unwrap();
    }
}

#[tokio::test]
async fn a_reload_that_brings_back_a_public_default_secret_is_refused_outside_the_sandbox() {
    let h = Harness::start_opts(
        |dir, _| own_secrets(dir),
        |s| s.allow_shipped_secrets = false,
    )
    .await;
    let before = rules_status(&h).await["version"].clone();
    let p = h.rules_dir.join("gateways.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace("whsec_operator_own", "whsec_sandbox_secret"),
    )
    .unwrap();
    let r = force_reload(&h).await;
    assert_eq!(r.status, 422, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("gateway stripe_sandbox") && error.contains("STRIPE_WEBHOOK_SECRET"),
        "{error}"
    );
    let status = rules_status(&h).await;
    assert_eq!(status["version"], before, "the running rules stay");
    assert_eq!(status["last_error"], error);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_edit_made_while_the_server_starts_is_loaded_without_another_change() {
    // PostgreSQL's migration waits for a lock the test holds: payroute has
    // read its rules and has not yet started watching them.
    let url = common::postgres_schema().await;
    let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.batch_execute(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .await
    .unwrap();
    db.batch_execute("BEGIN; LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = payroute_sandbox::start(listener, Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    common::write_shipped_rules(&rules, sandbox.addr);
    let settings = payroute::server::Settings {
        listen: "127.0.0.1:0".into(),
        ops_listen: "127.0.0.1:0".into(),
        rules: rules.clone(),
        store: url.clone(),
        allow_shipped_secrets: true,
        ..Default::default()
    };
    let starting = tokio::spawn(payroute::server::start(settings));
    // Statistics views are a snapshot per transaction: watch from another
    // connection than the one holding the lock.
    let (watch, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    common::eventually(20, "payroute waiting on the migration lock", || {
        let db = &watch;
        async move {
            let row = db
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock'
                       AND query LIKE '%schema_migrations%'",
                    &[],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0) > 0
        }
    })
    .await;
    swap_eu_route(&rules);
    let edited = payroute::config::load(&rules).unwrap().version;
    db.batch_execute("COMMIT").await.unwrap();
    let running = starting.await.unwrap().unwrap();
    common::eventually(10, "the edit made during start-up", || {
        let live = running.state.engine.live.load().ruleset.version.clone();
        let edited = edited.clone();
        async move { live == edited }
    })
    .await;
    running.shutdown().await;
    sandbox.shutdown().await;
}
