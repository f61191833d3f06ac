//! Ruleset loading: strict parsing with locations, env references, every
//! cross-check, multi-file folders, versions, and the shipped rules.

use std::path::{Path, PathBuf};

use super::RulesError;
use crate::domain::facts::MethodKind;
use crate::routing::Ruleset;

const GATEWAYS: &str = "\
gateways:
  - id: stripe_main
    kind: stripe
    base_url: http://127.0.0.1:4010/stripe
    credentials:
      api_key: ${STRIPE_KEY:-sk_test}
  - id: adyen_eu
    kind: adyen
    base_url: http://127.0.0.1:4010/adyen/v71
    merchant_account: Acme
    currencies: [EUR, GBP]
    credentials:
      api_key: ${ADYEN_KEY:-ak}
";

const MERCHANTS: &str = "\
merchants:
  - id: acme
    api_key_sha256: 5d48f1024f38b44ad9ddc03dc12b2a8287c7ec690065dcef384cb1fd1753626d
";

const ROUTES: &str = "\
routes:
  - name: default
    gateways: [stripe_main]
";

fn env(name: &str) -> Option<String> {
    (name == "SET_VAR").then(|| "from-env".to_string())
}

fn load(files: &[(&str, &str)]) -> Result<Ruleset, RulesError> {
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(n, t)| (PathBuf::from(n), t.to_string()))
        .collect();
    crate::config::from_texts(&texts, &env)
}

/// The gateways and merchants above plus `extra` as a second file.
fn with(extra: &str) -> Result<Ruleset, RulesError> {
    load(&[
        ("base.yaml", &format!("{GATEWAYS}{MERCHANTS}")),
        ("extra.yaml", extra),
    ])
}

fn err(r: Result<Ruleset, RulesError>) -> RulesError {
    match r {
        Ok(_) => panic!("expected the ruleset to be refused"),
        Err(e) => e,
    }
}

fn assert_err_at(r: Result<Ruleset, RulesError>, file: &str, line: u64, needle: &str) {
    let e = err(r);
    assert_eq!(e.path(), Path::new(file), "{e}");
    assert_eq!(e.line_col().map(|l| l.0), Some(line), "{e}");
    assert!(e.message().contains(needle), "`{e}` lacks `{needle}`");
}

#[test]
fn minimal_ruleset_loads_with_defaults() {
    let rs = with(ROUTES).unwrap();
    let g = rs.gateway("stripe_main").unwrap();
    assert_eq!(g.timeout_ms, 8000);
    assert_eq!(g.credentials["api_key"].expose(), "sk_test");
    assert!(g.supports_method(MethodKind::GatewayToken));
    assert!(!rs.gateway("adyen_eu").unwrap().supports_currency("USD"));
    assert_eq!(
        rs.files,
        vec![PathBuf::from("base.yaml"), PathBuf::from("extra.yaml")]
    );
    assert_eq!(rs.version.len(), 12);
}

#[test]
fn unknown_key_is_an_error_with_file_line_col() {
    let yaml = "routes:\n  - name: r\n    gateways: [stripe_main]\n    gatways: [x]\n";
    let e = err(with(yaml));
    assert_eq!(e.path(), Path::new("extra.yaml"));
    assert_eq!(e.line_col(), Some((4, 5)), "{e}");
    assert!(e.message().contains("gatways"), "{e}");
    assert!(e.to_string().starts_with("extra.yaml:4:5: "), "{e}");
}

#[test]
fn unknown_top_level_key_is_an_error() {
    assert_err_at(with("route:\n  - name: r\n"), "extra.yaml", 1, "route");
}

#[test]
fn duplicate_key_is_an_error_with_location() {
    let yaml = "routes:\n  - name: r\n    gateways: [stripe_main]\n    name: again\n";
    let e = err(with(yaml));
    assert_eq!(e.line_col().map(|l| l.0), Some(4), "{e}");
    assert!(e.message().to_lowercase().contains("duplicate"), "{e}");
}

#[test]
fn wrong_type_is_an_error_with_location() {
    let yaml = "gateways:\n  - id: g2\n    kind: stripe\n    base_url: http://x\n    timeout_ms: soon\n    credentials: {api_key: '${K:-k}'}\n";
    assert_err_at(with(yaml), "extra.yaml", 5, "");
}

#[test]
fn syntax_error_is_located() {
    let e = err(with("routes:\n  - name: [unclosed\n"));
    assert_eq!(e.path(), Path::new("extra.yaml"));
    assert!(e.line_col().is_some(), "{e}");
}

