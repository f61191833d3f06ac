//! The Stripe dialect: test cards, intent lifecycle, refunds, validation, auth.

use base64::Engine;

use super::super::{ChargeStatus, Dialect};
use super::*;

#[tokio::test]
async fn approved_card_succeeds_and_is_a_live_captured_charge() {
    let gw = gateway().await;
    let resp = stripe_charge(gw.addr, "4242424242424242", "&metadata[order_id]=o1", None)
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.json);
    let pi = &resp.json;
    assert_eq!(pi["object"], "payment_intent");
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount_received"], 2000);
    assert_eq!(pi["currency"], "eur");
    assert!(pi["latest_charge"].as_str().unwrap().starts_with("ch_"));
    assert!(pi["id"].as_str().unwrap().starts_with("pi_"));
    let ledger = gw.state().ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].status, ChargeStatus::Captured);
    assert_eq!(ledger[0].currency, "EUR");
    assert_eq!(ledger[0].metadata["order_id"], "o1");
    assert!(ledger[0].live);
}

#[tokio::test]
async fn decline_cards_answer_402_card_errors_with_their_codes() {
    let gw = gateway().await;
    let cases = [
        ("4000000000000002", "card_declined", "generic_decline"),
        ("4000000000009995", "card_declined", "insufficient_funds"),
        ("4000000000000069", "expired_card", "expired_card"),
        ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
    ];
    for (card, code, decline) in cases {
        let resp = stripe_charge(gw.addr, card, "", None).await.unwrap();
        assert_eq!(resp.status, 402, "{card}");
        let error = &resp.json["error"];
        assert_eq!(error["type"], "card_error");
        assert_eq!(error["code"], code);
        assert_eq!(error["decline_code"], decline);
        assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
        assert_eq!(
            error["payment_intent"]["last_payment_error"]["decline_code"],
            decline
        );
    }
    let ledger = gw.state().ledger();
    assert_eq!(ledger.len(), 4);
    assert!(
        ledger
            .iter()
            .all(|e| e.status == ChargeStatus::Declined && !e.live)
    );
    assert!(gw.state().live_charges().is_empty());
}

#[tokio::test]
async fn dispute_card_and_other_luhn_valid_numbers_approve() {
    let gw = gateway().await;
    for card in ["4000000000000259", "5555555555554444"] {
        let resp = stripe_charge(gw.addr, card, "", None).await.unwrap();
        assert_eq!(resp.json["status"], "succeeded", "{card}");
    }
}

#[tokio::test]
async fn invalid_luhn_is_402_incorrect_number_at_payment_method_creation() {
    let gw = gateway().await;
    let body = "type=card&card[number]=4242424242424241&card[exp_month]=12&card[exp_year]=2099";
    let resp = stripe(gw.addr, "POST", "/v1/payment_methods", body, None)
        .await
        .unwrap();
    assert_eq!(resp.status, 402);
    assert_eq!(resp.json["error"]["code"], "incorrect_number");
    assert_eq!(resp.json["error"]["type"], "card_error");
}

#[tokio::test]
async fn payment_method_response_shows_last4_never_the_number() {
    let gw = gateway().await;
    let body = "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2099";
    let resp = stripe(gw.addr, "POST", "/v1/payment_methods", body, None)
        .await
        .unwrap();
    assert_eq!(resp.json["card"]["last4"], "4242");
    assert_eq!(resp.json["card"]["brand"], "visa");
    assert!(!resp.json.to_string().contains("4242424242424242"));
}

