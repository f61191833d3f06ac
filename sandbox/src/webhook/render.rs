//! Outbox events as the gateways send them: Stripe's pretty-printed Event
//! object signed with `Stripe-Signature`, Adyen's standard notification
//! (`notificationItems`, one `hmacSignature` per item), and Checkout.com's
//! workflow event signed with `Cko-Signature`, from the vendors' references
//! rather than any payroute code.

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::super::ledger::OutboxEvent;
use super::super::state::Sandbox;

type HmacSha256 = Hmac<Sha256>;

/// The API version the sandbox's Stripe events claim.
const STRIPE_API_VERSION: &str = "2024-06-20";

#[derive(Serialize)]
struct StripeEvent<'a> {
    id: String,
    object: &'static str,
    api_version: &'static str,
    created: i64,
    data: StripeData<'a>,
    livemode: bool,
    pending_webhooks: u32,
    request: StripeRequest,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct StripeData<'a> {
    object: &'a Value,
}

#[derive(Serialize)]
struct StripeRequest {
    id: Option<String>,
    idempotency_key: Option<String>,
}

/// The event body, pretty-printed with two-space indents as Stripe sends it.
/// Dispute events come from the card network, not an API call, so their
/// `request` is null as in Stripe's.
pub(crate) fn stripe_body(sb: &Sandbox, event: &OutboxEvent) -> Bytes {
    let null = Value::Null;
    let from_api = !event.event.starts_with("charge.dispute.");
    let body = StripeEvent {
        id: sb.stripe_id("evt_"),
        object: "event",
        api_version: STRIPE_API_VERSION,
        created: event.created_at,
        data: StripeData {
            object: event.object.as_ref().unwrap_or(&null),
        },
        livemode: false,
        pending_webhooks: 1,
        request: StripeRequest {
            id: from_api.then(|| sb.stripe_id("req_")),
            idempotency_key: event.idempotency_key.clone().filter(|_| from_api),
        },
        kind: &event.event,
    };
    // Serialising strings, integers and `Value`s cannot fail.
    Bytes::from(serde_json::to_vec_pretty(&body).unwrap_or_default())
}

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; the secret's bytes,
/// `whsec_` prefix included, are the key.
pub(crate) fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // Invariant: HMAC accepts keys of any length (long ones are hashed), so
    // `new_from_slice` cannot fail.
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// Adyen's signing string: eight fields joined by `:`, missing ones empty,
/// values unescaped.
fn adyen_signing_string(event: &OutboxEvent) -> String {
    [
        event.object_id.as_str(),
        event.original_reference.as_deref().unwrap_or(""),
        event.merchant_account.as_deref().unwrap_or(""),
        event.merchant_reference.as_deref().unwrap_or(""),
        &event.amount.to_string(),
        &event.currency,
        &event.event,
        bool_string(event.success),
    ]
    .join(":")
}

