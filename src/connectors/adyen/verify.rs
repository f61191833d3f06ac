//! Adyen standard-webhook verification: Basic auth on the request (when
//! configured) and the HMAC signature of EVERY notification item. The
//! official SDK helpers check only item 0; one bad item here refuses the
//! whole request, so nothing unverified is ever acknowledged.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::item::{AdyenItem, scalar, unwrap_item};
use super::normalize_adyen;
use crate::connectors::webhook::{
    Delivery, Verified, VerifiedEvent, VerifyError, WebhookAck, ct_eq, hmac_sha256,
};

/// What Adyen expects back once the items are stored.
const ACK: WebhookAck = WebhookAck {
    body: "[accepted]",
    content_type: "text/plain",
};

/// The eight signed fields, in signing order (`amount.*` are nested).
const SIGNED_FIELDS: [&[&str]; 8] = [
    &["pspReference"],
    &["originalReference"],
    &["merchantAccountCode"],
    &["merchantReference"],
    &["amount", "value"],
    &["amount", "currency"],
    &["eventCode"],
    &["success"],
];

/// `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
/// from raw values: strings as-is (no escaping of `:` or `\`), numbers in
/// their JSON decimal text, missing or null fields empty. `item` may be the
/// inner object or its `NotificationRequestItem` wrapper.
pub fn adyen_signing_string(item: &Value) -> Result<String, VerifyError> {
    let item = unwrap_item(item)?;
    let mut parts = Vec::with_capacity(SIGNED_FIELDS.len());
    for path in SIGNED_FIELDS {
        let v = path.iter().try_fold(item, |v, key| v.get(key));
        let rendered = match v {
            None | Some(Value::Null) => String::new(),
            Some(v) => scalar(v).ok_or_else(|| {
                VerifyError::Malformed(format!("signed field `{}` is not a scalar", path.join(".")))
            })?,
        };
        parts.push(rendered);
    }
    Ok(parts.join(":"))
}

/// Checks one item's `additionalData.hmacSignature` against each HMAC key
/// (hex, as shown in the Customer Area; several during rotation).
pub fn verify_adyen_item(item: &Value, hmac_keys_hex: &[&str]) -> Result<(), VerifyError> {
    let keys = decode_keys(hmac_keys_hex)?;
    verify_item_with(item, &keys)
}

/// Verifies a whole standard-webhook request and returns its items.
///
/// Basic auth is checked first when `expected_basic` is set (refused with
/// [`VerifyError::BadAuth`]); then every item's HMAC signature must verify,
/// or the whole request is refused.
pub fn verify_adyen_notification(
    raw_body: &[u8],
    basic_auth_header: Option<&str>,
    expected_basic: Option<(&str, &str)>,
    hmac_keys_hex: &[&str],
) -> Result<Vec<AdyenItem>, VerifyError> {
    if let Some((user, password)) = expected_basic {
        check_basic_auth(basic_auth_header, user, password)?;
    }
    let keys = decode_keys(hmac_keys_hex)?;
    let body: Value = serde_json::from_slice(raw_body)
        .map_err(|e| VerifyError::Malformed(format!("notification is not JSON: {e}")))?;
    let items = body
        .get("notificationItems")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| VerifyError::Malformed("no `notificationItems`".into()))?;
    items
        .iter()
        .map(|item| {
            verify_item_with(item, &keys)?;
            AdyenItem::from_value(item)
        })
        .collect()
}

fn verify_item_with(item: &Value, keys: &[Vec<u8>]) -> Result<(), VerifyError> {
    let inner = unwrap_item(item)?;
    let received = match inner
        .get("additionalData")
        .and_then(|a| a.get("hmacSignature"))
    {
        None | Some(Value::Null) => return Err(VerifyError::MissingSignature),
        Some(Value::String(s)) if s.is_empty() => return Err(VerifyError::MissingSignature),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(VerifyError::Malformed(
                "hmacSignature is not a string".into(),
            ));
        }
    };
    let signing = adyen_signing_string(inner)?;
    let matched = keys.iter().fold(false, |acc, key| {
        let expected = STANDARD.encode(hmac_sha256(key, &[signing.as_bytes()]));
        acc | ct_eq(expected.as_bytes(), received.as_bytes())
    });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Hex-decodes every configured key; a key that is not hex (or is empty) is a
/// configuration error, reported rather than silently skipped.
fn decode_keys(hmac_keys_hex: &[&str]) -> Result<Vec<Vec<u8>>, VerifyError> {
    if hmac_keys_hex.is_empty() {
        return Err(VerifyError::BadKey("no Adyen HMAC key configured".into()));
    }
    hmac_keys_hex
        .iter()
        .enumerate()
        .map(|(i, k)| match hex::decode(k.trim()) {
            Ok(bytes) if !bytes.is_empty() => Ok(bytes),
            Ok(_) => Err(VerifyError::BadKey(format!(
                "Adyen HMAC key #{} is empty",
                i + 1
            ))),
            // The error names the key's position only: never echo key material.
            Err(_) => Err(VerifyError::BadKey(format!(
                "Adyen HMAC key #{} is not hex",
                i + 1
            ))),
        })
        .collect()
}

/// `Authorization: Basic base64(user:password)`, compared in constant time.
fn check_basic_auth(header: Option<&str>, user: &str, password: &str) -> Result<(), VerifyError> {
    let header = header.ok_or(VerifyError::BadAuth)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or(VerifyError::BadAuth)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(VerifyError::BadAuth);
    }
    let decoded = STANDARD
        .decode(token.trim())
        .map_err(|_| VerifyError::BadAuth)?;
    let split = decoded
        .iter()
        .position(|b| *b == b':')
        .ok_or(VerifyError::BadAuth)?;
    let (got_user, got_password) = (&decoded[..split], &decoded[split + 1..]);
    // `&` rather than `&&`: always compare both halves.
    if ct_eq(got_user, user.as_bytes()) & ct_eq(got_password, password.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::BadAuth)
    }
}

/// Each item is one event, stored as its inner `NotificationRequestItem`
/// object. Basic auth is checked when both `webhook_username` and
/// `webhook_password` are configured.
pub(super) fn verify_delivery(d: &Delivery<'_>) -> Result<Verified, VerifyError> {
    let basic = d
        .credential("webhook_username")
        .zip(d.credential("webhook_password"));
    let items = verify_adyen_notification(d.body, d.header("authorization"), basic, d.secrets)?;
    let events = items
        .iter()
        .map(|item| VerifiedEvent {
            provider_event_id: normalize_adyen(item).provider_event_id,
            payload: item.raw.to_string().into_bytes(),
        })
        .collect();
    Ok(Verified { events, ack: ACK })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
