//! Lookup classification on canned replies, and the lookup and reversal
//! calls over real HTTP against the scripted test server.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::connectors::gateway::Gateway;
use crate::connectors::test_server::script;
use crate::connectors::{Connector, ConnectorSettings, GatewayKind, HttpClient};
use crate::domain::outcome::Outcome;
use crate::domain::sensitive::Sensitive;

fn connector(base_url: String) -> CheckoutConnector {
    let settings = ConnectorSettings {
        id: "cko_main".into(),
        kind: GatewayKind::Checkout,
        base_url: format!("{base_url}/checkout"),
        timeout: Duration::from_secs(5),
        api_key: Sensitive("sk_sbox_secret".into()),
        merchant_account: None,
    };
    CheckoutConnector::new(settings, HttpClient::new())
}

fn query(reference: Option<&str>, manual: bool) -> AuthorizationQuery {
    AuthorizationQuery {
        payment_id: "pay_1".into(),
        provider_reference: reference.map(str::to_string),
        amount: 1999,
        currency: "EUR".into(),
        manual_capture: manual,
        idempotency_key: "att_1-cko_main".into(),
    }
}

fn payment(id: &str, status: &str) -> Value {
    json!({"id": id, "status": status, "reference": "pay_1", "amount": 1999, "currency": "EUR",
        "approved": status != "Declined", "requested_on": "2026-12-02T10:00:00Z"})
}

fn list(payments: Vec<Value>) -> Value {
    json!({"limit": 10, "skip": 0, "total_count": payments.len(), "data": payments})
}

fn state(id: &str, status: &str) -> PaymentState {
    serde_json::from_value(payment(id, status)).unwrap()
}

#[test]
fn statuses_map_to_lookups() {
    let found = |effect| Lookup::Found {
        provider_reference: "pay_a".into(),
        effect,
    };
    assert_eq!(
        classify_state(&state("pay_a", "Authorized")),
        found(Effect::Authorized)
    );
    for s in [
        "Captured",
        "Partially Captured",
        "Refunded",
        "Partially Refunded",
        "Paid",
    ] {
        assert_eq!(
            classify_state(&state("pay_a", s)),
            found(Effect::Captured),
            "{s}"
        );
    }
    for s in ["Voided", "Canceled", "Expired"] {
        assert_eq!(
            classify_state(&state("pay_a", s)),
            found(Effect::Voided),
            "{s}"
        );
    }
    assert!(matches!(classify_state(&state("pay_a", "Declined")), Lookup::Declined(d) if !d.soft));
    assert_eq!(
        classify_state(&state("pay_a", "Pending")),
        Lookup::Pending {
            provider_reference: "pay_a".into()
        }
    );
    assert!(matches!(
        classify_state(&state("pay_a", "Card Verified")),
        Lookup::Unknown { .. }
    ));
}

#[test]
fn a_declined_payment_keeps_its_response_code() {
    let mut p = payment("pay_d", "Declined");
    p["response_code"] = json!("20051");
    p["response_summary"] = json!("Insufficient Funds");
    let out = classify_details(StatusCode::OK, &HeaderMap::new(), p.to_string().as_bytes());
    assert!(
        matches!(&out, Lookup::Declined(d) if d.code == "insufficient_funds"),
        "{out:?}"
    );
}

#[test]
fn two_live_payments_under_one_reference_are_multiple() {
    let page = list(vec![
        payment("pay_b", "Captured"),
        payment("pay_a", "Authorized"),
    ]);
    let out = classify_list(
        StatusCode::OK,
        &HeaderMap::new(),
        page.to_string().as_bytes(),
        "pay_1",
    );
    assert_eq!(
        out,
        Lookup::Multiple(vec![
            ("pay_b".into(), Effect::Captured),
            ("pay_a".into(), Effect::Authorized)
        ])
    );
}

#[test]
fn one_live_payment_wins_over_settled_ones() {
    let page = list(vec![
        payment("pay_b", "Declined"),
        payment("pay_a", "Authorized"),
    ]);
    let out = classify_list(
        StatusCode::OK,
        &HeaderMap::new(),
        page.to_string().as_bytes(),
        "pay_1",
    );
    assert_eq!(
        out,
        Lookup::Found {
            provider_reference: "pay_a".into(),
            effect: Effect::Authorized
        }
    );
}

#[test]
fn an_empty_list_is_not_found_and_an_incomplete_one_unknown() {
    let out = classify_list(
        StatusCode::OK,
        &HeaderMap::new(),
        list(vec![]).to_string().as_bytes(),
        "pay_1",
    );
    assert_eq!(out, Lookup::NotFound);
    let partial =
        json!({"limit": 10, "skip": 0, "total_count": 11, "data": [payment("pay_a", "Voided")]});
    let out = classify_list(
        StatusCode::OK,
        &HeaderMap::new(),
        partial.to_string().as_bytes(),
        "pay_1",
    );
    assert!(matches!(out, Lookup::Unknown { .. }), "{out:?}");
}

#[test]
fn payments_under_another_reference_never_count() {
    let mut other = payment("pay_x", "Captured");
    other["reference"] = json!("pay_10");
    let page = list(vec![other]);
    let out = classify_list(
        StatusCode::OK,
        &HeaderMap::new(),
        page.to_string().as_bytes(),
        "pay_1",
    );
    assert_eq!(out, Lookup::NotFound);
}

