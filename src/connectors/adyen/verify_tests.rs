use serde_json::{Value, json};

use super::*;

const VECTORS: &str = include_str!("../../../tests/fixtures/vectors/adyen_hmac_vectors.json");
const KEY: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90112233445566778899AABBCCDDEEFF00";
const OTHER_KEY: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

fn sign_with(key_hex: &str, item: &Value) -> String {
    let key = hex::decode(key_hex).unwrap();
    STANDARD.encode(hmac_sha256(
        &key,
        &[adyen_signing_string(item).unwrap().as_bytes()],
    ))
}

/// An AUTHORISATION item for `psp`, signed with `key_hex`.
fn item(psp: &str, key_hex: &str) -> Value {
    let mut inner = json!({
        "pspReference": psp,
        "merchantReference": "ord_1",
        "merchantAccountCode": "GatewayTestECOM",
        "amount": {"currency": "EUR", "value": 1000},
        "eventCode": "AUTHORISATION",
        "eventDate": "2024-03-01T09:59:00+01:00",
        "success": "true",
        "additionalData": {}
    });
    inner["additionalData"]["hmacSignature"] = json!(sign_with(key_hex, &inner));
    json!({"NotificationRequestItem": inner})
}

fn body(items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"live": "false", "notificationItems": items})).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[test]
fn every_sdk_vector_gives_the_sdk_verdict() {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let key = v["hmac_key_hex"].as_str().unwrap();
        let raw = v["notification_json"].as_str().unwrap();
        let expected = v["expected_valid"].as_bool().unwrap();
        let got = verify_adyen_notification(raw.as_bytes(), None, None, &[key]);
        assert_eq!(got.is_ok(), expected, "{name}: {got:?}");
        if !expected {
            assert_eq!(got.unwrap_err(), VerifyError::BadSignature, "{name}");
        }
        let parsed: Value = serde_json::from_str(raw).unwrap();
        let item = &parsed["notificationItems"][0];
        assert_eq!(verify_adyen_item(item, &[key]).is_ok(), expected, "{name}");
        assert_eq!(
            adyen_signing_string(item).unwrap(),
            v["signing_string_sdk"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            sign_with(key, item),
            v["expected_signature_for_item"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn sdk_vector_items_are_parsed() {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let v = &file["vectors"][4];
    assert_eq!(v["name"], "refund_failed_success_false");
    let key = v["hmac_key_hex"].as_str().unwrap();
    let items = verify_adyen_notification(
        v["notification_json"].as_str().unwrap().as_bytes(),
        None,
        None,
        &[key],
    )
    .unwrap();
    assert_eq!(items.len(), 1);
    let it = &items[0];
    assert_eq!(it.psp_reference, "LKJ8XW3M2N4P5Q6R");
    assert_eq!(it.original_reference.as_deref(), Some("QFQTPCQ8HXSKGK82"));
    assert_eq!(it.merchant_reference.as_deref(), Some("refund-ord_7f3a-1"));
    assert_eq!(it.merchant_account.as_deref(), Some("GatewayTestECOM"));
    assert_eq!(it.event_code, "REFUND_FAILED");
    assert!(!it.success);
    assert_eq!(it.success_raw, "false");
    assert_eq!(
        (it.amount_value, it.amount_currency.as_deref()),
        (Some(500), Some("JPY"))
    );
    assert_eq!(
        it.reason.as_deref(),
        Some("Refund failed: insufficient balance")
    );
    assert_eq!(it.event_date.as_deref(), Some("2024-03-02T12:00:00+01:00"));
    assert_eq!(it.raw["pspReference"], "LKJ8XW3M2N4P5Q6R");
    assert_eq!(AdyenItem::from_value(&it.raw).unwrap(), *it);
}

#[test]
fn colon_and_backslash_in_values_are_signed_unescaped() {
    // Known answer computed independently (Python hmac + base64) over
    // `LKJ8XW3M2N4P5Q6R:QFQTPCQ8HXSKGK82:GatewayTestECOM:order:42\x//y:1500:EUR:REFUND:true`.
    let item = json!({"NotificationRequestItem": {
        "pspReference": "LKJ8XW3M2N4P5Q6R",
        "originalReference": "QFQTPCQ8HXSKGK82",
        "merchantAccountCode": "GatewayTestECOM",
        "merchantReference": "order:42\\x//y",
        "amount": {"value": 1500, "currency": "EUR"},
        "eventCode": "REFUND",
        "success": "true",
        "additionalData": {"hmacSignature": "huJ/ckdBFns0WGEOF/gV1EnLscRiy/69tOAifo8n+eo="}
    }});
    assert_eq!(
        adyen_signing_string(&item).unwrap(),
        "LKJ8XW3M2N4P5Q6R:QFQTPCQ8HXSKGK82:GatewayTestECOM:order:42\\x//y:1500:EUR:REFUND:true"
    );
    assert_eq!(verify_adyen_item(&item, &[KEY]), Ok(()));
}

#[test]
fn missing_original_reference_signs_as_empty_field() {
    // Known answer (Python) over `QFQTPCQ8HXSKGK82::GatewayTestECOM:ord_1:1000:EUR:AUTHORISATION:true`.
    let mut it = item("QFQTPCQ8HXSKGK82", KEY);
    assert_eq!(
        it["NotificationRequestItem"]["additionalData"]["hmacSignature"],
        "DTw+4FtNn9THlwyoZQxLnyBErXUO1BpAdMQwqT/JEm4="
    );
    assert_eq!(verify_adyen_item(&it, &[KEY]), Ok(()));
    it["NotificationRequestItem"]["originalReference"] = Value::Null;
    assert_eq!(
        verify_adyen_item(&it, &[KEY]),
        Ok(()),
        "null is the same as absent"
    );
}

#[test]
fn amount_value_sent_as_string_is_signed_as_is() {
    let mut inner = item("PSP1", KEY)["NotificationRequestItem"].clone();
    inner["amount"]["value"] = json!("1000");
    assert_eq!(verify_adyen_item(&inner, &[KEY]), Ok(()));
    assert_eq!(
        AdyenItem::from_value(&inner).unwrap().amount_value,
        Some(1000)
    );
}

#[test]
fn changing_any_signed_field_breaks_the_signature() {
    let original = item("PSP1", KEY);
    for (path, value) in [
        ("/NotificationRequestItem/pspReference", json!("PSP2")),
        ("/NotificationRequestItem/merchantReference", json!("ord_2")),
        (
            "/NotificationRequestItem/merchantAccountCode",
            json!("Other"),
        ),
        ("/NotificationRequestItem/amount/value", json!(1001)),
        ("/NotificationRequestItem/amount/currency", json!("USD")),
        ("/NotificationRequestItem/eventCode", json!("CAPTURE")),
        ("/NotificationRequestItem/success", json!("false")),
    ] {
        let mut tampered = original.clone();
        *tampered.pointer_mut(path).unwrap() = value;
        assert_eq!(
            verify_adyen_item(&tampered, &[KEY]),
            Err(VerifyError::BadSignature),
            "{path}"
        );
    }
}

#[test]
fn unsigned_fields_do_not_affect_the_signature() {
    let mut it = item("PSP1", KEY);
    it["NotificationRequestItem"]["reason"] = json!("anything");
    it["NotificationRequestItem"]["eventDate"] = json!("2030-01-01T00:00:00Z");
    assert_eq!(verify_adyen_item(&it, &[KEY]), Ok(()));
}

#[test]
fn batch_with_one_bad_item_is_refused_whole() {
    let mut bad = item("PSP2", KEY);
    bad["NotificationRequestItem"]["amount"]["value"] = json!(999_999);
    let raw = body(vec![item("PSP1", KEY), bad, item("PSP3", KEY)]);
    assert_eq!(
        verify_adyen_notification(&raw, None, None, &[KEY]),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn batch_of_good_items_returns_all_in_order() {
    let raw = body(vec![item("PSP1", KEY), item("PSP2", KEY)]);
    let items = verify_adyen_notification(&raw, None, None, &[KEY]).unwrap();
    let psps: Vec<_> = items.iter().map(|i| i.psp_reference.as_str()).collect();
    assert_eq!(psps, ["PSP1", "PSP2"]);
    assert!(
        items
            .iter()
            .all(|i| i.success && i.event_code == "AUTHORISATION")
    );
}

#[test]
fn item_signed_with_previous_key_verifies_during_rotation() {
    let raw = body(vec![item("PSP1", KEY), item("PSP2", OTHER_KEY)]);
    assert!(verify_adyen_notification(&raw, None, None, &[KEY, OTHER_KEY]).is_ok());
    assert_eq!(
        verify_adyen_notification(&raw, None, None, &[KEY]),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn hmac_key_hex_is_case_insensitive() {
    assert_eq!(
        verify_adyen_item(&item("PSP1", KEY), &[&KEY.to_lowercase()]),
        Ok(())
    );
}

#[test]
fn non_hex_or_empty_key_is_a_key_error() {
    let it = item("PSP1", KEY);
    for bad in ["not-hex-zz", "ABC", ""] {
        assert!(
            matches!(verify_adyen_item(&it, &[bad]), Err(VerifyError::BadKey(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        verify_adyen_item(&it, &[]),
        Err(VerifyError::BadKey(_))
    ));
    // A bad key is reported even when another key would match.
    assert!(matches!(
        verify_adyen_item(&it, &[KEY, "zz"]),
        Err(VerifyError::BadKey(_))
    ));
}

#[test]
fn item_without_signature_is_missing_signature() {
    let mut it = item("PSP1", KEY);
    it["NotificationRequestItem"]["additionalData"] = json!({});
    assert_eq!(
        verify_adyen_item(&it, &[KEY]),
        Err(VerifyError::MissingSignature)
    );
    it["NotificationRequestItem"]
        .as_object_mut()
        .unwrap()
        .remove("additionalData");
    let raw = body(vec![it]);
    assert_eq!(
        verify_adyen_notification(&raw, None, None, &[KEY]),
        Err(VerifyError::MissingSignature)
    );
}

#[test]
fn malformed_bodies_are_malformed() {
    for raw in [
        &b"not json"[..],
        br#"{"live":"false"}"#,
        br#"{"notificationItems":[]}"#,
        br#"{"notificationItems":[7]}"#,
    ] {
        let got = verify_adyen_notification(raw, None, None, &[KEY]);
        assert!(
            matches!(got, Err(VerifyError::Malformed(_))),
            "{}: {got:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn signed_item_without_psp_reference_is_malformed() {
    let mut inner = item("PSP1", KEY)["NotificationRequestItem"].clone();
    inner.as_object_mut().unwrap().remove("pspReference");
    inner["additionalData"]["hmacSignature"] = json!(sign_with(KEY, &inner));
    let raw = body(vec![json!({"NotificationRequestItem": inner})]);
    assert!(matches!(
        verify_adyen_notification(&raw, None, None, &[KEY]),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn basic_auth_right_credentials_pass() {
    let raw = body(vec![item("PSP1", KEY)]);
    let h = basic("adyen_user", "s3cret:with:colons");
    let got = verify_adyen_notification(
        &raw,
        Some(&h),
        Some(("adyen_user", "s3cret:with:colons")),
        &[KEY],
    );
    assert_eq!(got.map(|i| i.len()), Ok(1));
    let lower = h.replacen("Basic", "basic", 1);
    assert!(
        verify_adyen_notification(
            &raw,
            Some(&lower),
            Some(("adyen_user", "s3cret:with:colons")),
            &[KEY]
        )
        .is_ok()
    );
}

#[test]
fn basic_auth_wrong_or_missing_is_bad_auth() {
    let raw = body(vec![item("PSP1", KEY)]);
    let expected = Some(("adyen_user", "s3cret"));
    for h in [
        Some(basic("adyen_user", "wrong")),
        Some(basic("other", "s3cret")),
        Some(basic("adyen_user", "s3cret ")),
        Some(format!("Bearer {}", STANDARD.encode("adyen_user:s3cret"))),
        Some("Basic !!!".to_string()),
        Some("Basic".to_string()),
        None,
    ] {
        let got = verify_adyen_notification(&raw, h.as_deref(), expected, &[KEY]);
        assert_eq!(got, Err(VerifyError::BadAuth), "{h:?}");
    }
}

#[test]
fn basic_auth_is_checked_before_the_body() {
    let got = verify_adyen_notification(b"not json", None, Some(("u", "p")), &[KEY]);
    assert_eq!(got, Err(VerifyError::BadAuth));
}

#[test]
fn basic_auth_header_is_ignored_when_not_configured() {
    let raw = body(vec![item("PSP1", KEY)]);
    let h = basic("whoever", "whatever");
    assert!(verify_adyen_notification(&raw, Some(&h), None, &[KEY]).is_ok());
}
