//! The lookup and reversal calls over real HTTP against a scripted
//! one-request-per-connection server: the requests they send and how they
//! chain.

use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;

use super::*;
use crate::connectors::test_server::script;
use crate::connectors::{AuthorizationQuery, GatewayKind};
use crate::domain::outcome::{Effect, Lookup};
use crate::domain::sensitive::Sensitive;

fn connector(base_url: String) -> StripeConnector {
    let settings = ConnectorSettings {
        id: "stripe_main".into(),
        kind: GatewayKind::Stripe,
        base_url,
        timeout: Duration::from_secs(5),
        api_key: Sensitive("sk_test_secret".into()),
        merchant_account: None,
    };
    StripeConnector::new(settings, HttpClient::new())
}

fn query(reference: Option<&str>) -> AuthorizationQuery {
    AuthorizationQuery {
        payment_id: "pay_1".into(),
        provider_reference: reference.map(str::to_string),
        amount: 1999,
        currency: "EUR".into(),
        manual_capture: true,
        idempotency_key: "att_1-stripe_main".into(),
    }
}

fn results(intents: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"object": "search_result", "has_more": false, "data": intents})
}

#[tokio::test]
async fn lookup_by_reference_gets_the_intent_with_auth_and_version() {
    let (base, server) = script(vec![(
        200,
        json!({"id": "pi_7", "status": "requires_capture"}),
    )])
    .await;
    let found = connector(base)
        .find_authorization(&query(Some("pi_7")))
        .await;
    assert_eq!(
        found,
        Lookup::Found {
            provider_reference: "pi_7".into(),
            effect: Effect::Authorized
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].request_line,
        "GET /v1/payment_intents/pi_7 HTTP/1.1"
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk_test_secret")
    );
    assert_eq!(seen[0].header("stripe-version"), Some(STRIPE_VERSION));
    assert_eq!(seen[0].header("idempotency-key"), None);
    assert!(seen[0].body.is_empty());
}

#[tokio::test]
async fn lookup_without_reference_searches_by_payment_id() {
    let (base, server) = script(vec![(200, results(vec![]))]).await;
    let found = connector(base).find_authorization(&query(None)).await;
    assert_eq!(found, Lookup::NotFound);
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].request_line,
        format!("GET {} HTTP/1.1", search_path("pay_1"))
    );
}

#[tokio::test]
async fn unreachable_gateway_is_unknown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let found = connector(base).find_authorization(&query(None)).await;
    assert!(matches!(found, Lookup::Unknown { .. }), "{found:?}");
}

#[tokio::test]
async fn reversal_cancels_an_authorized_intent_found_by_search() {
    let (base, server) = script(vec![
        (
            200,
            results(vec![
                json!({"id": "pi_7", "status": "requires_capture", "created": 1}),
            ]),
        ),
        (200, json!({"id": "pi_7", "status": "canceled"})),
    ])
    .await;
    let out = connector(base).reverse_by_reference("pay_1", "rev_1").await;
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pi_7".into(),
            effect: Effect::Voided
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(
        seen[1].request_line,
        "POST /v1/payment_intents/pi_7/cancel HTTP/1.1"
    );
    assert_eq!(seen[1].header("idempotency-key"), Some("rev_1-pi_7-cancel"));
    assert_eq!(seen[1].body, "cancellation_reason=abandoned");
}

#[tokio::test]
async fn reversal_refunds_a_captured_intent_in_full() {
    let (base, server) = script(vec![
        (
            200,
            results(vec![
                json!({"id": "pi_8", "status": "succeeded", "created": 1}),
            ]),
        ),
        (200, json!({"id": "re_1", "status": "succeeded"})),
    ])
    .await;
    let out = connector(base).reverse_by_reference("pay_1", "rev_1").await;
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "re_1".into(),
            effect: Effect::Refunded
        }
    );
    let seen = server.await.unwrap();
    assert_eq!(seen[1].request_line, "POST /v1/refunds HTTP/1.1");
    assert_eq!(seen[1].header("idempotency-key"), Some("rev_1-pi_8-refund"));
    assert_eq!(seen[1].body, reversal_refund_body("pi_8", "pay_1"));
}

#[tokio::test]
async fn reversal_with_nothing_found_calls_nothing_else() {
    let (base, server) = script(vec![(200, results(vec![]))]).await;
    let out = connector(base).reverse_by_reference("pay_1", "rev_1").await;
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
async fn reversal_skips_canceled_intents_and_reports_a_failed_search() {
    let (base, server) = script(vec![(
        200,
        results(vec![
            json!({"id": "pi_9", "status": "canceled", "created": 1}),
        ]),
    )])
    .await;
    let out = connector(base.clone())
        .reverse_by_reference("pay_1", "rev_1")
        .await;
    assert_eq!(
        out,
        Outcome::Succeeded {
            provider_reference: "pi_9".into(),
            effect: Effect::Voided
        }
    );
    assert_eq!(server.await.unwrap().len(), 1);

    let (base, _server) = script(vec![(503, json!({"error": {"type": "api_error"}}))]).await;
    let out = connector(base).reverse_by_reference("pay_1", "rev_1").await;
    assert!(matches!(out, Outcome::Unavailable { .. }), "{out:?}");
}
