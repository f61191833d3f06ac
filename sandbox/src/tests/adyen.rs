//! The Adyen dialect: test cards, modifications, validation, auth.

use super::super::ChargeStatus;
use super::*;

#[tokio::test]
async fn approved_card_is_authorised_with_a_16_char_psp_reference() {
    let gw = gateway().await;
    let resp = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", false),
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.json);
    assert_eq!(resp.json["resultCode"], "Authorised");
    assert_eq!(resp.json["merchantReference"], "order-42");
    assert_eq!(resp.json["amount"]["value"], 1500);
    let psp = resp.json["pspReference"].as_str().unwrap();
    assert_eq!(psp.len(), 16);
    assert!(
        psp.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.id, psp);
    assert_eq!(
        entry.status,
        ChargeStatus::Captured,
        "auto-capture by default"
    );
    assert_eq!(entry.reference.as_deref(), Some("order-42"));
    assert_eq!(gw.state().outbox()[0].event, "AUTHORISATION");
}

#[tokio::test]
async fn decline_cards_are_refused_with_adyen_reasons() {
    let gw = gateway().await;
    let cases = [
        ("4000000000000002", "Refused", "2"),
        ("4000000000009995", "Not enough balance", "12"),
        ("4000000000000069", "Expired Card", "6"),
        ("4000000000000127", "CVC Declined", "24"),
    ];
    for (card, reason, code) in cases {
        let resp = adyen(gw.addr, "/payments", &adyen_payment(card, false), None)
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json["resultCode"], "Refused", "{card}");
        assert_eq!(resp.json["refusalReason"], reason);
        assert_eq!(resp.json["refusalReasonCode"], code);
    }
    assert!(gw.state().live_charges().is_empty());
    assert_eq!(gw.state().ledger().len(), 4);
}

#[tokio::test]
async fn invalid_luhn_is_a_422_validation_error() {
    let gw = gateway().await;
    let resp = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424241", false),
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 422);
    assert_eq!(resp.json["errorType"], "validation");
    assert_eq!(resp.json["errorCode"], "101");
    assert!(gw.state().ledger().is_empty());
}

#[tokio::test]
async fn each_required_field_missing_is_a_422() {
    let gw = gateway().await;
    for field in [
        "merchantAccount",
        "amount",
        "paymentMethod",
        "reference",
        "returnUrl",
    ] {
        let mut body = adyen_payment("4242424242424242", false);
        body.as_object_mut().unwrap().remove(field);
        let resp = adyen(gw.addr, "/payments", &body, None).await.unwrap();
        assert_eq!(resp.status, 422, "{field}");
        assert_eq!(resp.json["status"], 422);
        assert_eq!(resp.json["errorType"], "validation");
        assert!(resp.json["pspReference"].is_string());
    }
    assert!(gw.state().ledger().is_empty());
}

#[tokio::test]
async fn manual_capture_capture_and_refund_flow() {
    let gw = gateway().await;
    let auth = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", true),
        None,
    )
    .await
    .unwrap();
    let psp = auth.json["pspReference"].as_str().unwrap().to_string();
    assert_eq!(gw.state().ledger()[0].status, ChargeStatus::Authorized);
    let amount = json!({"currency": "EUR", "value": 1500});
    let capture = adyen(
        gw.addr,
        &format!("/payments/{psp}/captures"),
        &json!({"amount": amount, "merchantAccount": MERCHANT, "reference": "cap-1"}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(capture.status, 201, "{}", capture.json);
    assert_eq!(capture.json["status"], "received");
    assert_eq!(capture.json["paymentPspReference"], psp);
    assert_eq!(capture.json["reference"], "cap-1");
    assert_ne!(capture.json["pspReference"], psp);
    assert_eq!(gw.state().ledger()[0].status, ChargeStatus::Captured);

    let part = json!({"amount": {"currency": "EUR", "value": 500}, "merchantAccount": MERCHANT});
    let refund = adyen(gw.addr, &format!("/payments/{psp}/refunds"), &part, None)
        .await
        .unwrap();
    assert_eq!(refund.status, 201);
    assert_eq!(
        gw.state().ledger()[0].status,
        ChargeStatus::PartiallyRefunded
    );
    let over = json!({"amount": {"currency": "EUR", "value": 1001}, "merchantAccount": MERCHANT});
    let too_much = adyen(gw.addr, &format!("/payments/{psp}/refunds"), &over, None)
        .await
        .unwrap();
    assert_eq!(too_much.status, 422);
    assert_eq!(gw.state().ledger()[0].amount_refunded, 500);
    let events: Vec<String> = gw.state().outbox().into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["AUTHORISATION", "CAPTURE", "REFUND"]);
}