#[test]
fn missing_env_var_without_default_names_it() {
    let yaml = "gateways:\n  - id: g2\n    kind: stripe\n    base_url: http://x\n    credentials:\n      api_key: ${MISSING_STRIPE_KEY}\n";
    assert_err_at(with(yaml), "extra.yaml", 6, "MISSING_STRIPE_KEY");
}

#[test]
fn set_env_var_is_expanded() {
    let yaml = "gateways:\n  - id: g2\n    kind: stripe\n    base_url: http://x\n    credentials:\n      api_key: ${SET_VAR}\n";
    let rs = with(&format!("{yaml}{ROUTES}")).unwrap();
    assert_eq!(
        rs.gateway("g2").unwrap().credentials["api_key"].expose(),
        "from-env"
    );
}

#[test]
fn literal_secret_is_refused() {
    let yaml = "gateways:\n  - id: g2\n    kind: stripe\n    base_url: http://x\n    credentials:\n      api_key: sk_live_123\n";
    let e = err(with(yaml));
    assert!(e.message().contains("literal"), "{e}");
    assert!(
        !e.to_string().contains("sk_live_123"),
        "the secret must not be echoed: {e}"
    );
    let merchant = "merchants:\n  - id: m2\n    api_key_sha256: 5d48f1024f38b44ad9ddc03dc12b2a8287c7ec690065dcef384cb1fd1753626d\n    webhook_secret: whsec_literal\n";
    assert_err_at(with(merchant), "extra.yaml", 4, "literal");
}

#[test]
fn unknown_kind_names_supported_kinds() {
    let yaml = "gateways:\n  - id: bt\n    kind: braintree\n    base_url: http://x\n    credentials: {api_key: '${K:-k}'}\n";
    assert_err_at(
        with(yaml),
        "extra.yaml",
        3,
        "supported kinds: stripe, adyen, checkout",
    );
}

#[test]
fn checkout_kind_is_accepted_with_an_api_key_and_needs_no_merchant_account() {
    let yaml = "gateways:\n  - id: cko\n    kind: checkout\n    base_url: http://x/checkout\n    credentials: {api_key: '${K:-sk_sbox_1}', webhook_secret: '${W:-whsec}'}\n";
    let rules = with(&format!("{yaml}{ROUTES}")).unwrap();
    let g = rules
        .gateway("cko")
        .expect("the checkout gateway is compiled");
    assert_eq!(g.kind, crate::connectors::GatewayKind::Checkout);
    assert_eq!(g.connector_settings().api_key.expose(), "sk_sbox_1");
    assert!(g.supports_method(MethodKind::Card));
    assert!(!g.supports_method(MethodKind::SepaDebit));
    let no_key = "gateways:\n  - id: cko\n    kind: checkout\n    base_url: http://x\n    credentials: {webhook_secret: '${W:-whsec}'}\n";
    assert_err_at(with(no_key), "extra.yaml", 2, "api_key is required");
}

#[test]
fn adyen_requires_merchant_account() {
    let yaml = "gateways:\n  - id: ady\n    kind: adyen\n    base_url: http://x\n    credentials: {api_key: '${K:-k}'}\n";
    assert_err_at(with(yaml), "extra.yaml", 2, "merchant_account");
}

#[test]
fn gateway_field_checks() {
    let cases = [
        (
            "    kind: stripe\n    base_url: ftp://x\n    credentials: {api_key: '${K:-k}'}\n",
            "base_url",
        ),
        (
            "    kind: stripe\n    base_url: http://x\n    timeout_ms: 0\n    credentials: {api_key: '${K:-k}'}\n",
            "timeout_ms",
        ),
        (
            "    kind: stripe\n    base_url: http://x\n    credentials: {hmac_key: '${K:-k}'}\n",
            "api_key is required",
        ),
        (
            "    kind: stripe\n    base_url: http://x\n    methods: [cash]\n    credentials: {api_key: '${K:-k}'}\n",
            "unknown payment method `cash`",
        ),
        (
            "    kind: stripe\n    base_url: http://x\n    currencies: [EURO]\n    credentials: {api_key: '${K:-k}'}\n",
            "unknown currency `EURO`",
        ),
    ];
    for (body, needle) in cases {
        let e = err(with(&format!("gateways:\n  - id: g2\n{body}")));
        assert!(e.message().contains(needle), "`{e}` lacks `{needle}`");
        assert!(e.line_col().is_some(), "{e}");
    }
}

