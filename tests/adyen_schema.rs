//! The Adyen connector's request bodies, built by its real body builders,
//! validate against Adyen's own Checkout v71 OpenAPI schemas (JSON Schema
//! 2020-12), and bodies with a required field removed do not.

use std::sync::OnceLock;
use std::time::Duration;

use payroute::connectors::adyen::{
    cancel_body, capture_body, payment_request_body, refund_body, standalone_cancel_body,
};
use payroute::connectors::{
    AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings, GatewayKind, RefundRequest,
};
use payroute::domain::method::{CardData, MethodData};
use payroute::domain::sensitive::Sensitive;
use serde_json::{Value, json};

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/adyen/CheckoutService-v71.json"
        );
        let text = std::fs::read_to_string(path).expect("spec fixture present");
        serde_json::from_str(&text).expect("spec is JSON")
    })
}

/// A validator for one named schema: the spec's `$ref`s are
/// `#/components/schemas/...`, so the root document carries `components`.
fn validator(schema: &str) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{schema}"),
        "components": spec()["components"],
    });
    jsonschema::draft202012::new(&root).expect("schema compiles")
}

fn assert_valid(schema: &str, body: &Value) {
    let v = validator(schema);
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema} rejected {body}:\n{}",
        errors.join("\n")
    );
}

fn assert_invalid(schema: &str, body: &Value) {
    assert!(
        !validator(schema).is_valid(body),
        "{schema} accepted {body}"
    );
}

fn settings() -> ConnectorSettings {
    ConnectorSettings {
        id: "adyen_eu".into(),
        kind: GatewayKind::Adyen,
        base_url: "https://checkout-test.adyen.com/v71".into(),
        timeout: Duration::from_secs(5),
        api_key: Sensitive("test_key".into()),
        merchant_account: Some("PayrouteECOM".into()),
    }
}

fn card() -> MethodData {
    MethodData::Card(CardData {
        number: Sensitive("4111111111111111".into()),
        exp_month: 3,
        exp_year: 2030,
        cvc: Some(Sensitive("737".into())),
        holder_name: Some("A. Buyer".into()),
    })
}

fn authorize(method: MethodData, manual: bool, customer_ip: Option<&str>) -> AuthorizeRequest {
    AuthorizeRequest {
        payment_id: "pay_01HZX3".into(),
        reference: "order-1234".into(),
        amount: 1999,
        currency: "EUR".into(),
        manual_capture: manual,
        method,
        customer_email: Some("a@example.com".into()),
        customer_country: Some("DE".into()),
        customer_ip: customer_ip.map(str::to_string),
        customer_id: Some("cus_1".into()),
        idempotency_key: "att_1-adyen_eu".into(),
        return_url: "https://merchant.example/return".into(),
        credential: payroute::domain::vault::CredentialUse::OneOff,
    }
}

fn payment_bodies() -> Vec<(&'static str, Value)> {
    let s = settings();
    let token = || MethodData::GatewayToken(Sensitive("8315995214526790".into()));
    let sepa = MethodData::SepaDebit {
        iban: Sensitive("NL13TEST0123456789".into()),
        owner_name: "A. Buyer".into(),
    };
    let cases = [
        (
            "card automatic",
            authorize(card(), false, Some("203.0.113.7")),
        ),
        ("card manual", authorize(card(), true, None)),
        (
            "token in session",
            authorize(token(), false, Some("203.0.113.7")),
        ),
        (
            "token merchant-initiated manual",
            authorize(token(), true, None),
        ),
        (
            "apple pay",
            authorize(
                MethodData::ApplePay(Sensitive("eyJ2ZXJzaW9uIjoi".into())),
                false,
                None,
            ),
        ),
        (
            "google pay",
            authorize(
                MethodData::GooglePay(Sensitive("{\"signature\":\"x\"}".into())),
                true,
                None,
            ),
        ),
        ("sepa", authorize(sepa, false, None)),
    ];
    cases
        .into_iter()
        .map(|(name, req)| (name, payment_request_body(&s, &req).expect("body builds")))
        .collect()
}

#[test]
fn payment_requests_match_the_spec() {
    for (name, body) in payment_bodies() {
        assert!(body["paymentMethod"].is_object(), "{name}");
        assert_valid("PaymentRequest", &body);
    }
}

#[test]
fn payment_request_without_required_fields_fails_validation() {
    for field in [
        "merchantAccount",
        "amount",
        "reference",
        "returnUrl",
        "paymentMethod",
    ] {
        let mut body = payment_request_body(&settings(), &authorize(card(), false, None)).unwrap();
        body.as_object_mut().unwrap().remove(field);
        assert_invalid("PaymentRequest", &body);
    }
    let mut body = payment_request_body(&settings(), &authorize(card(), false, None)).unwrap();
    body["paymentMethod"]["expiryMonth"] = json!(3);
    assert_invalid("PaymentRequest", &body);
}

#[test]
fn capture_request_matches_the_spec() {
    let req = CaptureRequest {
        provider_reference: "QFQTPCQ8HXSKGK82".into(),
        amount: 1500,
        currency: "EUR".into(),
        payment_id: "pay_01HZX3".into(),
        idempotency_key: "cap_1".into(),
    };
    let body = capture_body(&settings(), &req).unwrap();
    assert_valid("PaymentCaptureRequest", &body);
    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("merchantAccount");
    assert_invalid("PaymentCaptureRequest", &missing);
}

#[test]
fn cancel_request_matches_the_spec() {
    let req = CancelRequest {
        provider_reference: "QFQTPCQ8HXSKGK82".into(),
        payment_id: "pay_01HZX3".into(),
        idempotency_key: "can_1".into(),
    };
    let body = cancel_body(&settings(), &req).unwrap();
    assert_valid("PaymentCancelRequest", &body);
    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("merchantAccount");
    assert_invalid("PaymentCancelRequest", &missing);
}

#[test]
fn refund_requests_match_the_spec() {
    for reason in [
        None,
        Some("requested_by_customer"),
        Some("duplicate"),
        Some("fraudulent"),
        Some("anything else"),
    ] {
        let req = RefundRequest {
            provider_reference: "QFQTPCQ8HXSKGK82".into(),
            amount: 500,
            currency: "EUR".into(),
            refund_id: "ref_01HZX4".into(),
            reason: reason.map(str::to_string),
            idempotency_key: "ref_1".into(),
        };
        let body = refund_body(&settings(), &req).unwrap();
        assert_valid("PaymentRefundRequest", &body);
    }
    let mut bad = json!({"amount": {"value": 1, "currency": "EUR"}, "merchantAccount": "M", "merchantRefundReason": "BECAUSE"});
    assert_invalid("PaymentRefundRequest", &bad);
    bad.as_object_mut().unwrap().remove("merchantRefundReason");
    bad.as_object_mut().unwrap().remove("merchantAccount");
    assert_invalid("PaymentRefundRequest", &bad);
}

#[test]
fn standalone_cancel_request_matches_the_spec() {
    let body = standalone_cancel_body(&settings(), "pay_01HZX3").unwrap();
    assert_valid("StandalonePaymentCancelRequest", &body);
    for field in ["merchantAccount", "paymentReference"] {
        let mut missing = body.clone();
        missing.as_object_mut().unwrap().remove(field);
        assert_invalid("StandalonePaymentCancelRequest", &missing);
    }
    let mut extra = body.clone();
    extra["pspReference"] = json!("QFQTPCQ8HXSKGK82");
    assert_invalid("StandalonePaymentCancelRequest", &extra);
}
