//! Request-shape tests for the Adyen connector (no network).

use super::*;
use crate::connectors::GatewayKind;
use crate::domain::method::{CardData, MethodData};
use crate::domain::sensitive::Sensitive;
use serde_json::json;
use std::time::Duration;

fn settings() -> ConnectorSettings {
    ConnectorSettings {
        id: "adyen_eu".into(),
        kind: GatewayKind::Adyen,
        base_url: "http://127.0.0.1:4010/adyen/v71".into(),
        timeout: Duration::from_secs(5),
        api_key: Sensitive("AQE_secret_key".into()),
        merchant_account: Some("PayrouteECOM".into()),
    }
}

fn card() -> CardData {
    CardData {
        number: Sensitive("4111111111111111".into()),
        exp_month: 3,
        exp_year: 2030,
        cvc: Some(Sensitive("737".into())),
        holder_name: Some("A. Buyer".into()),
    }
}

fn authorize(method: MethodData, manual: bool) -> AuthorizeRequest {
    AuthorizeRequest {
        payment_id: "pay_1".into(),
        reference: "order-1234".into(),
        amount: 1999,
        currency: "EUR".into(),
        manual_capture: manual,
        method,
        customer_email: Some("a@example.com".into()),
        customer_country: Some("DE".into()),
        customer_ip: None,
        customer_id: Some("cus_1".into()),
        idempotency_key: "att_1-adyen_eu".into(),
        return_url: "https://merchant.example/return".into(),
        credential: crate::domain::vault::CredentialUse::OneOff,
    }
}

#[test]
fn card_payment_body_uses_payment_id_as_reference_and_padded_expiry() {
    let body =
        payment_request_body(&settings(), &authorize(MethodData::Card(card()), false)).unwrap();
    assert_eq!(body["reference"], "pay_1");
    assert_eq!(body["merchantOrderReference"], "order-1234");
    assert_eq!(body["merchantAccount"], "PayrouteECOM");
    assert_eq!(body["amount"], json!({"value": 1999, "currency": "EUR"}));
    assert_eq!(
        body["paymentMethod"],
        json!({"type": "scheme", "number": "4111111111111111", "expiryMonth": "03", "expiryYear": "2030", "cvc": "737", "holderName": "A. Buyer"})
    );
    assert!(
        body.get("additionalData").is_none(),
        "automatic capture sends no manualCapture"
    );
}

#[test]
fn manual_capture_sets_additional_data() {
    let body =
        payment_request_body(&settings(), &authorize(MethodData::Card(card()), true)).unwrap();
    assert_eq!(body["additionalData"], json!({"manualCapture": "true"}));
}

#[test]
fn token_payment_names_shopper_and_card_on_file_model() {
    let req = authorize(MethodData::GatewayToken(Sensitive("8315".into())), false);
    let body = payment_request_body(&settings(), &req).unwrap();
    assert_eq!(
        body["paymentMethod"],
        json!({"type": "scheme", "storedPaymentMethodId": "8315"})
    );
    assert_eq!(body["shopperReference"], "cus_1");
    assert_eq!(body["shopperInteraction"], "ContAuth");
    assert_eq!(body["recurringProcessingModel"], "UnscheduledCardOnFile");

    let mut in_session = req.clone();
    in_session.customer_ip = Some("203.0.113.7".into());
    let body = payment_request_body(&settings(), &in_session).unwrap();
    assert_eq!(body["shopperInteraction"], "Ecommerce");
    assert_eq!(body["recurringProcessingModel"], "CardOnFile");

    let mut anonymous = req;
    anonymous.customer_id = None;
    assert!(matches!(
        payment_request_body(&settings(), &anonymous),
        Err(AdyenError::NoShopperReference)
    ));
}

#[test]
fn missing_merchant_account_is_an_error_not_a_bad_body() {
    let mut s = settings();
    s.merchant_account = None;
    let err = payment_request_body(&s, &authorize(MethodData::Card(card()), false)).unwrap_err();
    assert!(matches!(err, AdyenError::NoMerchantAccount));
}

#[test]
fn idempotency_key_is_at_most_64_chars() {
    assert_eq!(idempotency_key("att_1-adyen_eu"), "att_1-adyen_eu");
    let long = format!("pay_{}-attempt-3-adyen_eu", "x".repeat(70));
    let key = idempotency_key(&long);
    assert!(key.len() <= MAX_IDEMPOTENCY_KEY_LEN);
    assert_eq!(key, idempotency_key(&long));
    assert_ne!(
        key,
        idempotency_key(&long.replace("attempt-3", "attempt-4"))
    );
}

#[test]
fn request_headers_and_debug_do_not_leak_secrets() {
    let connector = AdyenConnector::new(settings(), HttpClient::new());
    let body = json!({"a": 1});
    let req = connector.request("/payments", &body, "att_1").unwrap();
    assert_eq!(req.uri(), "http://127.0.0.1:4010/adyen/v71/payments");
    assert_eq!(req.headers()["x-api-key"], "AQE_secret_key");
    assert_eq!(req.headers()["idempotency-key"], "att_1");
    assert_eq!(req.headers()["content-type"], "application/json");
    assert!(!format!("{:?}", req.headers()).contains("AQE_secret_key"));
    assert!(!format!("{connector:?}").contains("AQE_secret_key"));
    let shown = format!("{:?}", authorize(MethodData::Card(card()), false));
    assert!(!shown.contains("4111111111111111"), "{shown}");
}

