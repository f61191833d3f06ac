//! Fuzzes the rule-file parser and compiler from memory: the input is split
//! on NUL bytes into up to four YAML files of one ruleset, compiled with a
//! fixed environment. Any panic is a bug; every refusal must name one of the
//! files and say something.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

/// Fixed names so an error's path can be checked against them; built once
/// because libFuzzer runs millions of inputs per process.
static NAMES: LazyLock<[PathBuf; 4]> = LazyLock::new(|| {
    [
        "00-gateways.yaml",
        "10-merchants.yaml",
        "20-risk.yaml",
        "30-routes.yaml",
    ]
    .map(PathBuf::from)
});

/// Some variables set, some set but empty, the rest unset: all three paths
/// of `${VAR}` expansion are reachable.
fn env(name: &str) -> Option<String> {
    match name {
        "STRIPE_API_KEY" | "ADYEN_API_KEY" | "DEMO_WEBHOOK_SECRET" => Some("sk_test_fuzz".into()),
        "ADYEN_HMAC_KEY" => Some("44782DEF547AAA06C910C43932B1EB0C".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    // `config::load` refuses a non-UTF-8 file on read, before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let texts: Vec<(PathBuf, String)> = text
        .splitn(NAMES.len(), '\0')
        .zip(NAMES.iter())
        .map(|(t, name)| (name.clone(), t.to_owned()))
        .collect();
    match payroute::config::from_texts(&texts, &env) {
        Ok(rules) => {
            assert!(
                !rules.gateways.is_empty(),
                "a ruleset without gateways loaded"
            );
            assert_eq!(rules.version.len(), 12);
            let _ = rules.summary();
        }
        Err(e) => {
            assert!(!e.message().trim().is_empty(), "empty message: {e:?}");
            assert!(
                texts.iter().any(|(name, _)| name == e.path()),
                "error names no input file: {e}"
            );
        }
    }
});
