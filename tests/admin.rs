//! Guards that cannot be forgotten: `/admin/*` is never open to other
//! machines by default, a configured token guards every admin route while
//! probes and metrics stay open, and `serve` refuses the repository's public
//! secrets unless it runs the sandbox.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, DEMO_KEY, Harness, write_shipped_rules};
use http::Method;

const TOKEN: &str = "admin-token-0123456789abcdef";

/// `payroute serve` with `args`; returns (exit success, stderr) once it
/// exits, or `None` if it is still running after `within` (then killed).
fn serve_exit(args: &[&str], env: &[(&str, &str)], within: Duration) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_shipped_rules(&rules, "127.0.0.1:9".parse().unwrap());
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0"])
        .arg("--rules")
        .arg(&rules)
        .arg("--store")
        .arg(format!("sqlite://{}", dir.path().join("p.db").display()))
        .args(args)
        .env_remove("PAYROUTE_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stderr closes when the process exits: read it to the end on a thread
    // and wait for that event, up to `within`.
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        let _ = tx.send(err);
    });
    match rx.recv_timeout(within) {
        Ok(err) => Some((child.wait().unwrap().success(), err)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

#[test]
fn ops_on_a_non_loopback_address_without_a_token_refuses_to_start_naming_the_setting() {
    let (ok, stderr) = serve_exit(
        &["--sandbox", "--ops-listen", "0.0.0.0:0"],
        &[],
        Duration::from_secs(20),
    )
    .expect("payroute started with /admin open to the network");
    assert!(!ok);
    assert!(stderr.contains("PAYROUTE_ADMIN_TOKEN"), "{stderr}");
    assert!(stderr.contains("/admin"), "{stderr}");
}

#[test]
fn a_short_admin_token_is_refused_at_start() {
    let (ok, stderr) = serve_exit(
        &["--sandbox", "--ops-listen", "127.0.0.1:0"],
        &[("PAYROUTE_ADMIN_TOKEN", "hunter2")],
        Duration::from_secs(20),
    )
    .expect("payroute started with a guessable admin token");
    assert!(!ok);
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
}

#[test]
fn serve_without_the_sandbox_refuses_the_shipped_secrets_naming_gateway_and_variable() {
    let (ok, stderr) = serve_exit(
        &["--ops-listen", "127.0.0.1:0"],
        &[],
        Duration::from_secs(20),
    )
    .expect("payroute started with the repository's public secrets");
    assert!(!ok);
    for needle in [
        "gateway stripe_sandbox credentials.webhook_secret",
        "STRIPE_WEBHOOK_SECRET",
        "gateway adyen_sandbox credentials.hmac_key",
        "ADYEN_HMAC_KEY",
        "--sandbox",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_runs_on_the_shipped_secrets_with_one_clear_warning() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_shipped_rules(&rules, "127.0.0.1:9".parse().unwrap());
    // With --sandbox payroute starts, and says so once.
    let mut child = Command::new(BIN)
        .args(["serve", "--sandbox", "--sandbox-listen", "127.0.0.1:0"])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--rules",
        ])
        .arg(&rules)
        .arg("--store")
        .arg(format!("sqlite://{}", dir.path().join("s.db").display()))
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let done = line.contains("payroute listening");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    })
    .join()
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("payroute listening")),
        "{lines:#?}"
    );
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("public test secrets"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(
        warnings[0].contains("STRIPE_WEBHOOK_SECRET"),
        "{}",
        warnings[0]
    );
}

/// Every `/admin` route, with a method it serves.
const ADMIN_ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/admin/rules"),
    (Method::POST, "/admin/rules/reload"),
    (Method::GET, "/admin/deliveries"),
    (Method::POST, "/admin/deliveries/dl_none/redeliver"),
    (Method::GET, "/admin/events"),
    (Method::GET, "/admin/gateways"),
    (Method::POST, "/admin/reconcile"),
    (Method::GET, "/admin/no-such-route"),
];

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_admin_route_answers_401_without_it_and_probes_stay_open() {
    let h = Harness::start_opts(
        |_, _| {},
        |s| s.admin_token = Some(payroute::domain::sensitive::Sensitive(TOKEN.into())),
    )
    .await;
    let wrong = "Bearer admin-token-but-not-the-right-one";
    let right = format!("Bearer {TOKEN}");
    let lower = format!("bearer {TOKEN}");
    for (method, path) in ADMIN_ROUTES {
        let url = format!("{}{path}", h.ops);
        for headers in [vec![], vec![("authorization", wrong)]] {
            let r = h
                .http
                .send(method.clone(), &url, &headers, Some(vec![]))
                .await;
            assert_eq!(
                r.status,
                401,
                "{method} {path} with {headers:?}: {}",
                r.text()
            );
            assert_eq!(r.json()["error"]["code"], "invalid_admin_token");
        }
        for auth in [&right, &lower] {
            let r = h
                .http
                .send(
                    method.clone(),
                    &url,
                    &[("authorization", auth)],
                    Some(vec![]),
                )
                .await;
            assert_ne!(r.status, 401, "{method} {path} with `{auth}`: {}", r.text());
        }
    }
    for open in ["/metrics", "/livez", "/readyz"] {
        let r = h
            .http
            .send(Method::GET, &format!("{}{open}", h.ops), &[], None)
            .await;
        assert_eq!(r.status, 200, "{open}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_scheme_is_case_insensitive_on_the_merchant_api() {
    let h = Harness::start().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} {DEMO_KEY}");
        let r = h
            .http
            .send(
                Method::GET,
                &format!("{}/v1/payments/pay_none", h.api),
                &[("authorization", &auth)],
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{scheme}: {}", r.text());
    }
    let r = h
        .http
        .send(
            Method::GET,
            &format!("{}/v1/payments/pay_none", h.api),
            &[("authorization", &format!("Basic {DEMO_KEY}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
}
