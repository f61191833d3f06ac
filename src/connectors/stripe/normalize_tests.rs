use serde_json::{Value, json};

use super::*;

const VECTORS: &str = include_str!("../../../tests/fixtures/vectors/stripe_webhook_vectors.json");

fn event(event_type: &str, object: Value) -> GatewayEvent {
    let body = json!({
        "id": "evt_1", "object": "event", "created": 1_700_000_123,
        "data": {"object": object}, "type": event_type
    });
    normalize_stripe(&serde_json::to_vec(&body).unwrap()).unwrap()
}

fn intent(extra: Value) -> Value {
    let mut pi = json!({
        "id": "pi_1", "object": "payment_intent", "amount": 2000, "amount_capturable": 0,
        "amount_received": 0, "currency": "eur", "metadata": {"payroute_payment_id": "pay_1"}
    });
    pi.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    pi
}

fn refund(status: &str) -> Value {
    json!({
        "id": "re_1", "object": "refund", "amount": 500, "currency": "usd", "status": status,
        "payment_intent": "pi_1", "reason": "requested_by_customer",
        "metadata": {"payroute_refund_id": "re_payroute1", "payroute_payment_id": "pay_1"}
    })
}

fn dispute(status: &str) -> Value {
    json!({
        "id": "dp_1", "object": "dispute", "amount": 2000, "currency": "usd", "status": status,
        "payment_intent": "pi_1", "charge": "ch_1", "reason": "fraudulent"
    })
}

#[test]
fn sdk_vector_payload_is_a_capture_of_its_intent() {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let payload = file["vectors"][0]["payload"].as_str().unwrap();
    let ev = normalize_stripe(payload.as_bytes()).unwrap();
    assert_eq!(ev.provider_event_id, "evt_3OJ0test0000000000000001");
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentCaptured));
    assert_eq!(
        ev.payment_reference.as_deref(),
        Some("pi_3OJ0test000000000000001")
    );
    assert_eq!(ev.object_reference, None);
    assert_eq!(
        ev.merchant_reference, None,
        "order_id is not payroute's metadata"
    );
    assert_eq!(
        (ev.amount, ev.currency.as_deref()),
        (Some(2000), Some("USD"))
    );
    assert_eq!(ev.raw_type, "payment_intent.succeeded");
    assert_eq!(ev.occurred_at, Some(1_700_000_000));
}

#[test]
fn amount_capturable_updated_is_authorized_for_the_capturable_amount() {
    let ev = event(
        "payment_intent.amount_capturable_updated",
        intent(json!({"amount_capturable": 1500, "status": "requires_capture"})),
    );
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentAuthorized));
    assert_eq!(ev.amount, Some(1500));
    assert_eq!(ev.payment_reference.as_deref(), Some("pi_1"));
    assert_eq!(ev.merchant_reference.as_deref(), Some("pay_1"));
    assert_eq!(ev.currency.as_deref(), Some("EUR"));
    assert_eq!(ev.occurred_at, Some(1_700_000_123));
}

#[test]
fn succeeded_is_captured_for_the_received_amount() {
    let ev = event(
        "payment_intent.succeeded",
        intent(json!({"amount_received": 1800})),
    );
    assert_eq!(
        (ev.kind, ev.amount),
        (Some(NormalizedKind::PaymentCaptured), Some(1800))
    );
}

#[test]
fn payment_failed_carries_the_decline_code() {
    let err = json!({"last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds", "message": "m"}});
    let ev = event("payment_intent.payment_failed", intent(err));
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentFailed));
    assert_eq!(ev.reason.as_deref(), Some("insufficient_funds"));
    let ev = event(
        "payment_intent.payment_failed",
        intent(json!({"last_payment_error": {"code": "expired_card"}})),
    );
    assert_eq!(ev.reason.as_deref(), Some("expired_card"));
}

#[test]
fn canceled_is_voided() {
    let ev = event(
        "payment_intent.canceled",
        intent(json!({"cancellation_reason": "requested_by_customer"})),
    );
    assert_eq!(ev.kind, Some(NormalizedKind::PaymentVoided));
    assert_eq!(ev.reason.as_deref(), Some("requested_by_customer"));
}

#[test]
fn other_payment_intent_events_are_ignored() {
    for t in [
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.requires_action",
    ] {
        let ev = event(t, intent(json!({})));
        assert_eq!(ev.kind, None, "{t}");
        assert_eq!(ev.payment_reference.as_deref(), Some("pi_1"), "{t}");
    }
}

#[test]
fn charge_refunded_is_ignored_because_refund_events_carry_the_refund() {
    let charge = json!({"id": "ch_1", "object": "charge", "amount": 2000, "amount_refunded": 500,
        "currency": "usd", "payment_intent": "pi_1", "refunded": false});
    let ev = event("charge.refunded", charge);
    assert_eq!(ev.kind, None);
    assert_eq!(ev.raw_type, "charge.refunded");
}

#[test]
fn succeeded_refund_events_are_refund_succeeded_with_all_references() {
    for t in ["refund.created", "refund.updated", "charge.refund.updated"] {
        let ev = event(t, refund("succeeded"));
        assert_eq!(ev.kind, Some(NormalizedKind::RefundSucceeded), "{t}");
        assert_eq!(ev.payment_reference.as_deref(), Some("pi_1"));
        assert_eq!(ev.object_reference.as_deref(), Some("re_1"));
        assert_eq!(ev.merchant_reference.as_deref(), Some("re_payroute1"));
        assert_eq!(
            (ev.amount, ev.currency.as_deref()),
            (Some(500), Some("USD"))
        );
    }
}