#[test]
fn errors_and_unreadable_replies_are_unknown() {
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::UNAUTHORIZED,
        StatusCode::BAD_GATEWAY,
    ] {
        let out = classify_details(status, &HeaderMap::new(), b"");
        assert!(matches!(out, Lookup::Unknown { .. }), "{status}");
        let out = classify_list(status, &HeaderMap::new(), b"", "pay_1");
        assert!(matches!(out, Lookup::Unknown { .. }), "{status}");
    }
    let out = classify_list(StatusCode::OK, &HeaderMap::new(), b"{\"data\":7}", "pay_1");
    assert!(matches!(out, Lookup::Unknown { .. }));
}

#[test]
fn list_path_encodes_the_reference() {
    assert_eq!(
        list_path("pay_1"),
        "/payments?reference=pay_1&limit=10&skip=0"
    );
    assert_eq!(
        list_path("a&b=c"),
        "/payments?reference=a%26b%3Dc&limit=10&skip=0"
    );
}

#[tokio::test]
async fn lookup_by_id_gets_the_payment_with_the_bearer_key() {
    let (base, server) = script(vec![(200, payment("pay_7", "Authorized"))]).await;
    let found = connector(base)
        .find_authorization(&query(Some("pay_7"), true))
        .await;
    assert_eq!(
        found,
        Lookup::Found {
            provider_reference: "pay_7".into(),
            effect: Effect::Authorized
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].request_line,
        "GET /checkout/payments/pay_7 HTTP/1.1"
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk_sbox_secret")
    );
    assert_eq!(
        seen[0].header("cko-idempotency-key"),
        None,
        "GETs carry no key"
    );
}

#[tokio::test]
async fn an_authorized_automatic_capture_payment_is_reported_captured() {
    let (base, _server) = script(vec![(200, payment("pay_7", "Authorized"))]).await;
    let found = connector(base)
        .find_authorization(&query(Some("pay_7"), false))
        .await;
    assert_eq!(
        found,
        Lookup::Found {
            provider_reference: "pay_7".into(),
            effect: Effect::Captured
        }
    );
}

#[tokio::test]
async fn lookup_without_reference_lists_by_payroute_payment_id() {
    let (base, server) = script(vec![(200, list(vec![payment("pay_8", "Declined")]))]).await;
    let found = connector(base).find_authorization(&query(None, true)).await;
    assert!(
        matches!(found, Lookup::Declined(d) if d.provider_reference.as_deref() == Some("pay_8"))
    );
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].request_line,
        "GET /checkout/payments?reference=pay_1&limit=10&skip=0 HTTP/1.1"
    );
}

#[tokio::test]
async fn a_known_payment_is_reversed_with_payments_reversals() {
    let reply = json!({"action_id": "act_r", "reference": "pay_1-reversal"});
    let (base, server) = script(vec![(202, reply)]).await;
    let conn = Connector::Checkout(connector(base));
    let out = conn
        .reverse("pay_1", Some("pay_7"), "pay_1-late-reversal")
        .await;
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "act_r".into()
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].request_line,
        "POST /checkout/payments/pay_7/reversals HTTP/1.1"
    );
    assert_eq!(
        seen[0].header("cko-idempotency-key"),
        Some("pay_1-late-reversal")
    );
    let body: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["reference"], "pay_1-reversal");
    assert_eq!(body["metadata"]["payroute_payment_id"], "pay_1");
}

#[tokio::test]
async fn reversal_by_reference_reverses_each_live_payment_and_skips_settled_ones() {
    let page = list(vec![
        payment("pay_c", "Captured"),
        payment("pay_v", "Voided"),
    ]);
    let reply = json!({"action_id": "act_r", "reference": "pay_1-reversal"});
    let (base, server) = script(vec![(200, page), (202, reply)]).await;
    let out = connector(base)
        .reverse_by_reference("pay_1", "att_1-reversal")
        .await;
    assert_eq!(
        out,
        Outcome::Pending {
            provider_reference: "act_r".into()
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2, "the voided payment needs no call");
    assert_eq!(
        seen[1].request_line,
        "POST /checkout/payments/pay_c/reversals HTTP/1.1"
    );
    assert_eq!(
        seen[1].header("cko-idempotency-key"),
        Some("att_1-reversal-pay_c")
    );
}

#[tokio::test]
async fn reversal_by_reference_with_nothing_listed_reverses_nothing() {
    let (base, server) = script(vec![(200, list(vec![]))]).await;
    let out = connector(base).reverse_by_reference("pay_1", "k").await;
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: String::new(),
            effect: Effect::Voided
        }
    );
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_list_or_a_pending_payment_reverses_nothing_yet() {
    let (base, _server) = script(vec![(500, json!({}))]).await;
    let out = connector(base).reverse_by_reference("pay_1", "k").await;
    assert!(matches!(out, Outcome::Unavailable { .. }), "{out:?}");
    let (base, server) = script(vec![(200, list(vec![payment("pay_p", "Pending")]))]).await;
    let out = connector(base).reverse_by_reference("pay_1", "k").await;
    assert!(matches!(out, Outcome::Unavailable { .. }), "{out:?}");
    assert_eq!(server.await.unwrap().len(), 1, "no reversal was sent");
}

#[test]
fn combine_reports_the_reversal_that_most_needs_attention() {
    let voided = Outcome::Succeeded {
        provider_reference: "pay_v".into(),
        effect: Effect::Voided,
    };
    let pending = Outcome::Pending {
        provider_reference: "act_r".into(),
    };
    let ambiguous = Outcome::Ambiguous {
        reason: "timeout".into(),
    };
    assert_eq!(
        Outcome::most_telling(vec![voided.clone(), pending.clone()]),
        pending
    );
    assert_eq!(
        Outcome::most_telling(vec![pending, ambiguous.clone(), voided.clone()]),
        ambiguous
    );
    assert_eq!(Outcome::most_telling(vec![voided.clone()]), voided);
}
