//! Property tests of every parser that reads untrusted or hand-written
//! input: rule files, Stripe and Adyen webhooks, and merchant request
//! bodies. Black-box against the public API. Inputs start from valid seeds
//! (the shipped rules, the webhook signature vectors, valid request bodies)
//! and are mutated at byte level (flips, truncation, splicing, duplicated
//! ranges, deep nesting, non-UTF-8, dictionary tokens such as huge numbers)
//! or at structure level (a random JSON/YAML value in place of any field).
//! The properties: nothing panics, and every refusal is a clear, typed error.
//!
//! The `fuzz/` folder runs the same parsers under libFuzzer for far longer;
//! these run in every `cargo test`, so case counts stay small.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use payroute::api::error::ApiError;
use payroute::api::request;
use payroute::config::RulesError;
use payroute::connectors::adyen::{
    AdyenItem, adyen_signing_string, normalize_adyen, verify_adyen_item, verify_adyen_notification,
};
use payroute::connectors::stripe::{normalize_stripe, verify_stripe_any};
use payroute::connectors::webhook::VerifyError;
use payroute::domain::facts::PaymentFacts;
use payroute::payments::NewPayment;

// ---------------------------------------------------------------------------
// The request-parser adapter
// ---------------------------------------------------------------------------

/// What a merchant request body parses into.
#[derive(Debug)]
enum Parsed {
    Create(NewPayment),
    Explain(PaymentFacts),
}

