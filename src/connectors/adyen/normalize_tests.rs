use serde_json::{Value, json};

use super::*;
use crate::connectors::adyen::verify_adyen_notification;

const VECTORS: &str = include_str!("../../../tests/fixtures/vectors/adyen_hmac_vectors.json");

fn item(code: &str, success: &str, original: Option<&str>) -> AdyenItem {
    let mut v = json!({
        "pspReference": "MODPSP", "merchantReference": "pay_1", "merchantAccountCode": "M",
        "amount": {"currency": "eur", "value": 1000}, "eventCode": code, "success": success,
        "eventDate": "2019-05-06T17:15:34.121+02:00", "reason": "why"
    });
    if let Some(o) = original {
        v["originalReference"] = json!(o);
    }
    AdyenItem::from_value(&v).unwrap()
}

fn vector_items(name: &str) -> Vec<AdyenItem> {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let v = file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap();
    let raw = v["notification_json"].as_str().unwrap().as_bytes();
    verify_adyen_notification(raw, None, None, &[v["hmac_key_hex"].as_str().unwrap()]).unwrap()
}

#[test]
fn sdk_authorisation_vector_is_authorized_on_its_own_psp() {
    let ev = normalize_adyen(&vector_items("authorisation_no_originalReference")[0]);
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentAuthorized));
    assert_eq!(ev.provider_event_id, "QFQTPCQ8HXSKGK82:AUTHORISATION:true");
    assert_eq!(ev.payment_reference.as_deref(), Some("QFQTPCQ8HXSKGK82"));
    assert_eq!(ev.object_reference, None);
    assert_eq!(ev.merchant_reference.as_deref(), Some("ord_7f3a"));
    assert_eq!(
        (ev.amount, ev.currency.as_deref()),
        (Some(2599), Some("USD"))
    );
    assert_eq!(ev.raw_type, "AUTHORISATION:true");
    assert_eq!(ev.occurred_at, Some(1_709_283_540));
}

#[test]
fn sdk_refund_failed_vector_points_at_payment_and_refund() {
    let ev = normalize_adyen(&vector_items("refund_failed_success_false")[0]);
    assert_eq!(ev.kind, Some(NormalizedKind::RefundFailed));
    assert_eq!(ev.provider_event_id, "LKJ8XW3M2N4P5Q6R:REFUND_FAILED:false");
    assert_eq!(ev.payment_reference.as_deref(), Some("QFQTPCQ8HXSKGK82"));
    assert_eq!(ev.object_reference.as_deref(), Some("LKJ8XW3M2N4P5Q6R"));
    assert_eq!(
        ev.reason.as_deref(),
        Some("Refund failed: insufficient balance")
    );
    assert_eq!(
        (ev.amount, ev.currency.as_deref()),
        (Some(500), Some("JPY"))
    );
}

#[test]
fn event_code_and_success_map_to_the_normalized_kind() {
    use NormalizedKind as K;
    let table = [
        ("AUTHORISATION", "true", Some(K::PaymentAuthorized)),
        ("AUTHORISATION", "false", Some(K::PaymentFailed)),
        ("CAPTURE", "true", Some(K::PaymentCaptured)),
        ("CAPTURE", "false", Some(K::PaymentCaptureFailed)),
        ("CAPTURE_FAILED", "true", Some(K::PaymentCaptureFailed)),
        ("CANCELLATION", "true", Some(K::PaymentVoided)),
        ("CANCELLATION", "false", Some(K::PaymentVoidFailed)),
        ("CANCEL_OR_REFUND", "true", Some(K::PaymentVoided)),
        ("REFUND", "true", Some(K::RefundSucceeded)),
        ("REFUND", "false", Some(K::RefundFailed)),
        ("REFUND_FAILED", "true", Some(K::RefundFailed)),
        ("REFUNDED_REVERSED", "true", Some(K::RefundFailed)),
        ("CHARGEBACK", "true", Some(K::DisputeOpened)),
        ("NOTIFICATION_OF_CHARGEBACK", "true", Some(K::DisputeOpened)),
        ("CHARGEBACK_REVERSED", "true", Some(K::DisputeWon)),
        ("PREARBITRATION_WON", "true", Some(K::DisputeWon)),
        ("SECOND_CHARGEBACK", "true", Some(K::DisputeLost)),
        ("PREARBITRATION_LOST", "true", Some(K::DisputeLost)),
        ("REQUEST_FOR_INFORMATION", "true", None),
        ("OFFER_CLOSED", "true", None),
        ("REPORT_AVAILABLE", "true", None),
    ];
    for (code, success, expected) in table {
        let ev = normalize_adyen(&item(code, success, Some("PAYPSP")));
        assert_eq!(ev.kind, expected, "{code}:{success}");
        assert_eq!(ev.raw_type, format!("{code}:{success}"));
    }
}