#[test]
fn modification_paths_refuse_injection() {
    assert_eq!(
        modification_path("QFQTPCQ8HXSKGK82", "captures").unwrap(),
        "/payments/QFQTPCQ8HXSKGK82/captures"
    );
    assert!(modification_path("X/../../payments", "refunds").is_err());
}

#[test]
fn refund_reason_maps_to_adyen_enum() {
    let mut req = RefundRequest {
        provider_reference: "PSP".into(),
        amount: 500,
        currency: "eur".into(),
        refund_id: "ref_1".into(),
        reason: Some("requested_by_customer".into()),
        idempotency_key: "k".into(),
    };
    let body = refund_body(&settings(), &req).unwrap();
    assert_eq!(body["merchantRefundReason"], "CUSTOMER REQUEST");
    assert_eq!(body["reference"], "ref_1");
    assert_eq!(body["amount"], json!({"value": 500, "currency": "EUR"}));
    req.reason = None;
    assert!(
        refund_body(&settings(), &req)
            .unwrap()
            .get("merchantRefundReason")
            .is_none()
    );
}

#[test]
fn standalone_cancel_names_the_payment_by_payroute_id() {
    let body = standalone_cancel_body(&settings(), "pay_1").unwrap();
    assert_eq!(
        body,
        json!({"merchantAccount": "PayrouteECOM", "paymentReference": "pay_1", "reference": "pay_1-reversal"})
    );
    let mut s = settings();
    s.merchant_account = None;
    assert!(matches!(
        standalone_cancel_body(&s, "pay_1"),
        Err(AdyenError::NoMerchantAccount)
    ));
}

#[test]
fn standalone_cancel_received_is_pending_on_the_cancels_psp_reference() {
    let reply = json!({"merchantAccount": "PayrouteECOM", "paymentReference": "pay_1",
        "pspReference": "ZC4R4RBFJGXXGN82", "reference": "pay_1-reversal", "status": "received"});
    let out = classify_modification(
        http::StatusCode::CREATED,
        &http::HeaderMap::new(),
        reply.to_string().as_bytes(),
    );
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "ZC4R4RBFJGXXGN82".into()
        }
    );
}

#[tokio::test]
async fn find_authorization_is_unknown_for_want_of_a_status_api() {
    let connector = AdyenConnector::new(settings(), HttpClient::new());
    let q = AuthorizationQuery {
        payment_id: "pay_1".into(),
        provider_reference: Some("QFQTPCQ8HXSKGK82".into()),
        amount: 1999,
        currency: "EUR".into(),
        manual_capture: false,
        idempotency_key: "att_1-adyen_eu".into(),
    };
    assert_eq!(
        connector.find_authorization(&q).await,
        Lookup::Unknown {
            reason: NO_STATUS_API.into()
        }
    );
}

#[tokio::test]
async fn reversal_posts_a_standalone_cancel_with_the_key() {
    use crate::connectors::test_server::script;
    let reply = json!({"merchantAccount": "PayrouteECOM", "paymentReference": "pay_1",
        "pspReference": "ZC4R4RBFJGXXGN82", "reference": "pay_1-reversal", "status": "received"});
    let (base, server) = script(vec![(201, reply)]).await;
    let mut s = settings();
    s.base_url = format!("{base}/v71");
    let out = AdyenConnector::new(s, HttpClient::new())
        .reverse_by_reference("pay_1", "att_1-reversal")
        .await;
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "ZC4R4RBFJGXXGN82".into()
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(seen[0].request_line, "POST /v71/cancels HTTP/1.1");
    assert_eq!(seen[0].header("idempotency-key"), Some("att_1-reversal"));
    assert_eq!(seen[0].header("x-api-key"), Some("AQE_secret_key"));
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body, standalone_cancel_body(&settings(), "pay_1").unwrap());
}

#[tokio::test]
async fn a_known_psp_reference_is_reversed_with_payments_reversals() {
    use crate::connectors::test_server::script;
    let reply = json!({"merchantAccount": "PayrouteECOM", "paymentPspReference": "QFQTPCQ8HXSKGK82",
        "pspReference": "ZC4R4RBFJGXXGN83", "reference": "pay_1-reversal", "status": "received"});
    let (base, server) = script(vec![(201, reply)]).await;
    let mut s = settings();
    s.base_url = format!("{base}/v71");
    let conn = crate::connectors::Connector::Adyen(AdyenConnector::new(s, HttpClient::new()));
    let out = conn
        .reverse("pay_1", Some("QFQTPCQ8HXSKGK82"), "pay_1-late-reversal")
        .await;
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "ZC4R4RBFJGXXGN83".into()
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].request_line,
        "POST /v71/payments/QFQTPCQ8HXSKGK82/reversals HTTP/1.1"
    );
    assert_eq!(
        seen[0].header("idempotency-key"),
        Some("pay_1-late-reversal")
    );
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        body,
        json!({"merchantAccount": "PayrouteECOM", "reference": "pay_1-reversal"})
    );
}
