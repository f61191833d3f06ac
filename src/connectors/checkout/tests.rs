//! Wire shape of every call, over real HTTP against the scripted test
//! server, and the lookup that settles an open authorization reply.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::connectors::GatewayKind;
use crate::connectors::gateway::Gateway;
use crate::connectors::test_server::{Seen, script};
use crate::domain::method::{CardData, MethodData};
use crate::domain::sensitive::Sensitive;

fn settings(base: &str) -> ConnectorSettings {
    ConnectorSettings {
        id: "cko_main".into(),
        kind: GatewayKind::Checkout,
        base_url: format!("{base}/checkout"),
        timeout: Duration::from_secs(5),
        api_key: Sensitive("sk_sbox_secret".into()),
        merchant_account: None,
    }
}

fn connector(base: &str) -> CheckoutConnector {
    CheckoutConnector::new(settings(base), HttpClient::new())
}

fn card() -> CardData {
    CardData {
        number: Sensitive("4242424242424242".into()),
        exp_month: 3,
        exp_year: 2030,
        cvc: Some(Sensitive("100".into())),
        holder_name: Some("A. Buyer".into()),
    }
}

fn authorize(method: MethodData, manual: bool) -> AuthorizeRequest {
    AuthorizeRequest {
        payment_id: "pay_1".into(),
        reference: "order-1234".into(),
        amount: 1999,
        currency: "eur".into(),
        manual_capture: manual,
        method,
        customer_email: Some("a@example.com".into()),
        customer_country: Some("DE".into()),
        customer_ip: Some("203.0.113.7".into()),
        customer_id: None,
        idempotency_key: "att_1-cko_main".into(),
        return_url: "https://merchant.example/return".into(),
        credential: crate::domain::vault::CredentialUse::OneOff,
    }
}

fn approved(status: &str) -> Value {
    json!({"id": "pay_a", "action_id": "act_a", "amount": 1999, "currency": "EUR", "approved": true,
        "status": status, "response_code": "10000", "response_summary": "Approved", "reference": "pay_1"})
}

fn body(seen: &Seen) -> Value {
    serde_json::from_str(&seen.body).unwrap()
}

fn list(payments: Vec<Value>) -> Value {
    json!({"limit": 10, "skip": 0, "total_count": payments.len(), "data": payments})
}

#[tokio::test]
async fn authorize_posts_the_card_payment_with_key_auth_and_reference() {
    let (base, server) = script(vec![(201, approved("Authorized"))]).await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), true))
        .await;
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pay_a".into(),
            effect: Effect::Authorized
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(seen[0].request_line, "POST /checkout/payments HTTP/1.1");
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk_sbox_secret")
    );
    assert_eq!(
        seen[0].header("cko-idempotency-key"),
        Some("att_1-cko_main")
    );
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(
        body(&seen[0]),
        json!({
            "source": {"type": "card", "number": "4242424242424242", "expiry_month": 3,
                "expiry_year": 2030, "cvv": "100", "name": "A. Buyer"},
            "amount": 1999, "currency": "EUR", "reference": "pay_1", "capture": false,
            "metadata": {"payroute_payment_id": "pay_1", "merchant_reference": "order-1234"},
            "customer": {"email": "a@example.com"}, "payment_ip": "203.0.113.7"
        })
    );
}

#[tokio::test]
async fn automatic_capture_asks_capture_true_and_a_channel_when_configured() {
    let (base, server) = script(vec![(201, approved("Captured"))]).await;
    let mut s = settings(&base);
    s.merchant_account = Some("pc_abc".into());
    let out = CheckoutConnector::new(s, HttpClient::new())
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert!(
        matches!(
            out,
            Outcome::Succeeded {
                effect: Effect::Captured,
                ..
            }
        ),
        "{out:?}"
    );
    let sent = body(&server.await.unwrap()[0]);
    assert_eq!(sent["capture"], true);
    assert_eq!(sent["processing_channel_id"], "pc_abc");
}