/// The one place that calls the merchant request parsers, as the API does.
fn parse_request(create: bool, merchant: &str, body: &[u8]) -> Result<Parsed, ApiError> {
    if create {
        request::parse_create(body).map(Parsed::Create)
    } else {
        request::parse_explain(merchant, body).map(Parsed::Explain)
    }
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

const RULE_FILES: [(&str, &str); 4] = [
    (
        "gateways.yaml",
        include_str!("../routing-rules/gateways.yaml"),
    ),
    (
        "merchants.yaml",
        include_str!("../routing-rules/merchants.yaml"),
    ),
    ("risk.yaml", include_str!("../routing-rules/risk.yaml")),
    ("routes.yaml", include_str!("../routing-rules/routes.yaml")),
];

const STRIPE_VECTORS: &str = include_str!("fixtures/vectors/stripe_webhook_vectors.json");
const ADYEN_VECTORS: &str = include_str!("fixtures/vectors/adyen_hmac_vectors.json");

const STRIPE_SECRET: &str = "whsec_test_5f2b0c9e8d7a6b5c4d3e2f1a0b9c8d7e";
const STRIPE_NOW: i64 = 1_700_000_010;
const ADYEN_KEY: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

/// `(header, payload)` of the Stripe vectors that verify.
static STRIPE_SEEDS: LazyLock<Vec<(String, Vec<u8>)>> = LazyLock::new(|| {
    vectors(STRIPE_VECTORS)
        .iter()
        .filter(|v| v["expected_valid"] == true && v["secret"] == STRIPE_SECRET)
        .map(|v| {
            (
                v["header"].as_str().unwrap_or_default().to_string(),
                v["payload"]
                    .as_str()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            )
        })
        .collect()
});

/// `(hex key, notification body)` of the Adyen vectors that verify.
static ADYEN_SEEDS: LazyLock<Vec<(String, Vec<u8>)>> = LazyLock::new(|| {
    vectors(ADYEN_VECTORS)
        .iter()
        .filter(|v| v["expected_valid"] == true)
        .map(|v| {
            (
                v["hmac_key_hex"].as_str().unwrap_or_default().to_string(),
                v["notification_json"]
                    .as_str()
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            )
        })
        .collect()
});

fn vectors(file: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(file).expect("vector file is JSON");
    doc["vectors"].as_array().cloned().unwrap_or_default()
}

/// Valid create-payment bodies, one per payment-method type.
static REQUEST_SEEDS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    vec![
        serde_json::json!({
            "amount": 1999, "currency": "EUR", "reference": "o-1", "capture": "manual",
            "payment_method": {"type": "card", "card": {"number": "4242424242424242",
                "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "A B"}},
            "customer": {"id": "c1", "email": "a@example.com", "country": "DE", "ip": "192.0.2.1"},
            "metadata": {"channel": "web"}, "risk_score": 10,
            "return_url": "https://example.com/return"
        }),
        serde_json::json!({"amount": 500, "currency": "USD", "reference": "o-2",
            "payment_method": {"type": "apple_pay", "token": "tok_apple"}}),
        serde_json::json!({"amount": 10000, "currency": "EUR", "reference": "o-3",
            "payment_method": {"type": "sepa_debit",
                "sepa_debit": {"iban": "DE89 3704 0044 0532 0130 00", "name": "Max"}}}),
        serde_json::json!({"amount": 100, "currency": "JPY", "reference": "o-4",
            "payment_method": {"type": "gateway_token",
                "tokens": {"stripe_sandbox": "pm_1", "adyen_sandbox": "ad_1"}}}),
    ]
});

fn rule_texts() -> Vec<(PathBuf, String)> {
    RULE_FILES
        .iter()
        .map(|(name, text)| (PathBuf::from(name), (*text).to_string()))
        .collect()
}

/// A fixed environment: the shipped rules use `${VAR:-default}`, so they load
/// with nothing set; `SET_EMPTY` is set but empty.
fn test_env(name: &str) -> Option<String> {
    match name {
        "STRIPE_API_KEY" => Some("sk_test_from_env".into()),
        "SET_EMPTY" => Some(String::new()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Mutation engine
// ---------------------------------------------------------------------------

/// Fragments a byte mutator would rarely invent: numbers past every integer
/// type, escapes, structure, YAML features, env references, non-UTF-8.
const TOKENS: &[&[u8]] = &[
    b"1e400",
    b"-1e400",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"9223372036854775807",
    b"123456789012345678901234567890.5",
    b"-0",
    b"0.1",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"null",
    b"true",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"\"amount\": \"1\", ",
    b"\"currency\": \"EUR\", ",
    b"\xff\xfe",
    b"\xc3",
    b"${",
    b"${UNSET_VAR}",
    b"${SET_EMPTY}",
    b"${STRIPE_API_KEY:-}",
    b"\n- ",
    b"\n  ",
    b"\t",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary ",
    b"? ",
    b"\n---\n",
    b"\n...\n",
    b"~",
    b".inf",
    b"0x7fffffffffffffff",
    b"v1=",
    b"t=",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    Delete(Index, u8),
    InsertToken(Index, Index),
    /// Copies a range of this input after itself: duplicate keys and lines.
    Duplicate(Index, u8),
    /// A range from another seed of the same family.
    Splice(Index, Index, Index, u8),
    /// `depth` copies of an opener: deep nesting.
    Nest(Index, u16, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), 1u8..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        2 => (any::<Index>(), 1u8..80).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), 1u8..80)
            .prop_map(|(i, d, s, n)| Mutation::Splice(i, d, s, n)),
        1 => (any::<Index>(), 1u16..3000, 0u8..4).prop_map(|(i, d, o)| Mutation::Nest(i, d, o)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

fn mutate(seed: &[u8], muts: &[Mutation], donors: &[&[u8]]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in muts {
        let at = |i: &Index, out: &Vec<u8>| i.index(out.len() + 1);
        match m {
            Mutation::FlipBit(i, bit) if !out.is_empty() => {
                let i = i.index(out.len());
                out[i] ^= 1 << bit;
            }
            Mutation::SetByte(i, b) if !out.is_empty() => {
                let i = i.index(out.len());
                out[i] = *b;
            }
            Mutation::Truncate(i) => out.truncate(at(i, &out)),
            Mutation::Delete(i, n) => {
                let start = at(i, &out);
                let end = (start + usize::from(*n)).min(out.len());
                out.drain(start..end);
            }
            Mutation::InsertToken(i, t) => {
                let pos = at(i, &out);
                let token = TOKENS[t.index(TOKENS.len())];
                out.splice(pos..pos, token.iter().copied());
            }
            Mutation::Duplicate(i, n) => {
                let start = at(i, &out);
                let end = (start + usize::from(*n)).min(out.len());
                let copy = out[start..end].to_vec();
                out.splice(end..end, copy);
            }
            Mutation::Splice(i, d, s, n) if !donors.is_empty() => {
                let donor = donors[d.index(donors.len())];
                let from = s.index(donor.len() + 1);
                let to = (from + usize::from(*n)).min(donor.len());
                let pos = at(i, &out);
                out.splice(pos..pos, donor[from..to].iter().copied());
            }
            Mutation::Nest(i, depth, opener) => {
                let pos = at(i, &out);
                let unit: &[u8] = match opener {
                    0 => b"[",
                    1 => b"{\"a\":",
                    2 => b"{a: ",
                    _ => b"- ",
                };
                let nested: Vec<u8> = unit
                    .iter()
                    .copied()
                    .cycle()
                    .take(unit.len() * usize::from(*depth))
                    .collect();
                out.splice(pos..pos, nested);
            }
            _ => {}
        }
    }
    out
}

/// Any JSON value, biased to the edges: integer limits, huge and tiny
/// floats, strings of any Unicode, nested containers.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1),
            Just(0),
            Just(1),
            Just(12),
            Just(100),
            Just(101),
            Just(2030),
            Just(999_999_999_999),
        ]
        .prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        ".{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("card"),
            Just("EUR"),
            Just("eur"),
            Just(""),
            Just("true"),
            Just("4242424242424242"),
            Just("${STRIPE_API_KEY}"),
            Just("AUTHORISATION"),
            Just("payment_intent.succeeded"),
            Just("refund"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_.]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A structural edit of a JSON document at one of its paths.
#[derive(Debug, Clone)]
enum JsonEdit {
    Replace(Index, Value),
    Remove(Index),
    AddKey(Index, String, Value),
}

fn json_edits() -> impl Strategy<Value = Vec<JsonEdit>> {
    let edit = prop_oneof![
        3 => (any::<Index>(), json_value()).prop_map(|(i, v)| JsonEdit::Replace(i, v)),
        1 => any::<Index>().prop_map(JsonEdit::Remove),
        1 => (any::<Index>(), "[a-zA-Z_.]{1,16}", json_value())
            .prop_map(|(i, k, v)| JsonEdit::AddKey(i, k, v)),
    ];
    prop::collection::vec(edit, 1..4)
}

fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{here}/{escaped}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

fn apply_edits(mut doc: Value, edits: &[JsonEdit]) -> Value {
    for edit in edits {
        let mut paths = Vec::new();
        pointers(&doc, String::new(), &mut paths);
        match edit {
            JsonEdit::Replace(i, v) => {
                if let Some(slot) = doc.pointer_mut(&paths[i.index(paths.len())]) {
                    *slot = v.clone();
                }
            }
            JsonEdit::Remove(i) => {
                let path = &paths[i.index(paths.len())];
                if let Some((parent, key)) = path.rsplit_once('/') {
                    let key = key.replace("~1", "/").replace("~0", "~");
                    match doc.pointer_mut(parent) {
                        Some(Value::Object(m)) => {
                            m.remove(&key);
                        }
                        Some(Value::Array(a)) => {
                            if let Ok(n) = key.parse::<usize>() {
                                a.remove(n);
                            }
                        }
                        _ => {}
                    }
                }
            }
            JsonEdit::AddKey(i, k, v) => {
                if let Some(Value::Object(m)) = doc.pointer_mut(&paths[i.index(paths.len())]) {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
    }
    doc
}

// ---------------------------------------------------------------------------
// Checks shared by the properties
// ---------------------------------------------------------------------------

fn check_rules_error(e: &RulesError, files: &[&Path]) {
    assert!(!e.message().trim().is_empty(), "empty message: {e:?}");
    assert!(
        files.contains(&e.path()),
        "error names no input file or folder: {e}"
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with(&e.path().display().to_string()),
        "display does not start with the path: {shown}"
    );
}

fn check_api_error(e: &ApiError) {
    assert!(e.status.is_client_error(), "status {} for {e:?}", e.status);
    assert!(!e.code.is_empty(), "empty code: {e:?}");
    assert!(!e.message.trim().is_empty(), "empty message: {e:?}");
}

fn check_parsed(p: &Parsed) {
    match p {
        Parsed::Create(p) => {
            assert!(p.amount > 0, "accepted amount {}", p.amount);
            assert!((1..=128).contains(&p.reference.len()));
            assert!(p.risk_score.is_none_or(|s| s <= 100));
        }
        Parsed::Explain(f) => {
            assert_eq!(f.merchant, "demo");
            assert!(f.risk_score.is_none_or(|s| s <= 100));
        }
    }
}

fn stripe_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn check_stripe_event(body: &[u8]) {
    match normalize_stripe(body) {
        Ok(ev) => {
            assert!(!ev.provider_event_id.is_empty());
            assert!(!ev.raw_type.is_empty());
            if let Some(c) = &ev.currency {
                assert_eq!(c, &c.to_ascii_uppercase());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fn adyen_signature(key_hex: &str, signing: &str) -> String {
    let key = hex::decode(key_hex).expect("test key is hex");
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(signing.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Writes a correct `hmacSignature` into every item that can hold one;
/// returns whether all items were signed.
fn sign_adyen_items(doc: &mut Value, key_hex: &str) -> bool {
    let Some(items) = doc
        .get_mut("notificationItems")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let mut all = !items.is_empty();
    for item in items.iter_mut() {
        let inner = match item.get_mut("NotificationRequestItem") {
            Some(inner) => inner,
            None => item,
        };
        let signed = adyen_signing_string(inner).ok().and_then(|signing| {
            let additional = inner
                .as_object_mut()?
                .entry("additionalData")
                .or_insert_with(|| Value::Object(Default::default()))
                .as_object_mut()?;
            additional.insert(
                "hmacSignature".into(),
                Value::String(adyen_signature(key_hex, &signing)),
            );
            Some(())
        });
        all &= signed.is_some();
    }
    all
}

fn check_adyen_items(items: &[AdyenItem]) {
    for item in items {
        let ev = normalize_adyen(item);
        assert!(ev.provider_event_id.starts_with(&item.psp_reference));
        assert!(!item.event_code.is_empty());
        assert!(ev.raw_type.starts_with(&item.event_code));
    }
}

// ---------------------------------------------------------------------------
// Rule files
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_rule_files_load_or_fail_naming_their_file(
        which in any::<Index>(),
        muts in mutations(),
    ) {
        let mut texts = rule_texts();
        let donors: Vec<&[u8]> = RULE_FILES.iter().map(|(_, t)| t.as_bytes()).collect();
        let i = which.index(texts.len());
        let mutated = mutate(texts[i].1.as_bytes(), &muts, &donors);
        // In memory the text is a `String`; non-UTF-8 is covered from disk.
        texts[i].1 = String::from_utf8_lossy(&mutated).into_owned();
        let files: Vec<&Path> = texts.iter().map(|(p, _)| p.as_path()).collect();
        if let Err(e) = payroute::config::from_texts(&texts, &test_env) {
            check_rules_error(&e, &files);
        }
    }

    #[test]
    fn any_yaml_value_in_place_of_a_rule_field_loads_or_fails_at_a_line(
        which in any::<Index>(),
        line in any::<Index>(),
        value in prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            prop::sample::select(vec![
                "~", ".inf", "-.nan", "0x1F", "0o17", "1_000", "!!str 5", "'quoted'",
                "\"${UNSET_VAR}\"", "${SET_EMPTY}", "${STRIPE_API_KEY:-}", "*nowhere",
                "&x [1, *x]", "|\n  block", "[stripe_sandbox, stripe_sandbox]",
                "{ stripe_sandbox: 0 }", "{ min: 10, max: 1 }", "99999999999999999999",
                "-1", "4.5", "[]", "{}", "", "\"\"",
            ]).prop_map(str::to_string),
        ],
    ) {
        let mut texts = rule_texts();
        let i = which.index(texts.len());
        let lines: Vec<&str> = texts[i].1.lines().collect();
        let valued: Vec<usize> = (0..lines.len())
            .filter(|&n| !lines[n].trim_start().starts_with('#') && lines[n].contains(": "))
            .collect();
        let n = valued[line.index(valued.len())];
        let (key, _) = lines[n].split_once(": ").unwrap_or_default();
        let replaced = format!("{key}: {value}");
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        edited[n] = replaced;
        texts[i].1 = edited.join("\n");
        let files: Vec<&Path> = texts.iter().map(|(p, _)| p.as_path()).collect();
        if let Err(e) = payroute::config::from_texts(&texts, &test_env) {
            check_rules_error(&e, &files);
        }
    }

    #[test]
    fn a_duplicated_rule_line_is_refused_with_its_position(
        which in any::<Index>(),
        line in any::<Index>(),
    ) {
        let mut texts = rule_texts();
        let i = which.index(texts.len());
        let lines: Vec<&str> = texts[i].1.lines().collect();
        let keyed: Vec<usize> = (0..lines.len())
            .filter(|&n| {
                let l = lines[n].trim_start();
                !l.starts_with('#') && l.contains(':') && !l.is_empty()
            })
            .collect();
        let n = keyed[line.index(keyed.len())];
        let mut edited: Vec<&str> = lines.clone();
        edited.insert(n, lines[n]);
        texts[i].1 = edited.join("\n");
        let files: Vec<&Path> = texts.iter().map(|(p, _)| p.as_path()).collect();
        let e = payroute::config::from_texts(&texts, &test_env)
            .expect_err("a duplicated key or list item must not load");
        check_rules_error(&e, &files);
        prop_assert_eq!(e.path(), files[i], "{}", e);
    }

    #[test]
    fn deeply_nested_rule_files_are_refused_without_overflowing_the_stack(
        depth in 1usize..20_000,
        opener in prop::sample::select(vec!["[", "{a: ", "- ", "a:\n "]),
    ) {
        let text = format!("gateways: {}", opener.repeat(depth));
        let texts = vec![(PathBuf::from("deep.yaml"), text)];
        let e = payroute::config::from_texts(&texts, &test_env).expect_err("no gateway can be that deep");
        check_rules_error(&e, &[Path::new("deep.yaml")]);
    }

    /// The `rules` fuzz target found a panic on `window: 1€`.
    #[test]
    fn any_velocity_window_text_loads_or_is_refused_at_its_line(
        window in prop_oneof![".{0,6}", "[0-9]{1,20}.", "[0-9]{0,3}[smhd€ϔ]"],
    ) {
        let quoted = serde_json::to_string(&window).expect("a string serializes");
        let risk = format!(
            "risk:\n  signals:\n    - name: v\n      velocity: {{key: ip, window: {quoted}, max: 3}}\n      add: 5\n"
        );
        let mut texts = rule_texts();
        texts[2].1 = risk;
        let files: Vec<&Path> = texts.iter().map(|(p, _)| p.as_path()).collect();
        if let Err(e) = payroute::config::from_texts(&texts, &test_env) {
            check_rules_error(&e, &files);
        }
    }

    #[test]
    fn credential_references_expand_or_fail_naming_the_variable(
        refs in prop::collection::vec(
            (prop::sample::select(vec!["STRIPE_API_KEY", "SET_EMPTY", "UNSET_VAR", "OTHER_UNSET"]),
             prop::option::of(prop::sample::select(vec!["", "dflt", "whsec_x"]))),
            2,
        ),
    ) {
        let render = |(name, default): &(&str, Option<&str>)| match default {
            Some(d) => format!("${{{name}:-{d}}}"),
            None => format!("${{{name}}}"),
        };
        let resolves = |(name, default): &(&str, Option<&str>)| {
            test_env(name).is_some_and(|v| !v.is_empty()) || default.is_some_and(|d| !d.is_empty())
        };
        let gateways = format!(
            "gateways:\n  - id: s\n    kind: stripe\n    base_url: http://127.0.0.1:1\n    \
             credentials:\n      api_key: {}\n      webhook_secret: {}\n",
            render(&refs[0]),
            render(&refs[1]),
        );
        let routes = "routes:\n  - name: all\n    gateways: [s]\n".to_string();
        let texts = vec![
            (PathBuf::from("gateways.yaml"), gateways),
            (PathBuf::from("routes.yaml"), routes),
        ];
        match payroute::config::from_texts(&texts, &test_env) {
            Ok(_) => prop_assert!(refs.iter().all(resolves), "loaded with {refs:?}"),
            Err(e) => {
                check_rules_error(&e, &[Path::new("gateways.yaml"), Path::new("routes.yaml")]);
                let failing: Vec<&str> =
                    refs.iter().filter(|r| !resolves(r)).map(|(n, _)| *n).collect();
                prop_assert!(
                    failing.iter().any(|name| e.message().contains(name)),
                    "error `{e}` names none of {failing:?}"
                );
            }
        }
    }
}

proptest! {
    // Each case writes a folder: fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn rule_folders_with_mutated_or_non_utf8_files_fail_naming_the_file(
        which in any::<Index>(),
        muts in mutations(),
        garbage in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let donors: Vec<&[u8]> = RULE_FILES.iter().map(|(_, t)| t.as_bytes()).collect();
        let i = which.index(RULE_FILES.len());
        let mut paths = Vec::new();
        for (n, (name, text)) in RULE_FILES.iter().enumerate() {
            let mut bytes = text.as_bytes().to_vec();
            if n == i {
                bytes = mutate(&bytes, &muts, &donors);
                // Always non-UTF-8 in some cases: a lone continuation byte.
                if garbage.len() % 3 == 0 {
                    bytes.push(0x80);
                }
                bytes.extend_from_slice(&garbage);
            }
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write rule file");
            paths.push(path);
        }
        let mut allowed: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        allowed.push(dir.path());
        if let Err(e) = payroute::config::load_with_env(dir.path(), &test_env) {
            check_rules_error(&e, &allowed);
        }
    }
}

#[test]
fn shipped_rules_load_with_no_environment_set() {
    let rules =
        payroute::config::from_texts(&rule_texts(), &|_: &str| None).expect("shipped rules load");
    let ids: Vec<&str> = rules.gateways.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["stripe_sandbox", "adyen_sandbox", "checkout_sandbox"]);
}

// ---------------------------------------------------------------------------
// Stripe webhooks
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_mutation_of_a_signed_stripe_event_verifies_unless_the_body_is_unchanged(
        which in any::<Index>(),
        body_muts in prop::option::of(mutations()),
        header_muts in prop::option::of(mutations()),
    ) {
        let (header, body) = &STRIPE_SEEDS[which.index(STRIPE_SEEDS.len())];
        let donors: Vec<&[u8]> = STRIPE_SEEDS.iter().map(|(_, b)| b.as_slice()).collect();
        let new_body = body_muts.map_or_else(|| body.clone(), |m| mutate(body, &m, &donors));
        let new_header = header_muts
            .map_or_else(|| header.as_bytes().to_vec(), |m| mutate(header.as_bytes(), &m, &[]));
        let new_header = String::from_utf8_lossy(&new_header);
        let got = verify_stripe_any(&new_body, Some(&new_header), &[STRIPE_SECRET], 300, STRIPE_NOW);
        match got {
            Ok(()) => {
                prop_assert_eq!(&new_body, body, "a tampered body verified");
                check_stripe_event(&new_body);
            }
            Err(e) => {
                prop_assert!(!matches!(e, VerifyError::BadKey(_)), "{e:?}");
                if new_header == header.as_str() {
                    prop_assert_eq!(e, VerifyError::BadSignature);
                }
            }
        }
    }

    #[test]
    fn stripe_normalizer_types_every_refusal_of_a_signed_mutated_body(
        which in any::<Index>(),
        muts in mutations(),
    ) {
        let (_, body) = &STRIPE_SEEDS[which.index(STRIPE_SEEDS.len())];
        let body = mutate(body, &muts, &[]);
        let header = stripe_header(STRIPE_SECRET, STRIPE_NOW, &body);
        prop_assert_eq!(
            verify_stripe_any(&body, Some(&header), &[STRIPE_SECRET], 300, STRIPE_NOW),
            Ok(())
        );
        check_stripe_event(&body);
    }

    #[test]
    fn stripe_normalizer_accepts_or_types_any_json_in_any_event_field(
        which in any::<Index>(),
        edits in json_edits(),
    ) {
        let (_, body) = &STRIPE_SEEDS[which.index(STRIPE_SEEDS.len())];
        let doc: Value = serde_json::from_slice(body).expect("seed is JSON");
        let body = apply_edits(doc, &edits).to_string().into_bytes();
        let header = stripe_header(STRIPE_SECRET, STRIPE_NOW, &body);
        prop_assert_eq!(
            verify_stripe_any(&body, Some(&header), &[STRIPE_SECRET], 300, STRIPE_NOW),
            Ok(())
        );
        check_stripe_event(&body);
    }

    #[test]
    fn random_stripe_signature_headers_are_refused_with_a_typed_error(
        header in prop_oneof![
            ".{0,80}",
            "(t=-?[0-9]{0,22}|v1=[0-9a-f]{0,64}|v0=x|t= 1| ,=|=)(,(t=-?[0-9]{0,22}|v1=[0-9a-f]{0,64}|=)){0,6}",
        ],
    ) {
        let (_, body) = &STRIPE_SEEDS[0];
        let got = verify_stripe_any(body, Some(&header), &[STRIPE_SECRET], 300, STRIPE_NOW);
        prop_assert!(
            matches!(got, Err(VerifyError::Malformed(_) | VerifyError::MissingSignature | VerifyError::BadSignature)),
            "{header:?} -> {got:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Adyen webhooks
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_adyen_notifications_verify_only_with_every_item_signed(
        which in any::<Index>(),
        muts in mutations(),
    ) {
        let (key, body) = &ADYEN_SEEDS[which.index(ADYEN_SEEDS.len())];
        let donors: Vec<&[u8]> = ADYEN_SEEDS.iter().map(|(_, b)| b.as_slice()).collect();
        let body = mutate(body, &muts, &donors);
        match verify_adyen_notification(&body, None, None, &[key]) {
            Ok(items) => {
                prop_assert!(!items.is_empty());
                for item in &items {
                    prop_assert_eq!(verify_adyen_item(&item.raw, &[key]), Ok(()));
                }
                check_adyen_items(&items);
            }
            Err(e) => prop_assert!(!matches!(e, VerifyError::BadKey(_)), "{e:?}"),
        }
    }

    #[test]
    fn adyen_items_resigned_after_mutation_verify_or_are_malformed(
        which in any::<Index>(),
        muts in mutations(),
        edits in json_edits(),
    ) {
        let (key, body) = &ADYEN_SEEDS[which.index(ADYEN_SEEDS.len())];
        let body = mutate(body, &muts, &[]);
        let mut doc = match serde_json::from_slice::<Value>(&body) {
            Ok(doc) => apply_edits(doc, &edits),
            Err(_) => {
                let seed: Value = serde_json::from_slice(&ADYEN_SEEDS[0].1).expect("seed is JSON");
                apply_edits(seed, &edits)
            }
        };
        let all_signed = sign_adyen_items(&mut doc, key);
        let body = doc.to_string();
        // The fuzz target found that a float in a signed field need not
        // survive a JSON round trip; then the verifier sees another value.
        let round_trips = serde_json::from_str::<Value>(&body).is_ok_and(|back| back == doc);
        match verify_adyen_notification(body.as_bytes(), None, None, &[key]) {
            Ok(items) => check_adyen_items(&items),
            Err(e) => prop_assert!(
                !all_signed || !round_trips || matches!(e, VerifyError::Malformed(_)),
                "every item signed, yet {e:?}"
            ),
        }
        if let Some(items) = doc.get("notificationItems").and_then(Value::as_array) {
            for item in items {
                if let Ok(parsed) = AdyenItem::from_value(item) {
                    check_adyen_items(std::slice::from_ref(&parsed));
                }
            }
        }
    }

    #[test]
    fn adyen_basic_auth_accepts_only_the_exact_credentials(
        header in prop_oneof![
            ".{0,40}",
            "(Basic|basic|BASIC|Bearer) {0,2}[A-Za-z0-9+/=]{0,40}",
            "[a-z:]{0,12}".prop_map(|creds| format!("Basic {}", STANDARD.encode(creds))),
        ],
    ) {
        let (key, body) = &ADYEN_SEEDS[0];
        let got = verify_adyen_notification(body, Some(&header), Some(("user", "pass")), &[key]);
        let exact = header.trim().split_once(' ').is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("basic")
                && STANDARD.decode(token.trim()).is_ok_and(|d| d == b"user:pass")
        });
        if exact {
            prop_assert!(got.is_ok(), "{header:?} -> {got:?}");
        } else {
            prop_assert_eq!(got, Err(VerifyError::BadAuth), "{:?}", header);
        }
    }
}

// ---------------------------------------------------------------------------
// Merchant request bodies
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn mutated_request_bodies_parse_or_answer_4xx_with_code_and_message(
        create in any::<bool>(),
        which in any::<Index>(),
        muts in mutations(),
    ) {
        let seeds: Vec<Vec<u8>> = REQUEST_SEEDS.iter().map(|v| v.to_string().into_bytes()).collect();
        let donors: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
        let body = mutate(&seeds[which.index(seeds.len())], &muts, &donors);
        match parse_request(create, "demo", &body) {
            Ok(p) => check_parsed(&p),
            Err(e) => check_api_error(&e),
        }
    }

    #[test]
    fn any_json_in_any_request_field_parses_or_answers_4xx(
        create in any::<bool>(),
        which in any::<Index>(),
        edits in json_edits(),
    ) {
        let seed = REQUEST_SEEDS[which.index(REQUEST_SEEDS.len())].clone();
        let body = apply_edits(seed, &edits).to_string();
        match parse_request(create, "demo", body.as_bytes()) {
            Ok(p) => check_parsed(&p),
            Err(e) => check_api_error(&e),
        }
    }

    #[test]
    fn random_bytes_and_json_documents_as_request_bodies_answer_4xx(
        create in any::<bool>(),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            json_value().prop_map(|v| v.to_string().into_bytes()),
        ],
    ) {
        match parse_request(create, "demo", &body) {
            Ok(p) => check_parsed(&p),
            Err(e) => check_api_error(&e),
        }
    }
}

#[test]
fn every_request_seed_parses_for_both_endpoints() {
    for seed in REQUEST_SEEDS.iter() {
        let body = seed.to_string();
        for create in [true, false] {
            let parsed = parse_request(create, "demo", body.as_bytes());
            assert!(parsed.is_ok(), "{body}: {parsed:?}");
        }
    }
}

#[test]
fn request_bodies_with_edge_numbers_and_nesting_answer_4xx() {
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"amount": 1e400, "currency": "EUR"}"#.to_vec(),
        br#"{"amount": 18446744073709551616, "currency": "EUR"}"#.to_vec(),
        br#"{"amount": -9223372036854775808, "currency": "EUR"}"#.to_vec(),
        br#"{"amount": 1, "amount": "x", "currency": "EUR"}"#.to_vec(),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        format!(
            "{{\"metadata\":{}1{}}}",
            "{\"a\":".repeat(5000),
            "}".repeat(5000)
        )
        .into_bytes(),
        b"{\"reference\": \"\xff\xfe\"}".to_vec(),
        b"\xef\xbb\xbf{}".to_vec(),
    ];
    for body in bodies {
        for create in [true, false] {
            match parse_request(create, "demo", &body) {
                Ok(p) => panic!("accepted {:?}: {p:?}", String::from_utf8_lossy(&body)),
                Err(e) => check_api_error(&e),
            }
        }
    }
}

#[test]
fn every_webhook_seed_verifies_before_mutation() {
    assert!(!STRIPE_SEEDS.is_empty() && !ADYEN_SEEDS.is_empty());
    for (header, body) in STRIPE_SEEDS.iter() {
        let got = verify_stripe_any(body, Some(header), &[STRIPE_SECRET], 300, STRIPE_NOW);
        assert_eq!(got, Ok(()));
    }
    for (key, body) in ADYEN_SEEDS.iter() {
        let items = verify_adyen_notification(body, None, None, &[key]).expect("seed verifies");
        check_adyen_items(&items);
    }
    assert!(ADYEN_SEEDS.iter().any(|(k, _)| k == ADYEN_KEY));
}
