//! Checkout.com request bodies, built as JSON values (API reference:
//! "Request a payment", "Capture a payment", "Void a payment", "Refund a
//! payment", "Reverse a payment"). Every body names payroute's payment id as
//! `reference` and in `metadata.payroute_payment_id` (refunds: the refund id,
//! `metadata.payroute_refund_id`), so that webhooks and the reference lookup
//! lead back to payroute's records. Amounts go out in Checkout.com's
//! format (`amount`).

use serde_json::{Map, Value, json};

use super::CheckoutError;
use super::amount::to_checkout;
use crate::connectors::{
    AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings, RefundRequest,
};
use crate::domain::method::{CardData, MethodData};

/// The metadata key naming payroute's payment id on every payment.
pub const PAYMENT_ID_METADATA_KEY: &str = "payroute_payment_id";
/// The metadata key naming payroute's refund id on every refund.
pub const REFUND_ID_METADATA_KEY: &str = "payroute_refund_id";

/// `POST /payments`. `capture: false` holds the funds for a later
/// `/captures`; `true` (Checkout.com's default) captures at once. The
/// merchant's own order reference travels in metadata: `reference` is
/// payroute's payment id, which is what the lookup by reference searches.
/// A configured `merchant_account` is sent as `processing_channel_id`,
/// which accounts on the current platform need.
pub fn payment_body(
    settings: &ConnectorSettings,
    req: &AuthorizeRequest,
) -> Result<Value, CheckoutError> {
    let mut body = Map::new();
    body.insert("source".into(), source(&req.method)?);
    body.insert(
        "amount".into(),
        to_checkout(req.amount, &req.currency)?.into(),
    );
    body.insert("currency".into(), req.currency.to_ascii_uppercase().into());
    body.insert("reference".into(), req.payment_id.clone().into());
    body.insert("capture".into(), (!req.manual_capture).into());
    body.insert(
        "metadata".into(),
        json!({PAYMENT_ID_METADATA_KEY: req.payment_id, "merchant_reference": req.reference}),
    );
    if let Some(email) = req.customer_email.as_deref().filter(|e| !e.is_empty()) {
        body.insert("customer".into(), json!({"email": email}));
    }
    if let Some(ip) = req.customer_ip.as_deref().filter(|i| !i.is_empty()) {
        body.insert("payment_ip".into(), ip.into());
    }
    if let Some(channel) = settings
        .merchant_account
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        body.insert("processing_channel_id".into(), channel.into());
    }
    Ok(Value::Object(body))
}

/// The payment `source`:
/// - a card: `{"type":"card", number, expiry_month, expiry_year, cvv, name}`
///   (the full card details API; months and years are integers);
/// - a gateway token: a stored source `src_...` as `{"type":"id"}`, or a
///   Checkout.com card token `tok_...` as `{"type":"token"}`;
/// - Apple Pay / Google Pay: payroute passes the wallet payload through, so
///   it must already be the Checkout.com token (`tok_...`) that Checkout.com's
///   `/tokens` call made of it: `{"type":"token"}`;
/// - SEPA debit is not offered through this connector.
fn source(method: &MethodData) -> Result<Value, CheckoutError> {
    match method {
        MethodData::Card(card) => Ok(card_source(card)),
        MethodData::GatewayToken(t) if t.expose().starts_with("tok_") => {
            Ok(json!({"type": "token", "token": t.expose()}))
        }
        MethodData::GatewayToken(t) => Ok(json!({"type": "id", "id": t.expose()})),
        MethodData::ApplePay(t) | MethodData::GooglePay(t) => {
            Ok(json!({"type": "token", "token": t.expose()}))
        }
        MethodData::SepaDebit { .. } => Err(CheckoutError::UnsupportedMethod("sepa_debit")),
    }
}

fn card_source(card: &CardData) -> Value {
    let mut source = Map::new();
    source.insert("type".into(), "card".into());
    source.insert("number".into(), card.number.expose().into());
    source.insert("expiry_month".into(), card.exp_month.into());
    source.insert("expiry_year".into(), card.exp_year.into());
    if let Some(cvv) = &card.cvc {
        source.insert("cvv".into(), cvv.expose().into());
    }
    if let Some(name) = card.holder_name.as_deref().filter(|n| !n.is_empty()) {
        source.insert("name".into(), name.into());
    }
    Value::Object(source)
}

/// `POST /payments/{id}/captures`.
pub fn capture_body(req: &CaptureRequest) -> Result<Value, CheckoutError> {
    Ok(json!({
        "amount": to_checkout(req.amount, &req.currency)?,
        "reference": req.payment_id,
        "metadata": {PAYMENT_ID_METADATA_KEY: req.payment_id},
    }))
}

/// `POST /payments/{id}/voids`. Every field is optional; sending the
/// reference also keeps the body non-empty, which lets the HTTP client tell
/// "never sent" apart on a timeout.
pub fn void_body(req: &CancelRequest) -> Value {
    json!({
        "reference": req.payment_id,
        "metadata": {PAYMENT_ID_METADATA_KEY: req.payment_id},
    })
}

/// `POST /payments/{id}/refunds`; `reference` is payroute's refund id so the
/// `payment_refunded` webhook can be matched to it.
pub fn refund_body(req: &RefundRequest) -> Result<Value, CheckoutError> {
    let mut metadata = Map::new();
    metadata.insert(REFUND_ID_METADATA_KEY.into(), req.refund_id.clone().into());
    if let Some(reason) = req.reason.as_deref().filter(|r| !r.is_empty()) {
        metadata.insert("payroute_reason".into(), reason.into());
    }
    Ok(json!({
        "amount": to_checkout(req.amount, &req.currency)?,
        "reference": req.refund_id,
        "metadata": metadata,
    }))
}

/// `POST /payments/{id}/reversals`: `reference` names it a reversal of
/// payroute's payment (`pay_x-reversal`, read back as payment `pay_x`).
pub fn reversal_body(payment_id: &str) -> Value {
    json!({
        "reference": format!("{payment_id}-reversal"),
        "metadata": {PAYMENT_ID_METADATA_KEY: payment_id, "payroute_reason": "reversal"},
    })
}