#[test]
fn bad_ids_are_refused() {
    let yaml = "gateways:\n  - id: 'has space'\n    kind: stripe\n    base_url: http://x\n    credentials: {api_key: '${K:-k}'}\n";
    assert_err_at(with(yaml), "extra.yaml", 2, "gateway id");
}

#[test]
fn duplicate_ids_and_names_are_refused_across_files() {
    let gw = "gateways:\n  - id: stripe_main\n    kind: stripe\n    base_url: http://x\n    credentials: {api_key: '${K:-k}'}\n";
    assert_err_at(
        with(gw),
        "extra.yaml",
        2,
        "duplicate gateway id `stripe_main` (first defined at base.yaml:2)",
    );
    let m = "merchants:\n  - id: acme\n    api_key_sha256: 5d48f1024f38b44ad9ddc03dc12b2a8287c7ec690065dcef384cb1fd1753626d\n";
    assert_err_at(with(m), "extra.yaml", 2, "duplicate merchant id `acme`");
    let r = "routes:\n  - name: a\n    when: {currency: [EUR]}\n    gateways: [stripe_main]\n  - name: a\n    gateways: [stripe_main]\n";
    assert_err_at(with(r), "extra.yaml", 5, "duplicate route name `a`");
}

#[test]
fn merchant_hash_must_be_64_hex() {
    let m = "merchants:\n  - id: m2\n    api_key_sha256: abc\n";
    assert_err_at(with(m), "extra.yaml", 3, "64 hex");
}

#[test]
fn unknown_gateway_in_route_is_located() {
    let r = "routes:\n  - name: r\n    gateways: [stripe_main, nope]\n";
    let e = err(with(r));
    assert_eq!(e.line_col().map(|l| l.0), Some(3), "{e}");
    assert!(e.message().contains("unknown gateway `nope`"), "{e}");
    let s = "routes:\n  - name: r\n    split:\n      stripe_main: 50\n      nope: 50\n";
    assert_err_at(with(s), "extra.yaml", 5, "unknown gateway `nope`");
}

#[test]
fn split_weights_must_be_positive_integers() {
    for (w, line) in [("0", 4), ("-3", 4), ("1.5", 4)] {
        let r = format!(
            "routes:\n  - name: r\n    split:\n      stripe_main: {w}\n      adyen_eu: 1\n"
        );
        let e = err(with(&r));
        assert_eq!(e.line_col().map(|l| l.0), Some(line), "{w}: {e}");
    }
}

#[test]
fn route_needs_exactly_one_of_gateways_or_split() {
    let both = "routes:\n  - name: r\n    gateways: [stripe_main]\n    split: {stripe_main: 1}\n";
    assert_err_at(
        with(both),
        "extra.yaml",
        2,
        "exactly one of `gateways` or `split`",
    );
    let neither = "routes:\n  - name: r\n    when: {currency: [EUR]}\n";
    assert_err_at(
        with(neither),
        "extra.yaml",
        2,
        "exactly one of `gateways` or `split`",
    );
}

#[test]
fn when_value_checks() {
    let cases = [
        (
            "{amount: {min: 500, max: 100}}",
            "min 500 is greater than max 100",
        ),
        ("{risk: {min: 10, max: 101}}", "0..=100"),
        ("{risk: {min: 70, max: 60}}", "greater than max"),
        ("{currency: [EUR, XYZ]}", "unknown currency `XYZ`"),
        ("{method: [card, cash]}", "unknown payment method `cash`"),
        ("{country: [de]}", "country `de`"),
        ("{merchant: [nobody]}", "unknown merchant `nobody`"),
        ("{card_network: [visaa]}", "unknown card network"),
        ("{card_bin: [42x]}", "card_bin"),
        ("{currency: []}", "empty list"),
    ];
    for (when, needle) in cases {
        let r = format!("routes:\n  - name: r\n    when: {when}\n    gateways: [stripe_main]\n");
        let e = err(with(&r));
        assert!(
            e.message().contains(needle),
            "{when}: `{e}` lacks `{needle}`"
        );
    }
}

