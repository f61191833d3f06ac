//! Canned Stripe replies, one per outcome class.

use super::*;
use serde_json::json;

fn h() -> HeaderMap {
    HeaderMap::new()
}

fn pi(op: PiOp, code: u16, body: serde_json::Value) -> Outcome {
    let status = StatusCode::from_u16(code).unwrap();
    classify_payment_intent(op, status, &h(), body.to_string().as_bytes())
}

fn card_error(decline_code: Option<&str>, code: &str) -> serde_json::Value {
    json!({"error": {"type": "card_error", "code": code, "decline_code": decline_code,
        "message": "Your card was declined.", "payment_intent": {"id": "pi_9", "status": "requires_payment_method"}}})
}

#[test]
fn succeeded_intent_is_captured() {
    let out = pi(
        PiOp::Authorize,
        200,
        json!({"id": "pi_1", "status": "succeeded"}),
    );
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pi_1".into(),
            effect: Effect::Captured
        }
    );
}

#[test]
fn requires_capture_is_authorized() {
    let out = pi(
        PiOp::Authorize,
        200,
        json!({"id": "pi_1", "status": "requires_capture"}),
    );
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pi_1".into(),
            effect: Effect::Authorized
        }
    );
}

#[test]
fn requires_action_carries_next_action() {
    let action = json!({"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks.stripe.com/3ds"}});
    let out = pi(
        PiOp::Authorize,
        200,
        json!({"id": "pi_1", "status": "requires_action", "next_action": action}),
    );
    assert_eq!(
        out,
        Outcome::RequiresAction {
            provider_reference: "pi_1".into(),
            action
        }
    );
}

#[test]
fn processing_is_pending() {
    let out = pi(
        PiOp::Authorize,
        200,
        json!({"id": "pi_1", "status": "processing"}),
    );
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "pi_1".into()
        }
    );
}

#[test]
fn requires_payment_method_with_error_is_declined() {
    let out = pi(
        PiOp::Authorize,
        200,
        json!({"id": "pi_1", "status": "requires_payment_method", "last_payment_error":
            {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "no money"}}),
    );
    let Outcome::Declined(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!(d.provider_reference.as_deref(), Some("pi_1"));
    assert_eq!(d.code, "insufficient_funds");
    assert_eq!(d.decline_code.as_deref(), Some("insufficient_funds"));
    assert!(!d.soft);
}

#[test]
fn card_error_402_keeps_payment_intent_id_and_normalizes_generic_decline() {
    let out = pi(
        PiOp::Authorize,
        402,
        card_error(Some("generic_decline"), "card_declined"),
    );
    let Outcome::Declined(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!(d.provider_reference.as_deref(), Some("pi_9"));
    assert_eq!(d.code, "card_declined");
    assert_eq!(d.decline_code.as_deref(), Some("generic_decline"));
    assert!(!d.soft);
}

#[test]
fn soft_decline_codes_are_soft_and_others_hard() {
    for code in SOFT_DECLINE_CODES {
        let Outcome::Declined(d) = pi(
            PiOp::Authorize,
            402,
            card_error(Some(code), "card_declined"),
        ) else {
            panic!()
        };
        assert!(d.soft, "{code}");
    }
    for code in [
        "do_not_try_again",
        "stolen_card",
        "fraudulent",
        "insufficient_funds",
    ] {
        let Outcome::Declined(d) = pi(
            PiOp::Authorize,
            402,
            card_error(Some(code), "card_declined"),
        ) else {
            panic!()
        };
        assert!(!d.soft, "{code}");
    }
}

#[test]
fn error_code_without_decline_code_is_normalized() {
    let Outcome::Declined(d) = pi(PiOp::Authorize, 402, card_error(None, "incorrect_cvc")) else {
        panic!()
    };
    assert_eq!(d.code, "incorrect_cvc");
    assert_eq!(d.decline_code.as_deref(), Some("incorrect_cvc"));
    let Outcome::Declined(d) = pi(PiOp::Authorize, 402, card_error(None, "expired_card")) else {
        panic!()
    };
    assert_eq!(d.code, "expired_card");
    let Outcome::Declined(d) = pi(PiOp::Authorize, 402, card_error(None, "processing_error"))
    else {
        panic!()
    };
    assert_eq!(d.code, "processing_error");
    assert!(d.soft);
}

#[test]
fn conflict_409_is_ambiguous() {
    let body =
        json!({"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use"}});
    assert!(matches!(
        pi(PiOp::Authorize, 409, body),
        Outcome::Ambiguous { .. }
    ));
}

#[test]
fn rate_limit_429_is_unavailable() {
    let body = json!({"error": {"type": "invalid_request_error", "code": "rate_limit"}});
    assert!(matches!(
        pi(PiOp::Authorize, 429, body.clone()),
        Outcome::Unavailable { .. }
    ));
    assert!(matches!(
        pi(PiOp::Authorize, 400, body),
        Outcome::Unavailable { .. }
    ));
}

#[test]
fn idempotency_error_is_rejected() {
    let body = json!({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters"}});
    let out = pi(PiOp::Authorize, 400, body);
    assert!(
        matches!(&out, Outcome::Rejected { code, .. } if code == "idempotency_error"),
        "{out:?}"
    );
}

#[test]
fn client_errors_are_rejected() {
    let body = json!({"error": {"type": "invalid_request_error", "code": "parameter_missing", "message": "Missing amount"}});
    let out = pi(PiOp::Authorize, 400, body);
    assert_eq!(
        out,
        Outcome::Rejected {
            code: "parameter_missing".into(),
            message: "Missing amount".into()
        }
    );
    for code in [401, 403, 404] {
        assert!(
            matches!(
                pi(PiOp::Authorize, code, json!({})),
                Outcome::Rejected { .. }
            ),
            "{code}"
        );
    }
}

#[test]
fn server_errors_are_ambiguous_whatever_should_retry_says() {
    for value in [None, Some("true"), Some("false")] {
        for code in [500u16, 502, 503, 504, 424] {
            let mut headers = h();
            if let Some(v) = value {
                headers.insert("stripe-should-retry", v.parse().unwrap());
            }
            let status = StatusCode::from_u16(code).unwrap();
            let out = classify_payment_intent(PiOp::Authorize, status, &headers, b"{}");
            assert!(matches!(out, Outcome::Ambiguous { .. }), "{code} {value:?}");
        }
    }
}

#[test]
fn unreadable_200_is_ambiguous() {
    let out = classify_payment_intent(PiOp::Authorize, StatusCode::OK, &h(), b"<html>");
    assert!(matches!(out, Outcome::Ambiguous { .. }));
}

#[test]
fn capture_and_cancel_statuses() {
    let out = pi(
        PiOp::Capture,
        200,
        json!({"id": "pi_1", "status": "succeeded"}),
    );
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pi_1".into(),
            effect: Effect::Captured
        }
    );
    let out = pi(
        PiOp::Cancel,
        200,
        json!({"id": "pi_1", "status": "canceled"}),
    );
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pi_1".into(),
            effect: Effect::Voided
        }
    );
    let out = pi(
        PiOp::Capture,
        200,
        json!({"id": "pi_1", "status": "requires_capture"}),
    );
    assert!(matches!(out, Outcome::Ambiguous { .. }));
    let body = json!({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}});
    assert!(matches!(
        pi(PiOp::Capture, 400, body),
        Outcome::Rejected { .. }
    ));
}