#[test]
fn cancel_or_refund_that_refunded_is_a_refund() {
    let mut v = item("CANCEL_OR_REFUND", "true", Some("PAYPSP")).raw;
    v["additionalData"] = json!({"modification.action": "refund"});
    let ev = normalize_adyen(&AdyenItem::from_value(&v).unwrap());
    assert_eq!(ev.kind, Some(NormalizedKind::RefundSucceeded));
    v["additionalData"] = json!({"modification.action": "cancel"});
    let ev = normalize_adyen(&AdyenItem::from_value(&v).unwrap());
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentVoided));
}

#[test]
fn modifications_and_disputes_reference_the_payment_by_original_reference() {
    for code in [
        "CAPTURE",
        "CANCELLATION",
        "REFUND",
        "CHARGEBACK",
        "SECOND_CHARGEBACK",
    ] {
        let ev = normalize_adyen(&item(code, "true", Some("PAYPSP")));
        assert_eq!(ev.payment_reference.as_deref(), Some("PAYPSP"), "{code}");
        assert_eq!(ev.object_reference.as_deref(), Some("MODPSP"), "{code}");
        assert_eq!(ev.merchant_reference.as_deref(), Some("pay_1"), "{code}");
    }
}

#[test]
fn modification_without_original_reference_names_no_payment() {
    let ev = normalize_adyen(&item("REFUND", "true", None));
    assert_eq!(ev.payment_reference, None);
    assert_eq!(ev.object_reference.as_deref(), Some("MODPSP"));
}

#[test]
fn refused_authorisation_carries_the_reason() {
    let ev = normalize_adyen(&item("AUTHORISATION", "false", None));
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentFailed));
    assert_eq!(ev.reason.as_deref(), Some("why"));
    assert_eq!(ev.payment_reference.as_deref(), Some("MODPSP"));
}

#[test]
fn success_is_part_of_the_event_identity() {
    let yes = normalize_adyen(&item("REFUND", "true", Some("P")));
    let no = normalize_adyen(&item("REFUND", "false", Some("P")));
    assert_ne!(yes.provider_event_id, no.provider_event_id);
    assert_eq!(no.provider_event_id, "MODPSP:REFUND:false");
}

#[test]
fn currency_is_upper_cased_and_event_date_parsed() {
    let ev = normalize_adyen(&item("CAPTURE", "true", Some("P")));
    assert_eq!(ev.currency.as_deref(), Some("EUR"));
    assert_eq!(ev.occurred_at, Some(1_557_155_734));
    let mut v = item("CAPTURE", "true", Some("P")).raw;
    v["eventDate"] = json!("yesterday");
    assert_eq!(
        normalize_adyen(&AdyenItem::from_value(&v).unwrap()).occurred_at,
        None
    );
}

#[test]
fn amounts_in_adyens_scale_read_back_in_iso_minor_units() {
    let scaled = |currency: &str, value: i64| {
        let v = json!({
            "pspReference": "PSP", "merchantReference": "pay_1", "merchantAccountCode": "M",
            "amount": {"currency": currency, "value": value}, "eventCode": "AUTHORISATION",
            "success": "true"
        });
        normalize_adyen(&AdyenItem::from_value(&v).unwrap()).amount
    };
    assert_eq!(scaled("CLP", 500_000), Some(5000), "hundredths → pesos");
    assert_eq!(scaled("IDR", 15_000), Some(1_500_000), "rupiah → ISO cents");
    assert_eq!(scaled("EUR", 1000), Some(1000));
}