#[tokio::test]
async fn manual_capture_then_partial_capture_and_refunds_update_the_ledger() {
    let gw = gateway().await;
    let resp = stripe_charge(gw.addr, "4242424242424242", "&capture_method=manual", None)
        .await
        .unwrap();
    assert_eq!(resp.json["status"], "requires_capture");
    assert_eq!(resp.json["amount_capturable"], 2000);
    let id = resp.json["id"].as_str().unwrap().to_string();
    assert_eq!(gw.state().ledger()[0].status, ChargeStatus::Authorized);

    let over = stripe(
        gw.addr,
        "POST",
        &format!("/v1/payment_intents/{id}/capture"),
        "amount_to_capture=2001",
        None,
    )
    .await
    .unwrap();
    assert_eq!(over.status, 400);
    let captured = stripe(
        gw.addr,
        "POST",
        &format!("/v1/payment_intents/{id}/capture"),
        "amount_to_capture=1500",
        None,
    )
    .await
    .unwrap();
    assert_eq!(captured.json["status"], "succeeded");
    assert_eq!(captured.json["amount_received"], 1500);
    assert_eq!(gw.state().ledger()[0].amount_captured, 1500);

    let again = stripe(
        gw.addr,
        "POST",
        &format!("/v1/payment_intents/{id}/capture"),
        "",
        None,
    )
    .await
    .unwrap();
    assert_eq!(again.status, 400);
    assert_eq!(
        again.json["error"]["code"],
        "payment_intent_unexpected_state"
    );

    let refund = stripe(
        gw.addr,
        "POST",
        "/v1/refunds",
        &format!("payment_intent={id}&amount=500&reason=requested_by_customer"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(refund.status, 200, "{}", refund.json);
    assert_eq!(refund.json["object"], "refund");
    assert_eq!(refund.json["status"], "succeeded");
    assert_eq!(
        gw.state().ledger()[0].status,
        ChargeStatus::PartiallyRefunded
    );

    let too_much = stripe(
        gw.addr,
        "POST",
        "/v1/refunds",
        &format!("payment_intent={id}&amount=1001"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(too_much.status, 400);
    assert_eq!(too_much.json["error"]["code"], "amount_too_large");

    let rest = stripe(
        gw.addr,
        "POST",
        "/v1/refunds",
        &format!("payment_intent={id}"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(rest.json["amount"], 1000);
    assert_eq!(gw.state().ledger()[0].status, ChargeStatus::Refunded);

    let done = stripe(
        gw.addr,
        "POST",
        "/v1/refunds",
        &format!("payment_intent={id}"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(done.json["error"]["code"], "charge_already_refunded");

    let fetched = stripe(
        gw.addr,
        "GET",
        &format!("/v1/refunds/{}", rest.json["id"].as_str().unwrap()),
        "",
        None,
    )
    .await
    .unwrap();
    assert_eq!(fetched.json["amount"], 1000);
}

#[tokio::test]
async fn cancel_voids_an_authorization_and_refuses_a_succeeded_intent() {
    let gw = gateway().await;
    let resp = stripe_charge(gw.addr, "4242424242424242", "&capture_method=manual", None)
        .await
        .unwrap();
    let id = resp.json["id"].as_str().unwrap().to_string();
    let canceled = stripe(
        gw.addr,
        "POST",
        &format!("/v1/payment_intents/{id}/cancel"),
        "cancellation_reason=abandoned",
        None,
    )
    .await
    .unwrap();
    assert_eq!(canceled.json["status"], "canceled");
    let entry = &gw.state().ledger()[0];
    assert_eq!(entry.status, ChargeStatus::Voided);
    assert!(!entry.live);

    let paid = stripe_charge(gw.addr, "4242424242424242", "", None)
        .await
        .unwrap();
    let paid_id = paid.json["id"].as_str().unwrap();
    let refused = stripe(
        gw.addr,
        "POST",
        &format!("/v1/payment_intents/{paid_id}/cancel"),
        "",
        None,
    )
    .await
    .unwrap();
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json["error"]["code"],
        "payment_intent_unexpected_state"
    );
}

#[tokio::test]
async fn create_then_confirm_and_retrieve_with_expanded_charge() {
    let gw = gateway().await;
    let created = stripe(
        gw.addr,
        "POST",
        "/v1/payment_intents",
        "amount=999&currency=usd&payment_method_types[]=card",
        None,
    )
    .await
    .unwrap();
    assert_eq!(created.json["status"], "requires_payment_method");
    assert!(
        gw.state().ledger().is_empty(),
        "no charge before confirmation"
    );
    let id = created.json["id"].as_str().unwrap();
    let confirmed = stripe(
        gw.addr,
        "POST",
        &format!("/v1/payment_intents/{id}/confirm"),
        "payment_method=pm_card_visa&expand[0]=latest_charge",
        None,
    )
    .await
    .unwrap();
    assert_eq!(confirmed.json["status"], "succeeded", "{}", confirmed.json);
    assert_eq!(confirmed.json["latest_charge"]["object"], "charge");
    assert_eq!(confirmed.json["latest_charge"]["paid"], true);
    let fetched = stripe(
        gw.addr,
        "GET",
        &format!("/v1/payment_intents/{id}"),
        "",
        None,
    )
    .await
    .unwrap();
    assert_eq!(fetched.json["status"], "succeeded");
    let missing = stripe(gw.addr, "GET", "/v1/payment_intents/pi_nope", "", None)
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json["error"]["code"], "resource_missing");
}

#[tokio::test]
async fn sepa_debit_via_payment_method_data_is_processing() {
    let gw = gateway().await;
    let body = "amount=500&currency=eur&confirm=true&payment_method_types[0]=sepa_debit\
                &payment_method_data[type]=sepa_debit&payment_method_data[sepa_debit][iban]=DE89370400440532013000\
                &payment_method_data[billing_details][name]=Ada";
    let resp = stripe(gw.addr, "POST", "/v1/payment_intents", body, None)
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.json);
    assert_eq!(resp.json["status"], "processing");
    let entry = &gw.state().ledger_for(Dialect::Stripe)[0];
    assert_eq!(entry.payment_method, "sepa_debit");
    assert!(entry.live);
}

#[tokio::test]
async fn parameter_validation_errors_are_400_invalid_request() {
    let gw = gateway().await;
    let cases = [
        ("currency=eur", "parameter_missing", "amount"),
        ("amount=100", "parameter_missing", "currency"),
        (
            "amount=0&currency=eur",
            "parameter_invalid_integer",
            "amount",
        ),
        (
            "amount=-5&currency=eur",
            "parameter_invalid_integer",
            "amount",
        ),
        (
            "amount=abc&currency=eur",
            "parameter_invalid_integer",
            "amount",
        ),
        (
            "amount=100&currency=eur&amout=1",
            "parameter_unknown",
            "amout",
        ),
    ];
    for (body, code, param) in cases {
        let resp = stripe(gw.addr, "POST", "/v1/payment_intents", body, None)
            .await
            .unwrap();
        assert_eq!(resp.status, 400, "{body}");
        assert_eq!(resp.json["error"]["type"], "invalid_request_error");
        assert_eq!(resp.json["error"]["code"], code, "{body}");
        assert_eq!(resp.json["error"]["param"], param, "{body}");
    }
    let unknown = stripe(
        gw.addr,
        "POST",
        "/v1/payment_intents",
        "amount=100&currency=xyz",
        None,
    )
    .await
    .unwrap();
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json["error"]["param"], "currency");
}

#[tokio::test]
async fn json_bodies_are_refused_because_v1_is_form_encoded() {
    let gw = gateway().await;
    let auth = format!("Bearer {SK}");
    let resp = send(
        gw.addr,
        "POST",
        "/stripe/v1/payment_intents",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        r#"{"amount":100,"currency":"eur"}"#,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 400);
}

#[tokio::test]
async fn missing_or_wrong_keys_are_401_and_basic_auth_works() {
    let gw = gateway().await;
    let none = send(gw.addr, "GET", "/stripe/v1/payment_intents/pi_x", &[], "")
        .await
        .unwrap();
    assert_eq!(none.status, 401);
    assert_eq!(none.json["error"]["type"], "invalid_request_error");
    let wrong = send(
        gw.addr,
        "GET",
        "/stripe/v1/payment_intents/pi_x",
        &[("authorization", "Bearer sk_test_wrongkey1")],
        "",
    )
    .await
    .unwrap();
    assert_eq!(wrong.status, 401);
    assert!(
        !wrong.json.to_string().contains("sk_test_wrongkey1"),
        "key must be redacted"
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SK}:"))
    );
    let ok = send(
        gw.addr,
        "GET",
        "/stripe/v1/payment_intents/pi_x",
        &[("authorization", &basic)],
        "",
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 404, "authenticated, then the intent is unknown");
}