#[test]
fn impossible_matches_are_refused() {
    let cur = "routes:\n  - name: usd\n    when: {currency: [USD]}\n    gateways: [adyen_eu]\n";
    assert_err_at(
        with(cur),
        "extra.yaml",
        2,
        "none of its gateways (adyen_eu) accepts currency USD",
    );
    let gw = "gateways:\n  - id: wallets\n    kind: stripe\n    base_url: http://x\n    methods: [apple_pay]\n    credentials: {api_key: '${K:-k}'}\n";
    let m = format!(
        "{gw}routes:\n  - name: sepa\n    when: {{method: [sepa_debit]}}\n    gateways: [wallets]\n"
    );
    assert_err_at(with(&m), "extra.yaml", 8, "accepts method sepa_debit");
    // Each gateway accepts one of the two, but none accepts both together.
    let both = format!(
        "{gw}routes:\n  - name: x\n    when: {{method: [sepa_debit], currency: [USD]}}\n    gateways: [wallets, adyen_eu]\n"
    );
    assert_err_at(
        with(&both),
        "extra.yaml",
        8,
        "method sepa_debit in currency USD",
    );
}

#[test]
fn route_after_a_catch_all_is_unreachable() {
    let r = "routes:\n  - name: all\n    gateways: [stripe_main]\n  - name: late\n    when: {currency: [EUR]}\n    gateways: [stripe_main]\n";
    assert_err_at(with(r), "extra.yaml", 4, "can never match");
}

#[test]
fn at_least_one_gateway_is_required() {
    let e = err(load(&[("only.yaml", MERCHANTS)]));
    assert!(e.message().contains("at least one"), "{e}");
}

#[test]
fn risk_block_checks() {
    let over = "risk:\n  block_at: 101\n";
    assert_err_at(with(over), "extra.yaml", 2, "block_at");
    let twice = load(&[
        ("a.yaml", &format!("{GATEWAYS}risk:\n  block_at: 80\n")),
        ("b.yaml", "risk:\n  block_at: 90\n"),
    ]);
    assert_err_at(twice, "b.yaml", 2, "already set in a.yaml");
    let both = "risk:\n  signals:\n    - name: s\n      when: {amount: {min: 1}}\n      velocity: {key: ip, window: 1m, max: 3}\n      add: 5\n";
    assert_err_at(
        with(both),
        "extra.yaml",
        3,
        "exactly one of `when` or `velocity`",
    );
    let window = "risk:\n  signals:\n    - name: s\n      velocity: {key: ip, window: 10 minutes, max: 3}\n      add: 5\n";
    assert!(err(with(window)).message().contains("window"));
    let key = "risk:\n  signals:\n    - name: s\n      velocity: {key: phone, window: 1m, max: 3}\n      add: 5\n";
    assert!(err(with(key)).message().contains("unknown velocity key"));
    let self_ref =
        "risk:\n  signals:\n    - name: s\n      when: {risk: {min: 50}}\n      add: 5\n";
    assert!(err(with(self_ref)).message().contains("risk score itself"));
    let add = "risk:\n  signals:\n    - name: s\n      when: {amount: {min: 1}}\n      add: 101\n";
    assert!(err(with(add)).message().contains("0..=100"));
}

/// Found by the `rules` fuzz target: the unit was split off by byte, so a
/// window ending in a multi-byte character panicked instead of refusing.
#[test]
fn velocity_window_ending_in_a_multibyte_char_is_refused_not_a_panic() {
    for window in ["1€", "€", "10ϔ", "5 ḿ"] {
        assert_eq!(
            super::compile_routes::parse_window(window),
            None,
            "{window}"
        );
        let rule = format!(
            "risk:\n  signals:\n    - name: s\n      velocity: {{key: ip, window: \"{window}\", max: 3}}\n      add: 5\n"
        );
        assert_err_at(with(&rule), "extra.yaml", 4, "velocity window");
    }
    assert_eq!(
        super::compile_routes::parse_window("10m"),
        Some(std::time::Duration::from_secs(600))
    );
}

#[test]
fn lists_concatenate_across_files_in_given_order() {
    let rs = load(&[
        ("10-gateways.yaml", GATEWAYS),
        ("20-merchants.yaml", MERCHANTS),
        (
            "30-routes.yaml",
            "routes:\n  - name: eu\n    when: {currency: [EUR]}\n    gateways: [adyen_eu]\n",
        ),
        ("40-routes.yaml", ROUTES),
    ])
    .unwrap();
    let names: Vec<&str> = rs.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["eu", "default"]);
    assert_eq!(rs.gateways.len(), 2);
}

#[test]
fn version_is_stable_and_content_sensitive() {
    let a = with(ROUTES).unwrap().version;
    assert_eq!(a, with(ROUTES).unwrap().version);
    let edited = with(&format!("{ROUTES}# a comment\n")).unwrap().version;
    assert_ne!(a, edited, "any byte change is a new version");
    let renamed = load(&[
        ("base.yaml", &format!("{GATEWAYS}{MERCHANTS}")),
        ("other.yaml", ROUTES),
    ])
    .unwrap();
    assert_ne!(a, renamed.version, "file names are part of the version");
}

