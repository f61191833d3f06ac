//! Adyen through the kind-level interface: what a verified delivery stores
//! and answers, what a stored payload normalizes to, the config check.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use serde_json::{Value, json};

use crate::connectors::GatewayKind;
use crate::connectors::gateway::{KindConfig, KindConfigError};
use crate::connectors::webhook::{
    Delivery, NormalizeError, NormalizedKind, VerifyError, WebhookAck, hmac_sha256,
};
use crate::domain::sensitive::Sensitive;

const KEY: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F90112233445566778899AABBCCDDEEFF00";

fn signed_item(psp: &str) -> Value {
    let mut inner = json!({
        "pspReference": psp, "merchantReference": "pay_1", "merchantAccountCode": "M",
        "amount": {"currency": "EUR", "value": 1000}, "eventCode": "AUTHORISATION",
        "success": "true", "additionalData": {}
    });
    let signing = super::adyen_signing_string(&inner).unwrap();
    let mac = hmac_sha256(&hex::decode(KEY).unwrap(), &[signing.as_bytes()]);
    inner["additionalData"]["hmacSignature"] = json!(STANDARD.encode(mac));
    inner
}

fn notification(items: &[Value]) -> Vec<u8> {
    let wrapped: Vec<_> = items
        .iter()
        .map(|i| json!({"NotificationRequestItem": i}))
        .collect();
    serde_json::to_vec(&json!({"live": "false", "notificationItems": wrapped})).unwrap()
}

fn credentials(pairs: &[(&str, &str)]) -> BTreeMap<String, Sensitive> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Sensitive(v.to_string())))
        .collect()
}

fn delivery<'a>(
    headers: &'a HeaderMap,
    body: &'a [u8],
    credentials: &'a BTreeMap<String, Sensitive>,
) -> Delivery<'a> {
    Delivery {
        headers,
        body,
        secrets: &[KEY],
        credentials,
        tolerance_s: 300,
        now: 0,
    }
}

#[test]
fn a_delivery_stores_each_inner_item_under_its_event_id_and_acks_accepted() {
    let items = [signed_item("PSP1"), signed_item("PSP2")];
    let body = notification(&items);
    let (headers, creds) = (HeaderMap::new(), credentials(&[]));
    let verified = GatewayKind::Adyen
        .verify_webhook(&delivery(&headers, &body, &creds))
        .unwrap();
    let ids: Vec<_> = verified
        .events
        .iter()
        .map(|e| e.provider_event_id.as_str())
        .collect();
    assert_eq!(ids, ["PSP1:AUTHORISATION:true", "PSP2:AUTHORISATION:true"]);
    for (event, item) in verified.events.iter().zip(&items) {
        let stored: Value = serde_json::from_slice(&event.payload).unwrap();
        assert_eq!(&stored, item, "the inner item is stored, unwrapped");
        let normalized = GatewayKind::Adyen.normalize(&event.payload).unwrap();
        assert_eq!(normalized.provider_event_id, event.provider_event_id);
        assert_eq!(normalized.kind, Some(NormalizedKind::PaymentAuthorized));
    }
    let ack = WebhookAck {
        body: "[accepted]",
        content_type: "text/plain",
    };
    assert_eq!(verified.ack, ack);
}

#[test]
fn basic_auth_is_enforced_only_when_username_and_password_are_both_configured() {
    let body = notification(&[signed_item("PSP1")]);
    let headers = HeaderMap::new();
    let only_user = credentials(&[("webhook_username", "u")]);
    assert!(
        GatewayKind::Adyen
            .verify_webhook(&delivery(&headers, &body, &only_user))
            .is_ok()
    );
    let both = credentials(&[("webhook_username", "u"), ("webhook_password", "p")]);
    assert_eq!(
        GatewayKind::Adyen.verify_webhook(&delivery(&headers, &body, &both)),
        Err(VerifyError::BadAuth)
    );
    let mut authorized = HeaderMap::new();
    let basic = format!("Basic {}", STANDARD.encode("u:p"));
    authorized.insert("authorization", basic.parse().unwrap());
    assert!(
        GatewayKind::Adyen
            .verify_webhook(&delivery(&authorized, &body, &both))
            .is_ok()
    );
}

#[test]
fn a_stored_payload_that_is_not_an_item_does_not_normalize() {
    assert!(matches!(
        GatewayKind::Adyen.normalize(b"not json"),
        Err(NormalizeError::NotJson(_))
    ));
    assert!(matches!(
        GatewayKind::Adyen.normalize(b"[1]"),
        Err(NormalizeError::Unreadable(_))
    ));
}

#[test]
fn a_gateway_without_a_merchant_account_is_refused() {
    let config = |merchant_account| KindConfig {
        id: "ady",
        base_url: "http://x",
        merchant_account,
    };
    let refused = GatewayKind::Adyen.check_config(&config(None)).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "merchant_account is required for kind adyen"
    );
    assert!(matches!(
        GatewayKind::Adyen.check_config(&config(Some(""))),
        Err(KindConfigError::Required { .. })
    ));
    assert_eq!(GatewayKind::Adyen.check_config(&config(Some("M"))), Ok(()));
}