#[test]
fn tokens_and_wallets_become_id_or_token_sources_and_sepa_is_refused() {
    let s = settings("http://x");
    let src = |m| payment_body(&s, &authorize(m, false)).map(|b| b["source"].clone());
    assert_eq!(
        src(MethodData::GatewayToken(Sensitive("src_abc".into()))).unwrap(),
        json!({"type": "id", "id": "src_abc"})
    );
    assert_eq!(
        src(MethodData::GatewayToken(Sensitive("tok_abc".into()))).unwrap(),
        json!({"type": "token", "token": "tok_abc"})
    );
    assert_eq!(
        src(MethodData::ApplePay(Sensitive("tok_wallet".into()))).unwrap(),
        json!({"type": "token", "token": "tok_wallet"})
    );
    let sepa = MethodData::SepaDebit {
        iban: Sensitive("DE89370400440532013000".into()),
        owner_name: "A".into(),
    };
    assert!(matches!(
        src(sepa),
        Err(CheckoutError::UnsupportedMethod(_))
    ));
}

#[tokio::test]
async fn a_declined_payment_is_answered_without_a_lookup() {
    let reply = json!({"id": "pay_d", "approved": false, "status": "Declined",
        "response_code": "20051", "response_summary": "Insufficient Funds"});
    let (base, server) = script(vec![(201, reply)]).await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert!(
        matches!(&out, Outcome::Declined(d) if d.decline_code.as_deref() == Some("insufficient_funds") && !d.soft),
        "{out:?}"
    );
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_500_after_the_charge_is_settled_by_the_lookup_by_reference() {
    let (base, server) = script(vec![
        (500, json!({})),
        (200, list(vec![approved("Authorized")])),
    ])
    .await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pay_a".into(),
            effect: Effect::Captured
        },
        "capture: true, so Checkout.com captures it"
    );
    let seen = server.await.unwrap();
    assert_eq!(
        seen[1].request_line,
        "GET /checkout/payments?reference=pay_1&limit=10&skip=0 HTTP/1.1"
    );
}

#[tokio::test]
async fn a_500_with_nothing_listed_stays_ambiguous() {
    let (base, _server) = script(vec![(500, json!({})), (200, list(vec![]))]).await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert!(matches!(out, Outcome::Ambiguous { .. }), "{out:?}");
}

#[tokio::test]
async fn a_503_is_unavailable_only_once_the_list_shows_no_payment() {
    let (base, _server) = script(vec![(503, json!({})), (200, list(vec![]))]).await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert!(matches!(out, Outcome::Unavailable { .. }), "{out:?}");

    let (base, _server) = script(vec![(503, json!({})), (500, json!({}))]).await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert!(
        matches!(out, Outcome::Ambiguous { .. }),
        "an unverified 503: {out:?}"
    );

    let declined = json!({"id": "pay_d", "status": "Declined", "reference": "pay_1", "response_code": "20005"});
    let (base, _server) = script(vec![(503, json!({})), (200, list(vec![declined]))]).await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert!(matches!(out, Outcome::Declined(_)), "{out:?}");
}

