//! The Checkout.com dialect: payments, actions, reads, validation, auth.

use super::super::{ChargeStatus, Dialect};
use super::*;

async fn pay(addr: SocketAddr, body: &Value) -> Resp {
    checkout(addr, "POST", "/payments", body, None)
        .await
        .unwrap()
}

async fn act(addr: SocketAddr, id: &str, kind: &str, body: &Value) -> Resp {
    checkout(addr, "POST", &format!("/payments/{id}/{kind}"), body, None)
        .await
        .unwrap()
}

async fn details(addr: SocketAddr, id: &str) -> Resp {
    checkout(addr, "GET", &format!("/payments/{id}"), &Value::Null, None)
        .await
        .unwrap()
}

#[tokio::test]
async fn approved_card_is_201_captured_by_default_with_a_pay_id() {
    let gw = gateway().await;
    let resp = pay(gw.addr, &checkout_payment("4242424242424242", true)).await;
    assert_eq!(resp.status, 201, "{}", resp.json);
    assert_eq!(resp.json["approved"], true);
    assert_eq!(resp.json["status"], "Captured");
    assert_eq!(resp.json["response_code"], "10000");
    assert_eq!(resp.json["reference"], "pay_ref_42");
    assert_eq!(resp.json["source"]["last4"], "4242");
    assert!(resp.header("cko-request-id").is_some());
    let id = resp.json["id"].as_str().unwrap();
    assert!(id.starts_with("pay_") && id.len() == 30, "{id}");
    assert!(resp.json["action_id"].as_str().unwrap().starts_with("act_"));
    let entry = &gw.state().ledger_for(Dialect::Checkout)[0];
    assert_eq!(entry.id, id);
    assert_eq!(entry.status, ChargeStatus::Captured);
    assert_eq!(entry.reference.as_deref(), Some("pay_ref_42"));
    assert_eq!(entry.metadata["payroute_payment_id"], "pay_ref_42");
    let events: Vec<String> = gw
        .state()
        .outbox()
        .iter()
        .map(|e| e.event.clone())
        .collect();
    assert_eq!(events, ["payment_approved", "payment_captured"]);
}

#[tokio::test]
async fn decline_cards_are_201_declined_with_checkout_response_codes() {
    let gw = gateway().await;
    let cases = [
        ("4000000000000002", "20005"),
        ("4000000000009995", "20051"),
        ("4000000000000069", "20054"),
        ("4000000000000127", "20087"),
    ];
    for (card, code) in cases {
        let resp = pay(gw.addr, &checkout_payment(card, true)).await;
        assert_eq!(resp.status, 201, "{card}");
        assert_eq!(resp.json["approved"], false, "{card}");
        assert_eq!(resp.json["status"], "Declined");
        assert_eq!(resp.json["response_code"], code, "{card}");
        assert!(resp.json["_links"].get("capture").is_none());
    }
    assert!(gw.state().live_charges().is_empty());
    assert_eq!(gw.state().ledger().len(), 4);
    assert!(
        gw.state()
            .outbox()
            .iter()
            .all(|e| e.event == "payment_declined")
    );
}

