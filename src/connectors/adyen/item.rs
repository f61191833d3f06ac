//! One Adyen standard-webhook `NotificationRequestItem`: the raw JSON object
//! (what gets stored and re-read later) plus the fields payroute acts on.

use serde_json::Value;

use crate::connectors::webhook::VerifyError;

/// A parsed notification item. `raw` is the inner `NotificationRequestItem`
/// object exactly as received; the other fields are read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdyenItem {
    pub raw: Value,
    pub psp_reference: String,
    pub original_reference: Option<String>,
    pub merchant_reference: Option<String>,
    pub merchant_account: Option<String>,
    pub event_code: String,
    /// `success` as sent (`"true"`/`"false"`): part of the event's identity.
    pub success_raw: String,
    pub success: bool,
    pub amount_value: Option<i64>,
    pub amount_currency: Option<String>,
    pub reason: Option<String>,
    pub event_date: Option<String>,
}

impl AdyenItem {
    /// Reads an item from either the inner object or its
    /// `{"NotificationRequestItem": {...}}` wrapper. `pspReference` and
    /// `eventCode` are required: together with `success` they identify it.
    pub fn from_value(value: &Value) -> Result<AdyenItem, VerifyError> {
        let item = unwrap_item(value)?;
        let required = |key: &str| {
            text(item, key)
                .ok_or_else(|| VerifyError::Malformed(format!("notification item has no `{key}`")))
        };
        let success_raw = text(item, "success").unwrap_or_default();
        Ok(AdyenItem {
            psp_reference: required("pspReference")?,
            event_code: required("eventCode")?,
            original_reference: text(item, "originalReference"),
            merchant_reference: text(item, "merchantReference"),
            merchant_account: text(item, "merchantAccountCode"),
            success: success_raw.eq_ignore_ascii_case("true"),
            success_raw,
            amount_value: amount_value(item)?,
            amount_currency: text(&item["amount"], "currency"),
            reason: text(item, "reason"),
            event_date: text(item, "eventDate"),
            raw: item.clone(),
        })
    }
}

/// The inner item object, whether or not it is wrapped.
pub(super) fn unwrap_item(value: &Value) -> Result<&Value, VerifyError> {
    let item = value.get("NotificationRequestItem").unwrap_or(value);
    if item.is_object() {
        Ok(item)
    } else {
        Err(VerifyError::Malformed(
            "notification item is not an object".into(),
        ))
    }
}

/// A scalar field as Adyen's SDKs would print it; `None` when absent, null
/// or empty. Numbers and booleans keep their JSON text.
fn text(obj: &Value, key: &str) -> Option<String> {
    scalar(obj.get(key)?).filter(|s| !s.is_empty())
}

/// The JSON text of a scalar (strings unquoted), `None` for null or a
/// composite value.
pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Minor units; a string value is accepted when it is an integer.
fn amount_value(item: &Value) -> Result<Option<i64>, VerifyError> {
    let Some(v) = item.get("amount").and_then(|a| a.get("value")) else {
        return Ok(None);
    };
    let parsed = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| VerifyError::Malformed(format!("amount.value `{v}` is not an integer")))
}