#[tokio::test]
async fn a_rate_limit_fails_over_without_a_lookup() {
    let (base, server) = script(vec![(429, json!({}))]).await;
    let out = connector(&base)
        .authorize(&authorize(MethodData::Card(card()), false))
        .await;
    assert!(matches!(out, Outcome::Unavailable { .. }), "{out:?}");
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn capture_void_and_refund_post_to_the_payments_actions() {
    let accepted = |a: &str| (202, json!({"action_id": a, "reference": "x"}));
    let (base, server) = script(vec![
        accepted("act_c"),
        accepted("act_v"),
        accepted("act_r"),
    ])
    .await;
    let conn = connector(&base);
    let capture = CaptureRequest {
        provider_reference: "pay_a".into(),
        amount: 1500,
        currency: "EUR".into(),
        payment_id: "pay_1".into(),
        idempotency_key: "pay_1-capture".into(),
    };
    let cancel = CancelRequest {
        provider_reference: "pay_a".into(),
        payment_id: "pay_1".into(),
        idempotency_key: "pay_1-void".into(),
    };
    let refund = RefundRequest {
        provider_reference: "pay_a".into(),
        amount: 500,
        currency: "EUR".into(),
        refund_id: "re_1".into(),
        reason: Some("requested_by_customer".into()),
        idempotency_key: "re_1-key".into(),
    };
    let pending = |r: &str| Outcome::Pending {
        provider_reference: r.into(),
    };
    assert_eq!(conn.capture(&capture).await, pending("act_c"));
    assert_eq!(conn.cancel(&cancel).await, pending("act_v"));
    assert_eq!(conn.refund(&refund).await, pending("act_r"));
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].request_line,
        "POST /checkout/payments/pay_a/captures HTTP/1.1"
    );
    assert_eq!(seen[0].header("cko-idempotency-key"), Some("pay_1-capture"));
    assert_eq!(
        body(&seen[0]),
        json!({"amount": 1500, "reference": "pay_1", "metadata": {"payroute_payment_id": "pay_1"}})
    );
    assert_eq!(
        seen[1].request_line,
        "POST /checkout/payments/pay_a/voids HTTP/1.1"
    );
    assert_eq!(seen[1].header("cko-idempotency-key"), Some("pay_1-void"));
    assert_eq!(
        body(&seen[1]),
        json!({"reference": "pay_1", "metadata": {"payroute_payment_id": "pay_1"}})
    );
    assert_eq!(
        seen[2].request_line,
        "POST /checkout/payments/pay_a/refunds HTTP/1.1"
    );
    assert_eq!(
        body(&seen[2]),
        json!({"amount": 500, "reference": "re_1",
            "metadata": {"payroute_refund_id": "re_1", "payroute_reason": "requested_by_customer"}})
    );
    for s in &seen {
        assert_eq!(s.header("authorization"), Some("Bearer sk_sbox_secret"));
    }
}

#[tokio::test]
async fn references_that_could_alter_the_path_are_refused_unsent() {
    let cancel = CancelRequest {
        provider_reference: "pay_a/../../x".into(),
        payment_id: "pay_1".into(),
        idempotency_key: "k".into(),
    };
    let out = connector("http://127.0.0.1:9").cancel(&cancel).await;
    assert!(matches!(out, Outcome::Rejected { .. }), "{out:?}");
}

#[test]
fn idempotency_keys_are_bounded_and_stable() {
    assert_eq!(idempotency_key("att_1-cko_main"), "att_1-cko_main");
    let long = format!("pay_{}-attempt-3-cko_main", "x".repeat(70));
    assert_eq!(idempotency_key(&long).len(), MAX_IDEMPOTENCY_KEY_LEN);
    assert_eq!(idempotency_key(&long), idempotency_key(&long));
}

#[test]
fn debug_output_never_shows_the_key_or_the_card() {
    let conn = connector("http://x");
    let req = conn.request("/payments", &json!({"a": 1}), "k").unwrap();
    assert!(!format!("{:?}", req.headers()).contains("sk_sbox_secret"));
    assert!(!format!("{conn:?}").contains("sk_sbox_secret"));
    let shown = format!("{:?}", authorize(MethodData::Card(card()), false));
    assert!(!shown.contains("4242424242424242"), "{shown}");
}

#[test]
fn bodies_carry_amounts_in_checkout_coms_format() {
    let s = settings("http://127.0.0.1:1");
    let mut req = authorize(MethodData::Card(card()), true);
    req.currency = "CLP".into();
    req.amount = 5000;
    assert_eq!(payment_body(&s, &req).unwrap()["amount"], 500_000);
    let capture = CaptureRequest {
        provider_reference: "pay_a".into(),
        amount: 5000,
        currency: "CLP".into(),
        payment_id: "pay_1".into(),
        idempotency_key: "k".into(),
    };
    assert_eq!(capture_body(&capture).unwrap()["amount"], 500_000);
    let refund = RefundRequest {
        provider_reference: "pay_a".into(),
        amount: 12_345,
        currency: "CLF".into(),
        refund_id: "re_1".into(),
        reason: None,
        idempotency_key: "k".into(),
    };
    assert!(
        refund_body(&refund).is_err(),
        "CLF finer than a hundredth cannot be sent"
    );
}
