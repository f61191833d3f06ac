use serde_json::Value;

use super::*;

const VECTORS: &str = include_str!("../../../tests/fixtures/vectors/stripe_webhook_vectors.json");
const SECRET: &str = "whsec_test_secret";
const BODY: &[u8] = b"{\n  \"id\": \"evt_1\",\n  \"type\": \"payment_intent.succeeded\"\n}";
const T: i64 = 1_700_000_000;

fn sig(secret: &str, t: i64, body: &[u8]) -> String {
    hex::encode(hmac_sha256(
        secret.as_bytes(),
        &[format!("{t}.").as_bytes(), body],
    ))
}

fn header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", sig(secret, t, body))
}

fn check(h: &str, now: i64) -> Result<(), VerifyError> {
    verify_stripe(BODY, Some(h), SECRET, DEFAULT_TOLERANCE_SECS, now)
}

#[test]
fn every_sdk_vector_gives_the_sdk_verdict() {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let got = verify_stripe(
            v["payload"].as_str().unwrap().as_bytes(),
            v["header"].as_str(),
            v["secret"].as_str().unwrap(),
            v["tolerance_seconds"].as_u64().unwrap(),
            v["now"].as_i64().unwrap(),
        );
        assert_eq!(
            got.is_ok(),
            v["expected_valid"].as_bool().unwrap(),
            "{name}: {got:?}"
        );
        let expected_err = match name {
            "wrong_secret" | "tampered_body" => Some(VerifyError::BadSignature),
            "timestamp_outside_tolerance" => Some(VerifyError::Expired),
            "missing_timestamp" => Some(VerifyError::Malformed(
                "Unable to extract timestamp and signatures from header".into(),
            )),
            _ => None,
        };
        if let Some(e) = expected_err {
            assert_eq!(got, Err(e), "{name}");
        }
    }
}

#[test]
fn vector_expected_v1_is_what_we_compute() {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    for v in file["vectors"].as_array().unwrap() {
        let (Some(expected), Some(t)) = (
            v["expected_v1_for_this_secret"].as_str(),
            v["timestamp"].as_i64(),
        ) else {
            continue;
        };
        let ours = sig(
            v["secret"].as_str().unwrap(),
            t,
            v["payload"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(ours, expected, "{}", v["name"]);
    }
}

#[test]
fn fresh_correct_signature_passes() {
    assert_eq!(check(&header(SECRET, T, BODY), T + 10), Ok(()));
}

#[test]
fn tampered_body_is_bad_signature() {
    let h = header(SECRET, T, BODY);
    let tampered = b"{\n  \"id\": \"evt_2\",\n  \"type\": \"payment_intent.succeeded\"\n}";
    assert_eq!(
        verify_stripe(tampered, Some(&h), SECRET, 300, T),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn wrong_secret_is_bad_signature() {
    assert_eq!(
        check(&header("whsec_other", T, BODY), T),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn secret_without_whsec_prefix_does_not_match() {
    // The key is the whole secret string, prefix included.
    let h = header("test_secret", T, BODY);
    assert_eq!(check(&h, T), Err(VerifyError::BadSignature));
}

#[test]
fn one_second_past_tolerance_is_expired() {
    assert_eq!(
        check(&header(SECRET, T, BODY), T + 301),
        Err(VerifyError::Expired)
    );
}

#[test]
fn age_exactly_equal_to_tolerance_passes() {
    assert_eq!(check(&header(SECRET, T, BODY), T + 300), Ok(()));
}

#[test]
fn future_timestamp_passes() {
    assert_eq!(check(&header(SECRET, T + 3600, BODY), T), Ok(()));
}

#[test]
fn zero_tolerance_disables_the_age_check() {
    let h = header(SECRET, T, BODY);
    assert_eq!(
        verify_stripe(BODY, Some(&h), SECRET, 0, T + 1_000_000),
        Ok(())
    );
}

#[test]
fn expiry_is_checked_only_after_the_signature() {
    // A stale header with a wrong signature is a bad signature, as in the SDK.
    assert_eq!(
        check(&header("whsec_other", T, BODY), T + 10_000),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn missing_header_is_missing_signature() {
    assert_eq!(
        verify_stripe(BODY, None, SECRET, 300, T),
        Err(VerifyError::MissingSignature)
    );
}

#[test]
fn header_without_v1_is_missing_signature() {
    let h = format!("t={T},v0={}", sig(SECRET, T, BODY));
    assert_eq!(check(&h, T), Err(VerifyError::MissingSignature));
}

#[test]
fn header_without_timestamp_is_malformed() {
    let h = format!("v1={}", sig(SECRET, T, BODY));
    assert!(matches!(check(&h, T), Err(VerifyError::Malformed(_))));
}

#[test]
fn non_integer_timestamp_is_malformed() {
    let h = format!("t=17e8,v1={}", sig(SECRET, T, BODY));
    assert!(matches!(check(&h, T), Err(VerifyError::Malformed(_))));
}

#[test]
fn any_of_several_v1_matching_passes_in_any_order() {
    let good = sig(SECRET, T, BODY);
    let bad = sig("whsec_other", T, BODY);
    let h = format!("v1={bad},v0=abc,v1={good},t={T}");
    assert_eq!(check(&h, T), Ok(()));
}

#[test]
fn uppercase_hex_signature_does_not_match() {
    // The SDK compares strings: Stripe always sends lowercase hex.
    let h = format!("t={T},v1={}", sig(SECRET, T, BODY).to_uppercase());
    assert_eq!(check(&h, T), Err(VerifyError::BadSignature));
}

#[test]
fn previous_secret_still_verifies_during_rotation() {
    let h = header("whsec_previous", T, BODY);
    assert_eq!(
        verify_stripe_any(BODY, Some(&h), &["whsec_current", "whsec_previous"], 300, T),
        Ok(())
    );
    assert_eq!(
        verify_stripe_any(BODY, Some(&h), &["whsec_current"], 300, T),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn no_or_empty_secret_is_a_key_error() {
    let h = header(SECRET, T, BODY);
    assert!(matches!(
        verify_stripe_any(BODY, Some(&h), &[], 300, T),
        Err(VerifyError::BadKey(_))
    ));
    let empty = header("", T, BODY);
    assert!(matches!(
        verify_stripe(BODY, Some(&empty), "", 300, T),
        Err(VerifyError::BadKey(_))
    ));
}

#[test]
fn signature_covers_raw_bytes_not_reserialized_json() {
    let compact = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    assert_eq!(
        check(&header(SECRET, T, compact), T),
        Err(VerifyError::BadSignature)
    );
}