#[tokio::test]
async fn cancel_voids_an_authorisation() {
    let gw = gateway().await;
    let auth = adyen(
        gw.addr,
        "/payments",
        &adyen_payment("4242424242424242", true),
        None,
    )
    .await
    .unwrap();
    let psp = auth.json["pspReference"].as_str().unwrap();
    let cancel = adyen(
        gw.addr,
        &format!("/payments/{psp}/cancels"),
        &json!({"merchantAccount": MERCHANT}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(cancel.status, 201);
    assert_eq!(cancel.json["status"], "received");
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.status, ChargeStatus::Voided);
    assert!(!entry.live);
    let last = gw.state().outbox().pop().unwrap();
    assert_eq!((last.event.as_str(), last.success), ("CANCELLATION", true));
}

#[tokio::test]
async fn modification_of_unknown_psp_is_422_167() {
    let gw = gateway().await;
    let resp = adyen(
        gw.addr,
        "/payments/ABCDEFGHIJKLMNOP/cancels",
        &json!({"merchantAccount": MERCHANT}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 422);
    assert_eq!(resp.json["errorCode"], "167");
}

#[tokio::test]
async fn sepa_and_wallets_authorise_and_unknown_methods_are_refused() {
    let gw = gateway().await;
    let methods = [
        json!({"type": "sepadirectdebit", "iban": "NL13TEST0123456789", "ownerName": "A. Klaassen"}),
        json!({"type": "applepay", "applePayToken": "VNRWtuNlNEWkRCSm1xWndjMDFFbktkQU..."}),
        json!({"type": "googlepay", "googlePayToken": "==Payload as retrieved from Google Pay response=="}),
        json!({"type": "scheme", "encryptedCardNumber": "test_4111111111111111",
               "encryptedExpiryMonth": "test_03", "encryptedExpiryYear": "test_2030",
               "encryptedSecurityCode": "test_737"}),
    ];
    for method in methods {
        let mut body = adyen_payment("4242424242424242", false);
        body["paymentMethod"] = method.clone();
        let resp = adyen(gw.addr, "/payments", &body, None).await.unwrap();
        assert_eq!(
            resp.json["resultCode"], "Authorised",
            "{method}: {}",
            resp.json
        );
    }
    let mut body = adyen_payment("4242424242424242", false);
    body["paymentMethod"] = json!({"type": "klarna"});
    let resp = adyen(gw.addr, "/payments", &body, None).await.unwrap();
    assert_eq!(resp.status, 422);
}

#[tokio::test]
async fn missing_api_key_is_401_and_wrong_merchant_is_403() {
    let gw = gateway().await;
    let body = adyen_payment("4242424242424242", false).to_string();
    let resp = send(
        gw.addr,
        "POST",
        "/adyen/v71/payments",
        &[("content-type", "application/json")],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json["errorType"], "security");
    let wrong = send(
        gw.addr,
        "POST",
        "/adyen/v71/payments",
        &[("x-api-key", "nope")],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(wrong.status, 401);
    let mut other = adyen_payment("4242424242424242", false);
    other["merchantAccount"] = json!("SomeoneElse");
    let resp = adyen(gw.addr, "/payments", &other, None).await.unwrap();
    assert_eq!(resp.status, 403);
    assert_eq!(resp.json["errorCode"], "901");
    assert!(gw.state().ledger().is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_702() {
    let gw = gateway().await;
    let resp = send(
        gw.addr,
        "POST",
        "/adyen/v71/payments",
        &[("x-api-key", ADYEN_KEY)],
        "{\"amount\":",
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json["errorCode"], "702");
}
