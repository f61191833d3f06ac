//! Canned Checkout.com replies, one per outcome class.

use super::*;
use serde_json::json;

fn pay(code: u16, body: serde_json::Value, manual: bool) -> Outcome {
    classify_payment(
        StatusCode::from_u16(code).unwrap(),
        &HeaderMap::new(),
        body.to_string().as_bytes(),
        manual,
    )
}

fn err(code: u16, body: serde_json::Value) -> Outcome {
    classify_error(
        StatusCode::from_u16(code).unwrap(),
        &HeaderMap::new(),
        body.to_string().as_bytes(),
    )
}

fn approved(status: &str) -> serde_json::Value {
    json!({"id": "pay_a", "action_id": "act_a", "amount": 1000, "currency": "EUR",
        "approved": true, "status": status, "response_code": "10000", "response_summary": "Approved"})
}

fn declined(code: &str, summary: &str) -> serde_json::Value {
    json!({"id": "pay_d", "action_id": "act_d", "amount": 1000, "currency": "EUR",
        "approved": false, "status": "Declined", "response_code": code, "response_summary": summary})
}

fn declined_with(code: &str) -> Decline {
    match pay(201, declined(code, "Declined"), false) {
        Outcome::Declined(d) => d,
        other => panic!("{code}: {other:?}"),
    }
}

#[test]
fn authorized_is_authorized_for_manual_capture_and_captured_otherwise() {
    let ok = |effect| Outcome::Succeeded {
        provider_reference: "pay_a".into(),
        effect,
    };
    assert_eq!(
        pay(201, approved("Authorized"), true),
        ok(Effect::Authorized)
    );
    assert_eq!(
        pay(201, approved("Authorized"), false),
        ok(Effect::Captured),
        "capture: true is captured by Checkout.com itself"
    );
    assert_eq!(pay(201, approved("Captured"), false), ok(Effect::Captured));
    assert_eq!(pay(201, approved("Captured"), true), ok(Effect::Captured));
}

#[test]
fn issuer_verdicts_are_hard_declines_in_the_shared_vocabulary() {
    for (code, normalized, decline_code) in [
        ("20005", "card_declined", "generic_decline"),
        ("20051", "insufficient_funds", "insufficient_funds"),
        ("20054", "expired_card", "expired_card"),
        ("20087", "incorrect_cvc", "incorrect_cvc"),
        ("20014", "incorrect_number", "incorrect_number"),
        ("20059", "card_declined", "fraudulent"),
        ("30004", "card_declined", "pickup_card"),
        ("30043", "card_declined", "stolen_card"),
        ("40101", "card_declined", "fraudulent"),
    ] {
        let d = declined_with(code);
        assert_eq!(d.code, normalized, "{code}");
        assert_eq!(d.decline_code.as_deref(), Some(decline_code), "{code}");
        assert!(!d.soft, "{code} never succeeds at another gateway");
        assert_eq!(d.provider_reference.as_deref(), Some("pay_d"));
        assert!(
            d.message.contains(code),
            "Checkout.com's code is kept: {}",
            d.message
        );
    }
}

#[test]
fn technical_declines_are_soft() {
    for code in ["20091", "20096", "20068", "20019", "20092", "20006"] {
        let d = declined_with(code);
        assert!(d.soft, "{code}");
        assert_eq!(d.code, "processing_error", "{code}");
    }
}

#[test]
fn unknown_decline_codes_are_hard_generic_declines() {
    let d = declined_with("39999");
    assert_eq!(d.code, "card_declined");
    assert_eq!(d.decline_code.as_deref(), Some("generic_decline"));
    assert!(!d.soft);
}

#[test]
fn not_approved_without_declined_status_is_still_a_decline() {
    let mut body = declined("20051", "Insufficient Funds");
    body["status"] = json!("Authorized");
    assert!(
        matches!(pay(201, body, false), Outcome::Declined(d) if d.code == "insufficient_funds")
    );
}