#[tokio::test]
async fn manual_capture_partial_captures_and_refund_move_balances_and_ledger() {
    let gw = gateway().await;
    let auth = pay(gw.addr, &checkout_payment("4242424242424242", false)).await;
    assert_eq!(auth.json["status"], "Authorized");
    let id = auth.json["id"].as_str().unwrap().to_string();
    let first = act(
        gw.addr,
        &id,
        "captures",
        &json!({"amount": 1000, "reference": "cap-1"}),
    )
    .await;
    assert_eq!(first.status, 202, "{}", first.json);
    assert_eq!(first.json["reference"], "cap-1");
    assert!(
        first.json["action_id"]
            .as_str()
            .unwrap()
            .starts_with("act_")
    );
    let got = details(gw.addr, &id).await;
    assert_eq!(got.json["status"], "Partially Captured");
    assert_eq!(got.json["balances"]["available_to_capture"], 1500);
    let too_much = act(gw.addr, &id, "captures", &json!({"amount": 1501})).await;
    assert_eq!(too_much.status, 422);
    assert_eq!(too_much.json["error_codes"][0], "amount_exceeds_balance");
    assert_eq!(act(gw.addr, &id, "captures", &json!({})).await.status, 202);
    let refund = act(
        gw.addr,
        &id,
        "refunds",
        &json!({"amount": 700, "reference": "ref-1",
        "metadata": {"payroute_refund_id": "rf_1"}}),
    )
    .await;
    assert_eq!(refund.status, 202);
    let got = details(gw.addr, &id).await;
    assert_eq!(got.json["status"], "Partially Refunded");
    assert_eq!(got.json["balances"]["total_captured"], 2500);
    assert_eq!(got.json["balances"]["available_to_refund"], 1800);
    let entry = &gw.state().ledger()[0];
    assert_eq!((entry.amount_captured, entry.amount_refunded), (2500, 700));
    assert_eq!(entry.status, ChargeStatus::PartiallyRefunded);
    let refunded = gw.state().outbox().into_iter().last().unwrap();
    assert_eq!(refunded.event, "payment_refunded");
    let data = refunded.object.unwrap();
    assert_eq!(data["reference"], "ref-1");
    assert_eq!(data["metadata"]["payroute_refund_id"], "rf_1");
    assert_eq!(data["metadata"]["payroute_payment_id"], "pay_ref_42");
}

#[tokio::test]
async fn void_of_an_authorization_voids_and_actions_the_state_forbids_are_403() {
    let gw = gateway().await;
    let auth = pay(gw.addr, &checkout_payment("4242424242424242", false)).await;
    let id = auth.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        act(gw.addr, &id, "refunds", &json!({})).await.status,
        403,
        "nothing captured"
    );
    assert_eq!(
        act(gw.addr, &id, "voids", &json!({"reference": "v-1"}))
            .await
            .status,
        202
    );
    assert_eq!(details(gw.addr, &id).await.json["status"], "Voided");
    assert!(!gw.state().ledger()[0].live);
    assert_eq!(act(gw.addr, &id, "captures", &json!({})).await.status, 403);
    assert_eq!(act(gw.addr, &id, "voids", &json!({})).await.status, 403);
    let captured = pay(gw.addr, &checkout_payment("4242424242424242", true)).await;
    let cid = captured.json["id"].as_str().unwrap().to_string();
    assert_eq!(act(gw.addr, &cid, "voids", &json!({})).await.status, 403);
    assert_eq!(
        act(gw.addr, "pay_unknown", "voids", &json!({}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn reversal_voids_an_authorization_and_refunds_a_capture() {
    let gw = gateway().await;
    let auth = pay(gw.addr, &checkout_payment("4242424242424242", false)).await;
    let id = auth.json["id"].as_str().unwrap().to_string();
    assert_eq!(act(gw.addr, &id, "reversals", &json!({})).await.status, 202);
    assert_eq!(details(gw.addr, &id).await.json["status"], "Voided");
    let captured = pay(gw.addr, &checkout_payment("4242424242424242", true)).await;
    let cid = captured.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        act(gw.addr, &cid, "reversals", &json!({})).await.status,
        202
    );
    assert_eq!(details(gw.addr, &cid).await.json["status"], "Refunded");
    let kinds: Vec<String> = gw
        .state()
        .outbox()
        .iter()
        .map(|e| e.event.clone())
        .collect();
    assert!(kinds.contains(&"payment_voided".to_string()));
    assert_eq!(kinds.last().map(String::as_str), Some("payment_refunded"));
}

#[tokio::test]
async fn reads_by_id_and_by_reference_see_only_the_callers_account() {
    let gw = gateway_with(SandboxConfig::default()).await;
    let other = |addr, method, path: &str| {
        let path = format!("/checkout{path}");
        async move {
            send(
                addr,
                method,
                &path,
                &[("authorization", "Bearer sk_other")],
                "",
            )
            .await
            .unwrap()
        }
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = pay(gw.addr, &checkout_payment("4242424242424242", true)).await;
        ids.push(resp.json["id"].as_str().unwrap().to_string());
    }
    let got = details(gw.addr, &ids[0]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["balances"]["total_captured"], 2500);
    assert_eq!(
        other(gw.addr, "GET", &format!("/payments/{}", ids[0]))
            .await
            .status,
        404
    );
    let list = checkout(
        gw.addr,
        "GET",
        "/payments?reference=pay_ref_42&limit=2",
        &Value::Null,
        None,
    )
    .await
    .unwrap();
    assert_eq!(list.status, 200, "{}", list.json);
    assert_eq!(list.json["total_count"], 3);
    assert_eq!(list.json["limit"], 2);
    let data = list.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], ids[2].as_str(), "newest first");
    let page2 = checkout(
        gw.addr,
        "GET",
        "/payments?reference=pay_ref_42&skip=2",
        &Value::Null,
        None,
    )
    .await
    .unwrap();
    assert_eq!(page2.json["data"][0]["id"], ids[0].as_str());
    let theirs = other(gw.addr, "GET", "/payments?reference=pay_ref_42").await;
    assert_eq!(theirs.json["total_count"], 0);
    let none = checkout(gw.addr, "GET", "/payments", &Value::Null, None)
        .await
        .unwrap();
    assert_eq!(none.status, 422);
}

