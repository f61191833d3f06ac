//! Fuzzes Stripe webhook handling: `Stripe-Signature` verification on any
//! header and body, and the event normalizer behind it on bodies that pass
//! verification (the input is signed with the test secret, so the fuzzer
//! reaches the JSON handling instead of stopping at the HMAC check).
//!
//! Input layout: byte 0 chooses the mode. Odd: the rest is the body, signed
//! correctly. Even: the rest is `header \n body`, verified as sent.

#![no_main]

use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use payroute::connectors::stripe::{normalize_stripe, verify_stripe_any};
use payroute::connectors::webhook::VerifyError;

const SECRET: &str = "whsec_test_5f2b0c9e8d7a6b5c4d3e2f1a0b9c8d7e";
const NOW: i64 = 1_700_000_010;
const TOLERANCE: u64 = 300;

fn sign(t: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn normalize_checked(body: &[u8]) {
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

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        let header = sign(NOW, rest);
        let verified = verify_stripe_any(rest, Some(&header), &[SECRET], TOLERANCE, NOW);
        assert_eq!(verified, Ok(()), "a correctly signed body was refused");
        normalize_checked(rest);
        return;
    }
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (header, body) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    // HTTP header values reach the verifier only as valid UTF-8 text.
    let header = std::str::from_utf8(header).ok();
    match verify_stripe_any(body, header, &[SECRET, "whsec_previous"], TOLERANCE, NOW) {
        Ok(()) => normalize_checked(body),
        Err(e) => {
            assert!(
                !matches!(e, VerifyError::BadKey(_)),
                "valid keys refused: {e}"
            );
            assert!(!e.to_string().is_empty());
        }
    }
});