#[test]
fn refund_statuses() {
    let r = |body: serde_json::Value| {
        classify_refund(StatusCode::OK, &h(), body.to_string().as_bytes())
    };
    assert_eq!(
        r(json!({"id": "re_1", "status": "succeeded"})),
        Outcome::Succeeded {
            provider_reference: "re_1".into(),
            effect: Effect::Refunded
        }
    );
    assert_eq!(
        r(json!({"id": "re_1", "status": "pending"})),
        Outcome::Pending {
            provider_reference: "re_1".into()
        }
    );
    let Outcome::Declined(d) =
        r(json!({"id": "re_1", "status": "failed", "failure_reason": "expired_or_canceled_card"}))
    else {
        panic!()
    };
    assert_eq!(d.decline_code.as_deref(), Some("expired_or_canceled_card"));
    assert_eq!(d.provider_reference.as_deref(), Some("re_1"));
}

#[test]
fn payment_method_failures_never_ambiguous() {
    let ok = classify_payment_method(
        StatusCode::OK,
        &h(),
        br#"{"id":"pm_1","object":"payment_method"}"#,
    );
    assert_eq!(ok.ok().as_deref(), Some("pm_1"));
    let err = classify_payment_method(StatusCode::INTERNAL_SERVER_ERROR, &h(), b"{}").unwrap_err();
    assert!(matches!(err, Outcome::Unavailable { .. }), "{err:?}");
    let err = classify_payment_method(
        StatusCode::PAYMENT_REQUIRED,
        &h(),
        card_error(None, "incorrect_number").to_string().as_bytes(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Outcome::Declined(d) if d.code == "incorrect_number"),
        "{err:?}"
    );
}

#[test]
fn transport_errors() {
    let out = classify_transport(&TransportError::Connect("refused".into()));
    assert!(matches!(out, Outcome::Unavailable { .. }));
    assert!(matches!(
        classify_transport(&TransportError::Timeout),
        Outcome::Ambiguous { .. }
    ));
    assert!(matches!(
        classify_transport(&TransportError::Io("reset".into())),
        Outcome::Ambiguous { .. }
    ));
}
