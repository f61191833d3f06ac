//! Stripe through the kind-level interface: what a verified delivery
//! stores and answers.

use std::collections::BTreeMap;

use http::HeaderMap;

use crate::connectors::GatewayKind;
use crate::connectors::webhook::{Delivery, NormalizedKind, VerifyError, WebhookAck, hmac_sha256};

const SECRET: &str = "whsec_test_secret";
const T: i64 = 1_700_000_000;

fn signed(body: &[u8]) -> HeaderMap {
    let mac = hmac_sha256(SECRET.as_bytes(), &[format!("{T}.").as_bytes(), body]);
    let mut headers = HeaderMap::new();
    let value = format!("t={T},v1={}", hex::encode(mac));
    headers.insert("stripe-signature", value.parse().unwrap());
    headers
}

fn verify(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<crate::connectors::webhook::Verified, VerifyError> {
    let credentials = BTreeMap::new();
    GatewayKind::Stripe.verify_webhook(&Delivery {
        headers,
        body,
        secrets: &[SECRET],
        credentials: &credentials,
        tolerance_s: 300,
        now: T,
    })
}

#[test]
fn a_delivery_is_one_event_stored_raw_under_its_id_with_a_json_ack() {
    let body = br#"{"id":"evt_1","type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_1","object":"payment_intent","amount_received":5}}}"#;
    let verified = verify(&signed(body), body).unwrap();
    assert_eq!(verified.events.len(), 1);
    assert_eq!(verified.events[0].provider_event_id, "evt_1");
    assert_eq!(verified.events[0].payload, body.to_vec());
    let ack = WebhookAck {
        body: "{\"received\":true}",
        content_type: "application/json",
    };
    assert_eq!(verified.ack, ack);
    let normalized = GatewayKind::Stripe
        .normalize(&verified.events[0].payload)
        .unwrap();
    assert_eq!(normalized.kind, Some(NormalizedKind::PaymentCaptured));
}

#[test]
fn a_signed_body_that_is_not_an_event_is_malformed_and_an_unsigned_one_refused() {
    let body = br#"{"id":"evt_1"}"#;
    assert!(matches!(
        verify(&signed(body), body),
        Err(VerifyError::Malformed(_))
    ));
    assert_eq!(
        verify(&HeaderMap::new(), body),
        Err(VerifyError::MissingSignature)
    );
}