#[test]
fn merchant_for_key_matches_only_the_right_key() {
    let rs = with(ROUTES).unwrap();
    assert_eq!(
        rs.merchant_for_key("sk_test_demo").map(|m| m.id.as_str()),
        Some("acme")
    );
    assert!(rs.merchant_for_key("sk_test_demo ").is_none());
    assert!(rs.merchant_for_key("").is_none());
    assert!(rs.merchant("acme").is_some());
}

#[test]
fn summary_names_version_gateways_merchants_and_routes() {
    let rs = with("routes:\n  - name: eu\n    when: {currency: [EUR]}\n    split: {adyen_eu: 3, stripe_main: 1}\n").unwrap();
    let s = rs.summary();
    for needle in [
        rs.version.as_str(),
        "2 files",
        "stripe_main  stripe",
        "merchants (1): acme",
        "eu: currency=EUR -> split adyen_eu=3, stripe_main=1",
    ] {
        assert!(s.contains(needle), "summary lacks `{needle}`:\n{s}");
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn folder_loads_sorted_yaml_files_and_skips_others() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b-routes.yml", ROUTES);
    write(dir.path(), "a-gateways.yaml", GATEWAYS);
    write(dir.path(), "notes.txt", "not: yaml rules");
    write(dir.path(), ".#a-gateways.yaml", "garbage: [");
    let rs = crate::config::load_with_env(dir.path(), &env).unwrap();
    let names: Vec<String> = rs
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a-gateways.yaml", "b-routes.yml"]);
    let again = crate::config::load_with_env(dir.path(), &env).unwrap();
    assert_eq!(rs.version, again.version);
}

#[test]
fn single_file_path_loads_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, format!("{GATEWAYS}{ROUTES}extra: 1\n")).unwrap();
    let e = crate::config::load_with_env(&file, &env).unwrap_err();
    assert_eq!(e.path(), file.as_path());
    assert!(
        e.to_string().starts_with(&format!("{}:", file.display())),
        "{e}"
    );
}

#[test]
fn empty_folder_and_missing_path_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        err(crate::config::load_with_env(dir.path(), &env))
            .message()
            .contains("no *.yaml")
    );
    let missing = dir.path().join("nope");
    assert!(matches!(
        err(crate::config::load_with_env(&missing, &env)),
        RulesError::Io { .. }
    ));
}

#[test]
fn configmap_symlink_layout_loads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("..2024_01")).unwrap();
    write(
        &root.join("..2024_01"),
        "rules.yaml",
        &format!("{GATEWAYS}{ROUTES}"),
    );
    std::os::unix::fs::symlink("..2024_01", root.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/rules.yaml", root.join("rules.yaml")).unwrap();
    let rs = crate::config::load_with_env(root, &env).unwrap();
    assert_eq!(rs.files.len(), 1);
}

#[test]
fn shipped_rules_load_with_default_env() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    let rs = crate::config::load_with_env(&path, &|_: &str| None).unwrap();
    let stripe = rs.gateway("stripe_sandbox").unwrap();
    assert_eq!(stripe.base_url, "http://127.0.0.1:4010/stripe");
    assert_eq!(stripe.credentials["api_key"].expose(), "sk_test_sandbox");
    assert_eq!(
        stripe.credentials["webhook_secret"].expose(),
        "whsec_sandbox_secret"
    );
    let adyen = rs.gateway("adyen_sandbox").unwrap();
    assert_eq!(adyen.merchant_account.as_deref(), Some("PayrouteDemo"));
    assert_eq!(adyen.base_url, "http://127.0.0.1:4010/adyen/v71");
    assert_eq!(
        rs.merchant_for_key("sk_test_demo").map(|m| m.id.as_str()),
        Some("demo")
    );
    let demo = rs.merchant("demo").unwrap();
    assert_eq!(
        demo.webhook_url.as_deref(),
        Some("http://127.0.0.1:4010/__sandbox/merchant-events")
    );
    assert_eq!(
        demo.webhook_secret.as_ref().map(|s| s.expose()),
        Some("whsec_demo")
    );
    let names: Vec<&str> = rs.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["eu-cards", "default"]);
    assert_eq!(rs.risk.block_at, Some(90));
    assert!(
        crate::config::load(&path).is_ok(),
        "loads with the process env too"
    );
}
