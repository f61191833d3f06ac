//! Canned Adyen replies, one per outcome class.

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

#[test]
fn authorised_depends_on_capture_mode() {
    let body =
        json!({"pspReference": "PSP1", "resultCode": "Authorised", "merchantReference": "pay_1"});
    assert_eq!(
        pay(200, body.clone(), true),
        Outcome::Succeeded {
            provider_reference: "PSP1".into(),
            effect: Effect::Authorized
        }
    );
    assert_eq!(
        pay(200, body, false),
        Outcome::Succeeded {
            provider_reference: "PSP1".into(),
            effect: Effect::Captured
        }
    );
}

#[test]
fn refused_maps_reason_codes_and_softness() {
    let body = json!({"pspReference": "PSP2", "resultCode": "Refused", "refusalReason": "Not enough balance", "refusalReasonCode": "12"});
    let Outcome::Declined(d) = pay(200, body, false) else {
        panic!()
    };
    assert_eq!(d.code, "insufficient_funds");
    assert_eq!(d.decline_code.as_deref(), Some("insufficient_funds"));
    assert!(
        d.message.contains("Not enough balance"),
        "Adyen's own reason is kept"
    );
    assert_eq!(d.provider_reference.as_deref(), Some("PSP2"));
    assert!(!d.soft);

    let body = json!({"pspReference": "PSP3", "resultCode": "Refused", "refusalReason": "Issuer Unavailable", "refusalReasonCode": "9"});
    let Outcome::Declined(d) = pay(200, body, false) else {
        panic!()
    };
    assert_eq!(d.code, "card_declined");
    assert!(d.soft);

    let body = json!({"pspReference": "PSP4", "resultCode": "Refused", "refusalReason": "Refused", "refusalReasonCode": "2"});
    let Outcome::Declined(d) = pay(200, body, false) else {
        panic!()
    };
    assert_eq!(d.code, "card_declined");
    assert!(!d.soft);
}

#[test]
fn error_result_is_soft_processing_error_and_cancelled_is_hard() {
    let Outcome::Declined(d) = pay(
        200,
        json!({"pspReference": "P", "resultCode": "Error", "refusalReason": "Acquirer Error"}),
        false,
    ) else {
        panic!()
    };
    assert_eq!(d.code, "processing_error");
    assert!(d.soft);
    let Outcome::Declined(d) = pay(
        200,
        json!({"pspReference": "P", "resultCode": "Cancelled"}),
        false,
    ) else {
        panic!()
    };
    assert!(!d.soft);
}

#[test]
fn pending_and_received_are_pending() {
    for code in ["Pending", "Received"] {
        let out = pay(200, json!({"pspReference": "P", "resultCode": code}), false);
        assert_eq!(
            out,
            Outcome::Pending {
                provider_reference: "P".into()
            },
            "{code}"
        );
    }
}

#[test]
fn shopper_actions_carry_the_action() {
    let action = json!({"type": "threeDS2", "token": "abc", "paymentData": "x"});
    for code in [
        "RedirectShopper",
        "ChallengeShopper",
        "IdentifyShopper",
        "PresentToShopper",
    ] {
        let out = pay(
            200,
            json!({"resultCode": code, "merchantReference": "pay_1", "action": action}),
            false,
        );
        assert_eq!(
            out,
            Outcome::RequiresAction {
                provider_reference: "pay_1".into(),
                action: action.clone()
            },
            "{code}"
        );
    }
}

#[test]
fn unknown_or_partial_results_are_ambiguous() {
    for body in [
        json!({"pspReference": "P", "resultCode": "PartiallyAuthorised"}),
        json!({"pspReference": "P"}),
        json!({"resultCode": "Authorised"}),
    ] {
        assert!(
            matches!(pay(200, body.clone(), false), Outcome::Ambiguous { .. }),
            "{body}"
        );
    }
    let out = classify_payment(StatusCode::OK, &HeaderMap::new(), b"not json", false);
    assert!(matches!(out, Outcome::Ambiguous { .. }));
}

#[test]
fn client_errors_are_rejected() {
    for code in [400, 401, 403, 422] {
        let body = json!({"status": code, "errorCode": "14_030", "message": "Return URL is missing.", "errorType": "validation"});
        let out = err(code, body);
        assert!(
            matches!(&out, Outcome::Rejected { code, .. } if code == "14_030"),
            "{out:?}"
        );
    }
    assert!(matches!(err(401, json!({})), Outcome::Rejected { .. }));
}

#[test]
fn invalid_card_number_422_is_a_hard_decline() {
    let out = err(
        422,
        json!({"status": 422, "errorCode": "101", "message": "Invalid card number", "errorType": "validation"}),
    );
    assert!(
        matches!(&out, Outcome::Declined(d) if d.code == "incorrect_number" && !d.soft),
        "{out:?}"
    );
}

#[test]
fn same_key_in_flight_is_ambiguous() {
    let out = err(
        422,
        json!({"status": 422, "errorCode": "704", "message": "request already processed or in progress"}),
    );
    assert!(matches!(out, Outcome::Ambiguous { .. }), "{out:?}");
    let mut headers = HeaderMap::new();
    headers.insert("transient-error", "true".parse().unwrap());
    let out = classify_error(StatusCode::UNPROCESSABLE_ENTITY, &headers, b"{}");
    assert!(matches!(out, Outcome::Ambiguous { .. }), "{out:?}");
}

#[test]
fn rate_limit_is_unavailable_and_server_errors_ambiguous() {
    assert!(matches!(err(429, json!({})), Outcome::Unavailable { .. }));
    for code in [500, 502, 503, 504] {
        assert!(
            matches!(
                err(code, json!({"status": code, "errorCode": "905"})),
                Outcome::Ambiguous { .. }
            ),
            "{code}"
        );
    }
}

#[test]
fn modifications_received_are_pending_with_modification_psp() {
    let body = json!({"merchantAccount": "M", "paymentPspReference": "PAY", "pspReference": "MOD", "reference": "pay_1", "status": "received"});
    let out = classify_modification(
        StatusCode::CREATED,
        &HeaderMap::new(),
        body.to_string().as_bytes(),
    );
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "MOD".into()
        }
    );
    let out = classify_modification(
        StatusCode::CREATED,
        &HeaderMap::new(),
        br#"{"pspReference":"MOD","status":"odd"}"#,
    );
    assert!(matches!(out, Outcome::Ambiguous { .. }));
    let out = classify_modification(StatusCode::FORBIDDEN, &HeaderMap::new(), b"{}");
    assert!(matches!(out, Outcome::Rejected { .. }));
}