/// base64(HMAC-SHA256(hex-decoded key, signing string)).
pub(crate) fn adyen_hmac(key: &[u8], event: &OutboxEvent) -> String {
    let mut mac = hmac_sha256(key);
    mac.update(adyen_signing_string(event).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn bool_string(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// One `NotificationRequestItem`, signed with `key`.
pub(crate) fn adyen_item(event: &OutboxEvent, key: &[u8]) -> Value {
    let mut item = json!({
        "additionalData": {"hmacSignature": adyen_hmac(key, event)},
        "amount": {"currency": event.currency, "value": event.amount},
        "eventCode": event.event,
        "eventDate": event_date(event.created_at),
        "merchantAccountCode": event.merchant_account.as_deref().unwrap_or(""),
        "merchantReference": event.merchant_reference.as_deref().unwrap_or(""),
        "pspReference": event.object_id,
        "success": bool_string(event.success),
    });
    if let Some(original) = &event.original_reference {
        item["originalReference"] = json!(original);
    }
    if let Some(method) = &event.payment_method {
        item["paymentMethod"] = json!(method);
    }
    if let Some(reason) = &event.reason {
        item["reason"] = json!(reason);
    }
    if !event.operations.is_empty() {
        item["operations"] = json!(event.operations);
    }
    if let Some(action) = &event.modification_action {
        item["additionalData"]["modification.action"] = json!(action);
    }
    json!({"NotificationRequestItem": item})
}

/// The notification request; `live` is a string, as Adyen sends it.
pub(crate) fn adyen_body(items: Vec<Value>) -> Bytes {
    let body = json!({"live": "false", "notificationItems": items});
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// The event version the sandbox's Checkout.com events claim (the one shown
/// on Checkout.com's `payment_approved` event page).
const CHECKOUT_EVENT_VERSION: &str = "1.0.29";

/// A Checkout.com workflow event: `{"id":"evt_...","type",...,"created_on",
/// "data":{...},"_links"}` (docs: workflows, webhook event types), `data`
/// being what the dialect recorded when the event happened.
pub(crate) fn checkout_body(sb: &Sandbox, event: &OutboxEvent) -> Bytes {
    let id = sb.checkout_id("evt_");
    let body = json!({
        "id": id,
        "type": event.event,
        "version": CHECKOUT_EVENT_VERSION,
        "created_on": event_date(event.created_at),
        "data": event.object.clone().unwrap_or(Value::Null),
        "_links": {
            "self": {"href": format!("/workflows/events/{id}")},
            "subject": {"href": format!("/workflows/events/subject/{}", event.object_id)},
        },
    });
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// `Cko-Signature`: hex HMAC-SHA256 of the raw body, keyed with the
/// signature key of the workflow's webhook action (docs: "Set up your
/// webhook receiver").
pub(crate) fn checkout_signature(key: &str, body: &[u8]) -> String {
    let mut mac = hmac_sha256(key.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// ISO 8601 in UTC.
fn event_date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::super::super::ledger::Dialect;
    use super::*;

    const STRIPE_VECTORS: &str =
        include_str!("../../../tests/fixtures/vectors/stripe_webhook_vectors.json");
    const ADYEN_VECTORS: &str =
        include_str!("../../../tests/fixtures/vectors/adyen_hmac_vectors.json");

    #[test]
    fn stripe_signature_matches_the_sdk_vectors() {
        let vectors: Value = serde_json::from_str(STRIPE_VECTORS).unwrap();
        let mut checked = 0;
        for v in vectors["vectors"].as_array().unwrap() {
            let (Some(t), Some(expected)) = (
                v["timestamp"].as_i64(),
                v["expected_v1_for_this_secret"].as_str(),
            ) else {
                continue;
            };
            let header = stripe_signature(
                v["secret"].as_str().unwrap(),
                t,
                v["payload"].as_str().unwrap().as_bytes(),
            );
            assert_eq!(header, format!("t={t},v1={expected}"), "{}", v["name"]);
            checked += 1;
        }
        assert!(checked >= 3);
    }

    fn event_from_item(item: &Value) -> OutboxEvent {
        let text = |name: &str| item[name].as_str().map(str::to_string);
        let mut event = OutboxEvent::new(
            Dialect::Adyen,
            item["eventCode"].as_str().unwrap(),
            item["pspReference"].as_str().unwrap(),
            item["amount"]["value"].as_i64().unwrap(),
            item["amount"]["currency"].as_str().unwrap(),
            item["success"] == "true",
        );
        event.original_reference = text("originalReference");
        event.merchant_account = text("merchantAccountCode");
        event.merchant_reference = text("merchantReference");
        event
    }

    #[test]
    fn adyen_hmac_matches_the_sdk_vectors() {
        let vectors: Value = serde_json::from_str(ADYEN_VECTORS).unwrap();
        for v in vectors["vectors"].as_array().unwrap() {
            let notification: Value =
                serde_json::from_str(v["notification_json"].as_str().unwrap()).unwrap();
            let item = &notification["notificationItems"][0]["NotificationRequestItem"];
            let event = event_from_item(item);
            assert_eq!(
                adyen_signing_string(&event),
                v["signing_string_sdk"].as_str().unwrap()
            );
            let key = hex::decode(v["hmac_key_hex"].as_str().unwrap()).unwrap();
            assert_eq!(
                adyen_hmac(&key, &event),
                v["expected_signature_for_item"].as_str().unwrap(),
                "{}",
                v["name"]
            );
        }
    }

    #[test]
    fn adyen_items_carry_strings_for_booleans_and_only_present_optionals() {
        let mut event =
            OutboxEvent::new(Dialect::Adyen, "AUTHORISATION", "PSP1", 100, "EUR", false);
        event.reason = Some("Refused".into());
        let item = &adyen_item(&event, b"k")["NotificationRequestItem"];
        assert_eq!(item["success"], "false");
        assert_eq!(item["reason"], "Refused");
        assert!(item.get("originalReference").is_none());
        assert!(item.get("operations").is_none());
        let body: Value = serde_json::from_slice(&adyen_body(vec![json!({})])).unwrap();
        assert_eq!(body["live"], "false");
    }

    /// RFC 4231 test case 2: HMAC-SHA256 with key "Jefe"; Checkout.com's
    /// SDKs have no signing helper to take vectors from.
    #[test]
    fn checkout_signature_is_hex_hmac_sha256_of_the_body() {
        assert_eq!(
            checkout_signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn checkout_body_wraps_the_recorded_data() {
        let sb = Sandbox::new(Default::default());
        let mut event = OutboxEvent::new(
            Dialect::Checkout,
            "payment_captured",
            "pay_1",
            100,
            "EUR",
            true,
        );
        event.object = Some(json!({"id": "pay_1", "action_id": "act_1"}));
        let body: Value = serde_json::from_slice(&checkout_body(&sb, &event)).unwrap();
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(body["type"], "payment_captured");
        assert_eq!(body["data"]["action_id"], "act_1");
        assert!(body["created_on"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn stripe_body_is_a_pretty_event_and_disputes_have_no_request() {
        let sb = Sandbox::new(Default::default());
        let mut event = OutboxEvent::new(
            Dialect::Stripe,
            "charge.dispute.created",
            "dp_1",
            100,
            "eur",
            true,
        );
        event.object = Some(json!({"id": "dp_1"}));
        event.idempotency_key = Some("k".into());
        let body = stripe_body(&sb, &event);
        assert!(body.starts_with(b"{\n  \"id\": \"evt_"));
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["data"]["object"]["id"], "dp_1");
        assert_eq!(
            parsed["request"],
            json!({"id": null, "idempotency_key": null})
        );
        assert_eq!(parsed["type"], "charge.dispute.created");
    }
}