#[tokio::test]
async fn invalid_requests_are_422_request_invalid_and_record_nothing() {
    let gw = gateway().await;
    let cases: [(&str, Value, &str); 5] = [
        ("/currency", json!("EURO"), "currency_invalid"),
        ("/amount", json!(0), "amount_invalid"),
        ("/amount", json!(1_000_000_000), "amount_invalid"),
        (
            "/source/number",
            json!("4242424242424241"),
            "card_number_invalid",
        ),
        (
            "/source/expiry_month",
            json!(13),
            "card_expiry_month_invalid",
        ),
    ];
    for (pointer, value, code) in cases {
        let mut body = checkout_payment("4242424242424242", true);
        *body.pointer_mut(pointer).unwrap() = value;
        let resp = pay(gw.addr, &body).await;
        assert_eq!(resp.status, 422, "{pointer}");
        assert_eq!(resp.json["error_type"], "request_invalid");
        assert_eq!(resp.json["error_codes"][0], code, "{pointer}");
    }
    let mut no_source = checkout_payment("4242424242424242", true);
    no_source.as_object_mut().unwrap().remove("source");
    assert_eq!(
        pay(gw.addr, &no_source).await.json["error_codes"][0],
        "payment_source_required"
    );
    assert!(gw.state().ledger().is_empty());
}

/// "Format the amount value": BHD amounts end in 0, ISK is a full amount.
#[tokio::test]
async fn amounts_follow_checkouts_own_currency_table() {
    let gw = gateway().await;
    let with = |currency: &str, amount: i64| {
        let mut body = checkout_payment("4242424242424242", true);
        body["currency"] = json!(currency);
        body["amount"] = json!(amount);
        body
    };
    assert_eq!(pay(gw.addr, &with("BHD", 1001)).await.status, 422);
    assert_eq!(pay(gw.addr, &with("BHD", 1000)).await.status, 201);
    assert_eq!(pay(gw.addr, &with("ISK", 1)).await.status, 201);
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_and_a_bare_previous_platform_key_works() {
    let gw = gateway().await;
    let body = checkout_payment("4242424242424242", true).to_string();
    let none = send(gw.addr, "POST", "/checkout/payments", &[], &body)
        .await
        .unwrap();
    assert_eq!(none.status, 401);
    let wrong = [("authorization", "Bearer sk_sbox_wrong")];
    assert_eq!(
        send(gw.addr, "POST", "/checkout/payments", &wrong, &body)
            .await
            .unwrap()
            .status,
        401
    );
    let bare = [("authorization", CKO_SK)];
    let resp = send(gw.addr, "POST", "/checkout/payments", &bare, &body)
        .await
        .unwrap();
    assert_eq!(resp.status, 201, "{}", resp.json);
    assert_eq!(gw.state().ledger().len(), 1);
}

#[tokio::test]
async fn three_ds_payments_are_202_pending_and_not_charged() {
    let gw = gateway().await;
    let mut body = checkout_payment("4242424242424242", true);
    body["3ds"] = json!({"enabled": true});
    let resp = pay(gw.addr, &body).await;
    assert_eq!(resp.status, 202, "{}", resp.json);
    assert_eq!(resp.json["status"], "Pending");
    assert!(resp.json["_links"]["redirect"].is_object());
    assert!(gw.state().ledger().is_empty());
    assert_eq!(gw.state().outbox()[0].event, "payment_pending");
}
