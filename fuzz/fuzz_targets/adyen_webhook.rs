//! Fuzzes Adyen standard-webhook handling: Basic auth plus per-item HMAC
//! verification of any body, item parsing, and normalization of items that
//! pass. In the signing mode every notification item of a JSON input is
//! re-signed with the test key first, so the parser behind the signature
//! check is reached.
//!
//! Input layout: byte 0 chooses the mode. Odd: the rest is a body whose items
//! get signed. Even: the rest is `authorization header \n body`, verified as
//! sent.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use payroute::connectors::adyen::{
    AdyenItem, adyen_signing_string, normalize_adyen, verify_adyen_item, verify_adyen_notification,
};
use payroute::connectors::webhook::VerifyError;
use serde_json::Value;

const KEY_HEX: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const BASIC: (&str, &str) = ("adyen", "hook-password");

fn signature(signing: &str) -> String {
    let key = hex::decode(KEY_HEX).unwrap_or_else(|_| unreachable!("constant hex key"));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(signing.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn normalize_checked(items: &[AdyenItem]) {
    for item in items {
        let ev = normalize_adyen(item);
        assert!(ev.provider_event_id.starts_with(&item.psp_reference));
        assert!(!item.event_code.is_empty());
    }
}

/// Writes a correct `hmacSignature` into one item (wrapped or not); false
/// when the item has no place for one or no signing string.
fn sign_item(item: &mut Value) -> bool {
    let inner = match item.get_mut("NotificationRequestItem") {
        Some(inner) => inner,
        None => item,
    };
    let Ok(signing) = adyen_signing_string(inner) else {
        return false;
    };
    let Some(obj) = inner.as_object_mut() else {
        return false;
    };
    let additional = obj
        .entry("additionalData")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(additional) = additional.as_object_mut() else {
        return false;
    };
    additional.insert("hmacSignature".into(), Value::String(signature(&signing)));
    true
}

fn signed_mode(body: &[u8]) {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let Some(items) = v.get_mut("notificationItems").and_then(Value::as_array_mut) else {
        return;
    };
    let mut all_signed = !items.is_empty();
    for item in items.iter_mut() {
        let signed = sign_item(item);
        all_signed &= signed;
        if signed {
            assert_eq!(
                verify_adyen_item(item, &[KEY_HEX]),
                Ok(()),
                "signed item refused"
            );
            if let Ok(parsed) = AdyenItem::from_value(item) {
                normalize_checked(std::slice::from_ref(&parsed));
            }
        }
    }
    let body = v.to_string();
    // serde_json's default float parsing is not exactly round-trip: a float
    // in a signed field can come back as a neighbouring value, and then the
    // verifier rightly sees a different signing string than was signed.
    let round_trips = serde_json::from_str::<Value>(&body).is_ok_and(|back| back == v);
    match verify_adyen_notification(body.as_bytes(), None, None, &[KEY_HEX]) {
        Ok(items) => normalize_checked(&items),
        // Signed items can still lack the fields that identify an event.
        Err(e) => assert!(
            !all_signed || !round_trips || matches!(e, VerifyError::Malformed(_)),
            "every item signed, yet refused with {e:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        signed_mode(rest);
        return;
    }
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (header, body) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    let header = std::str::from_utf8(header).ok();
    let basic = (mode & 2 == 2).then_some(BASIC);
    match verify_adyen_notification(body, header, basic, &[KEY_HEX, "00ff"]) {
        Ok(items) => normalize_checked(&items),
        Err(e) => {
            assert!(
                !matches!(e, VerifyError::BadKey(_)),
                "valid keys refused: {e}"
            );
            assert!(!e.to_string().is_empty());
        }
    }
});