#[test]
fn pending_with_redirect_requires_action_else_pending() {
    let body = json!({"id": "pay_p", "status": "Pending", "reference": "pay_1",
        "_links": {"self": {"href": "https://x/payments/pay_p"}, "redirect": {"href": "https://x/3ds/pay_p"}}});
    assert_eq!(
        pay(202, body, false),
        Outcome::RequiresAction {
            provider_reference: "pay_p".into(),
            action: json!({"type": "redirect", "url": "https://x/3ds/pay_p"})
        }
    );
    let body =
        json!({"id": "pay_p", "status": "Pending", "_links": {"self": {"href": "https://x"}}});
    assert_eq!(
        pay(202, body, false),
        Outcome::Pending {
            provider_reference: "pay_p".into()
        }
    );
}

#[test]
fn unreadable_or_anonymous_2xx_is_ambiguous() {
    let out = classify_payment(StatusCode::CREATED, &HeaderMap::new(), b"<html>", false);
    assert!(matches!(out, Outcome::Ambiguous { .. }), "{out:?}");
    let mut no_id = approved("Authorized");
    no_id.as_object_mut().unwrap().remove("id");
    assert!(matches!(pay(201, no_id, false), Outcome::Ambiguous { .. }));
    assert!(matches!(
        pay(201, approved("Card Verified"), false),
        Outcome::Ambiguous { .. }
    ));
}

#[test]
fn credentials_and_validation_errors_are_rejected() {
    assert!(
        matches!(err(401, json!({})), Outcome::Rejected { code, .. } if code == "authentication_failed")
    );
    assert!(matches!(err(403, json!({})), Outcome::Rejected { .. }));
    assert!(matches!(err(404, json!({})), Outcome::Rejected { .. }));
    let body = json!({"request_id": "r1", "error_type": "request_invalid", "error_codes": ["currency_invalid"]});
    let out = err(422, body);
    assert!(
        matches!(&out, Outcome::Rejected { code, message } if code == "currency_invalid" && message.contains("request_invalid")),
        "{out:?}"
    );
}

#[test]
fn card_data_422_is_a_hard_decline() {
    for (error, code) in [
        ("card_number_invalid", "incorrect_number"),
        ("cvv_invalid", "incorrect_cvc"),
        ("card_expired", "expired_card"),
    ] {
        let body =
            json!({"request_id": "r1", "error_type": "request_invalid", "error_codes": [error]});
        let out = err(422, body);
        assert!(
            matches!(&out, Outcome::Declined(d) if d.code == code && !d.soft),
            "{error}: {out:?}"
        );
    }
}

#[test]
fn same_key_in_flight_is_ambiguous() {
    assert!(matches!(err(409, json!({})), Outcome::Ambiguous { .. }));
    let duplicate = json!({"request_id": "r", "error_type": "request_invalid", "error_codes": ["duplicate_request"]});
    assert!(matches!(err(429, duplicate), Outcome::Ambiguous { .. }));
}

#[test]
fn rate_limit_and_503_are_unavailable() {
    assert!(matches!(err(429, json!({})), Outcome::Unavailable { .. }));
    assert!(matches!(err(503, json!({})), Outcome::Unavailable { .. }));
}

#[test]
fn other_server_errors_are_ambiguous() {
    for code in [500, 502, 504] {
        assert!(
            matches!(err(code, json!({})), Outcome::Ambiguous { .. }),
            "{code}"
        );
    }
    let out = classify_payment(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"", false);
    assert!(matches!(out, Outcome::Ambiguous { .. }));
}

#[test]
fn actions_accepted_are_pending_on_the_action_id() {
    let body = json!({"action_id": "act_c", "reference": "pay_1", "_links": {"payment": {"href": "https://x"}}});
    let out = classify_action(
        StatusCode::ACCEPTED,
        &HeaderMap::new(),
        body.to_string().as_bytes(),
    );
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "act_c".into()
        }
    );
    let out = classify_action(StatusCode::ACCEPTED, &HeaderMap::new(), b"{}");
    assert!(matches!(out, Outcome::Ambiguous { .. }));
    let out = classify_action(StatusCode::FORBIDDEN, &HeaderMap::new(), b"");
    assert!(matches!(out, Outcome::Rejected { .. }), "void not allowed");
}
