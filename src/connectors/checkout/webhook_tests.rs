//! `Cko-Signature` checks and event normalisation on samples shaped like
//! the docs' payloads.

use serde_json::{Value, json};

use super::*;

const KEY: &str = "cko_signature_key";
const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_approved"}"#;

fn sign(key: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(key.as_bytes(), &[body]))
}

#[test]
fn known_answer_matches_openssl() {
    // printf '%s' '{"id":"evt_1","type":"payment_approved"}' | openssl dgst -sha256 -hmac cko_signature_key
    assert_eq!(
        sign(KEY, BODY),
        "9ace201a2d7d33ee013c2ee6d203329b6c162356e5bea6ce7e1a5e91dbc1cb17"
    );
}

#[test]
fn correct_signature_passes_in_either_hex_case() {
    assert_eq!(
        verify_signature(BODY, Some(&sign(KEY, BODY)), &[KEY]),
        Ok(())
    );
    let upper = sign(KEY, BODY).to_uppercase();
    assert_eq!(verify_signature(BODY, Some(&upper), &[KEY]), Ok(()));
}

#[test]
fn the_previous_key_still_verifies_during_rotation() {
    let old = sign("old_key", BODY);
    assert_eq!(
        verify_signature(BODY, Some(&old), &[KEY, "old_key"]),
        Ok(())
    );
    assert_eq!(
        verify_signature(BODY, Some(&old), &[KEY]),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn tampered_body_or_wrong_key_is_bad_signature() {
    let sig = sign(KEY, BODY);
    let tampered = br#"{"id":"evt_2","type":"payment_approved"}"#;
    assert_eq!(
        verify_signature(tampered, Some(&sig), &[KEY]),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        verify_signature(BODY, Some(&sig), &["other"]),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        verify_signature(BODY, Some("abc"), &[KEY]),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn missing_or_blank_header_is_missing_signature() {
    assert_eq!(
        verify_signature(BODY, None, &[KEY]),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(
        verify_signature(BODY, Some("  "), &[KEY]),
        Err(VerifyError::MissingSignature)
    );
}

#[test]
fn no_usable_key_is_a_key_error() {
    assert!(matches!(
        verify_signature(BODY, Some("00"), &[""]),
        Err(VerifyError::BadKey(_))
    ));
    assert!(matches!(
        verify_signature(BODY, Some("00"), &[]),
        Err(VerifyError::BadKey(_))
    ));
}

fn event(event_type: &str, data: Value) -> GatewayEvent {
    let body = json!({
        "id": "evt_az5sblvku4ge3dwpztvyizgcau", "type": event_type, "version": "1.0.29",
        "created_on": "2026-12-02T10:00:00Z", "data": data,
        "_links": {"self": {"href": "https://api.checkout.com/workflows/events/evt_az5sblvku4ge3dwpztvyizgcau"}}
    });
    normalize(&serde_json::to_vec(&body).unwrap()).unwrap()
}

fn payment_data(extra: Value) -> Value {
    let mut data = json!({
        "id": "pay_mbabizu24mvu3mela5njyhpit4", "action_id": "act_y3oqhf46pyzuxjbcn2giaqnb44",
        "reference": "pay_1", "amount": 1000, "currency": "eur",
        "response_code": "10000", "response_summary": "Approved",
        "metadata": {"payroute_payment_id": "pay_1"}
    });
    data.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    data
}

#[test]
fn payment_approved_is_an_authorization_of_the_payment() {
    let ev = event("payment_approved", payment_data(json!({})));
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentAuthorized));
    assert_eq!(ev.provider_event_id, "evt_az5sblvku4ge3dwpztvyizgcau");
    assert_eq!(
        ev.payment_reference.as_deref(),
        Some("pay_mbabizu24mvu3mela5njyhpit4")
    );
    assert_eq!(ev.object_reference, None);
    assert_eq!(ev.merchant_reference.as_deref(), Some("pay_1"));
    assert_eq!(
        (ev.amount, ev.currency.as_deref()),
        (Some(1000), Some("EUR"))
    );
    assert_eq!(ev.raw_type, "payment_approved");
    assert_eq!(ev.occurred_at, Some(1_796_205_600));
}

#[test]
fn event_types_map_to_the_normalized_kind() {
    use NormalizedKind as K;
    for (event_type, kind) in [
        ("payment_approved", Some(K::PaymentAuthorized)),
        ("payment_declined", Some(K::PaymentFailed)),
        ("payment_captured", Some(K::PaymentCaptured)),
        ("payment_capture_declined", Some(K::PaymentCaptureFailed)),
        ("payment_voided", Some(K::PaymentVoided)),
        ("payment_void_declined", Some(K::PaymentVoidFailed)),
        ("payment_refunded", Some(K::RefundSucceeded)),
        ("payment_refund_declined", Some(K::RefundFailed)),
        ("payment_pending", None),
        ("payment_capture_pending", None),
        ("payment_expired", None),
        ("card_verified", None),
    ] {
        assert_eq!(
            event(event_type, payment_data(json!({}))).kind,
            kind,
            "{event_type}"
        );
    }
}

#[test]
fn a_declined_payment_keeps_the_summary_as_reason() {
    let data =
        payment_data(json!({"response_code": "20051", "response_summary": "Insufficient Funds"}));
    let ev = event("payment_declined", data);
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentFailed));
    assert_eq!(ev.reason.as_deref(), Some("Insufficient Funds"));
}

#[test]
fn capture_and_void_name_the_payment_and_their_action() {
    for t in [
        "payment_captured",
        "payment_voided",
        "payment_capture_declined",
    ] {
        let ev = event(t, payment_data(json!({})));
        assert_eq!(
            ev.payment_reference.as_deref(),
            Some("pay_mbabizu24mvu3mela5njyhpit4"),
            "{t}"
        );
        assert_eq!(
            ev.object_reference.as_deref(),
            Some("act_y3oqhf46pyzuxjbcn2giaqnb44"),
            "{t}"
        );
        assert_eq!(ev.merchant_reference.as_deref(), Some("pay_1"), "{t}");
    }
}

#[test]
fn refund_events_name_payroutes_refund() {
    let by_meta = payment_data(json!({"amount": 400, "reference": "re_payroute1",
        "metadata": {"payroute_refund_id": "re_payroute1"}}));
    let ev = event("payment_refunded", by_meta);
    assert_eq!(ev.kind, Some(NormalizedKind::RefundSucceeded));
    assert_eq!(ev.merchant_reference.as_deref(), Some("re_payroute1"));
    assert_eq!(
        ev.object_reference.as_deref(),
        Some("act_y3oqhf46pyzuxjbcn2giaqnb44")
    );
    assert_eq!(ev.amount, Some(400));
    // The payment's metadata only, refund reference on the event.
    let by_reference = payment_data(json!({"reference": "re_payroute2"}));
    let ev = event("payment_refund_declined", by_reference);
    assert_eq!(ev.kind, Some(NormalizedKind::RefundFailed));
    assert_eq!(ev.merchant_reference.as_deref(), Some("re_payroute2"));
    // A reversal's refund names the payment it reverses.
    let reversal = payment_data(json!({"reference": "pay_1-reversal", "metadata": {}}));
    let ev = event("payment_refunded", reversal);
    assert_eq!(ev.merchant_reference.as_deref(), Some("pay_1-reversal"));
}

#[test]
fn disputes_name_the_payment_and_the_dispute() {
    use NormalizedKind as K;
    let data = json!({"id": "dsp_rbhwd2qrg13uhrp2newf", "payment_id": "pay_mbabizu24mvu3mela5njyhpit4",
        "amount": 1000, "currency": "GBP", "reason": "fraudulent", "category": "fraudulent",
        "evidence_required_by": "2026-12-20T00:00:00Z"});
    for (t, kind) in [
        ("dispute_received", Some(K::DisputeOpened)),
        ("dispute_evidence_required", Some(K::DisputeOpened)),
        ("dispute_won", Some(K::DisputeWon)),
        ("dispute_lost", Some(K::DisputeLost)),
        ("dispute_accepted", Some(K::DisputeLost)),
        ("dispute_canceled", None),
    ] {
        let ev = event(t, data.clone());
        assert_eq!(ev.kind, kind, "{t}");
        assert_eq!(
            ev.payment_reference.as_deref(),
            Some("pay_mbabizu24mvu3mela5njyhpit4")
        );
        assert_eq!(
            ev.object_reference.as_deref(),
            Some("dsp_rbhwd2qrg13uhrp2newf")
        );
        assert_eq!(ev.reason.as_deref(), Some("fraudulent"));
    }
}

#[test]
fn events_without_id_type_or_data_are_refused() {
    assert!(matches!(
        normalize(b"not json"),
        Err(NormalizeError::NotJson(_))
    ));
    assert_eq!(
        normalize(br#"{"type":"payment_approved","data":{}}"#),
        Err(NormalizeError::Missing("id"))
    );
    assert_eq!(
        normalize(br#"{"id":"evt_1","data":{}}"#),
        Err(NormalizeError::Missing("type"))
    );
    assert_eq!(
        normalize(br#"{"id":"evt_1","type":"payment_approved"}"#),
        Err(NormalizeError::Missing("data"))
    );
}

#[test]
fn event_amounts_come_back_in_iso_minor_units() {
    // Checkout.com reports CLP in hundredths: 5,000 pesos is 500000.
    let ev = event(
        "payment_captured",
        payment_data(json!({"amount": 500_000, "currency": "CLP"})),
    );
    assert_eq!(
        (ev.amount, ev.currency.as_deref()),
        (Some(5000), Some("CLP"))
    );
    let ev = event(
        "payment_captured",
        payment_data(json!({"amount": 500_000, "currency": "JPY"})),
    );
    assert_eq!(ev.amount, Some(500_000));
}