#[test]
fn failed_or_canceled_refund_is_refund_failed_with_failure_reason() {
    let mut failed = refund("failed");
    failed["failure_reason"] = json!("expired_or_canceled_card");
    for (t, object) in [
        ("refund.updated", failed.clone()),
        ("charge.refund.updated", failed.clone()),
        ("refund.failed", failed),
        ("refund.updated", refund("canceled")),
    ] {
        let ev = event(t, object);
        assert_eq!(ev.kind, Some(NormalizedKind::RefundFailed), "{t}");
    }
    let mut failed = refund("failed");
    failed["failure_reason"] = json!("lost_or_stolen_card");
    assert_eq!(
        event("refund.failed", failed).reason.as_deref(),
        Some("lost_or_stolen_card")
    );
}

#[test]
fn pending_refund_is_not_acted_on() {
    for status in ["pending", "requires_action"] {
        assert_eq!(
            event("refund.created", refund(status)).kind,
            None,
            "{status}"
        );
    }
}

#[test]
fn refund_without_payroute_refund_id_falls_back_to_payment_id() {
    let mut r = refund("succeeded");
    r["metadata"] = json!({"payroute_payment_id": "pay_1"});
    assert_eq!(
        event("refund.updated", r).merchant_reference.as_deref(),
        Some("pay_1")
    );
}

#[test]
fn expanded_payment_intent_yields_its_id() {
    let mut r = refund("succeeded");
    r["payment_intent"] = json!({"id": "pi_expanded", "object": "payment_intent"});
    assert_eq!(
        event("refund.updated", r).payment_reference.as_deref(),
        Some("pi_expanded")
    );
}

#[test]
fn dispute_lifecycle_maps_to_opened_won_lost() {
    let ev = event("charge.dispute.created", dispute("needs_response"));
    assert_eq!(ev.kind, Some(NormalizedKind::DisputeOpened));
    assert_eq!(ev.payment_reference.as_deref(), Some("pi_1"));
    assert_eq!(ev.object_reference.as_deref(), Some("dp_1"));
    assert_eq!(
        (ev.amount, ev.reason.as_deref()),
        (Some(2000), Some("fraudulent"))
    );
    assert_eq!(
        event("charge.dispute.closed", dispute("won")).kind,
        Some(NormalizedKind::DisputeWon)
    );
    assert_eq!(
        event("charge.dispute.closed", dispute("lost")).kind,
        Some(NormalizedKind::DisputeLost)
    );
    assert_eq!(
        event("charge.dispute.closed", dispute("warning_closed")).kind,
        None
    );
    assert_eq!(
        event("charge.dispute.updated", dispute("under_review")).kind,
        None
    );
}

#[test]
fn unknown_event_types_are_ignored() {
    assert_eq!(
        event(
            "customer.created",
            json!({"id": "cus_1", "object": "customer"})
        )
        .kind,
        None
    );
}

#[test]
fn unreadable_events_are_errors() {
    assert!(matches!(
        normalize_stripe(b"nope"),
        Err(NormalizeError::NotJson(_))
    ));
    let no_id = br#"{"type":"payment_intent.succeeded","data":{"object":{}}}"#;
    assert_eq!(normalize_stripe(no_id), Err(NormalizeError::Missing("id")));
    let no_type = br#"{"id":"evt_1","data":{"object":{}}}"#;
    assert_eq!(
        normalize_stripe(no_type),
        Err(NormalizeError::Missing("type"))
    );
    let no_object = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{}}"#;
    assert_eq!(
        normalize_stripe(no_object),
        Err(NormalizeError::Missing("data.object"))
    );
}

#[test]
fn kind_names_are_the_design_event_types() {
    use NormalizedKind as K;
    let all = [
        (K::PaymentAuthorized, "payment.authorized"),
        (K::PaymentCaptured, "payment.captured"),
        (K::PaymentCaptureFailed, "payment.capture_failed"),
        (K::PaymentFailed, "payment.failed"),
        (K::PaymentVoided, "payment.voided"),
        (K::PaymentVoidFailed, "payment.void_failed"),
        (K::RefundSucceeded, "refund.succeeded"),
        (K::RefundFailed, "refund.failed"),
        (K::DisputeOpened, "dispute.opened"),
        (K::DisputeWon, "dispute.won"),
        (K::DisputeLost, "dispute.lost"),
    ];
    for (k, name) in all {
        assert_eq!(k.as_str(), name);
    }
}

#[test]
fn amounts_in_stripes_scale_read_back_in_iso_minor_units() {
    let ev = event(
        "payment_intent.succeeded",
        intent(json!({"amount_received": 1500, "currency": "mga"})),
    );
    assert_eq!(
        (ev.amount, ev.currency.as_deref()),
        (Some(150_000), Some("MGA"))
    );
    let ev = event(
        "payment_intent.succeeded",
        intent(json!({"amount_received": 50_000, "currency": "isk"})),
    );
    assert_eq!(ev.amount, Some(500), "hundredths of a króna → krónur");
}
