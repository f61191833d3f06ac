//! Adyen Checkout v71 request bodies, built as JSON values so that
//! `tests/adyen_schema.rs` can validate exactly what is sent against the
//! vendor's OpenAPI schemas.

use serde_json::{Map, Value, json};

use super::AdyenError;
use super::amount::to_adyen;
use crate::connectors::{
    AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings, RefundRequest,
};
use crate::domain::method::{CardData, MethodData};

fn merchant_account(settings: &ConnectorSettings) -> Result<&str, AdyenError> {
    settings
        .merchant_account
        .as_deref()
        .filter(|m| !m.is_empty())
        .ok_or(AdyenError::NoMerchantAccount)
}

/// Adyen's `amount` object; `value` in Adyen's scale for the currency.
fn amount(value: i64, currency: &str) -> Result<Value, AdyenError> {
    let value = to_adyen(value, currency)?;
    Ok(json!({"value": value, "currency": currency.to_ascii_uppercase()}))
}

/// `POST /payments`. `reference` is payroute's payment id so that webhooks
/// (`merchantReference`) lead straight back to the payment; the merchant's own
/// order reference travels as `merchantOrderReference`.
///
/// Manual capture is requested per payment with
/// `additionalData.manualCapture = "true"`; for automatic capture nothing is
/// sent and the merchant account's capture delay applies (configure it as
/// immediate).
pub fn payment_request_body(
    settings: &ConnectorSettings,
    req: &AuthorizeRequest,
) -> Result<Value, AdyenError> {
    let mut body = Map::new();
    body.insert("amount".into(), amount(req.amount, &req.currency)?);
    body.insert("merchantAccount".into(), merchant_account(settings)?.into());
    body.insert("reference".into(), req.payment_id.clone().into());
    body.insert(
        "merchantOrderReference".into(),
        req.reference.clone().into(),
    );
    body.insert("returnUrl".into(), req.return_url.clone().into());
    body.insert("paymentMethod".into(), payment_method(&req.method));
    insert_opt(&mut body, "shopperEmail", &req.customer_email);
    insert_opt(&mut body, "countryCode", &req.customer_country);
    insert_opt(&mut body, "shopperIP", &req.customer_ip);
    if let MethodData::GatewayToken(_) = req.method {
        stored_method_fields(&mut body, req)?;
    }
    if req.manual_capture {
        body.insert("additionalData".into(), json!({"manualCapture": "true"}));
    }
    Ok(Value::Object(body))
}

/// Charging a stored token needs the shopper it was stored for and the
/// card-on-file model. A shopper with an IP in the request is taken to be in
/// session (one-click: `Ecommerce` + `CardOnFile`); otherwise the merchant is
/// charging without them (`ContAuth` + `UnscheduledCardOnFile`).
fn stored_method_fields(
    body: &mut Map<String, Value>,
    req: &AuthorizeRequest,
) -> Result<(), AdyenError> {
    let shopper = req
        .customer_id
        .as_deref()
        .filter(|s| s.len() >= 3)
        .ok_or(AdyenError::NoShopperReference)?;
    let (interaction, model) = if req.customer_ip.is_some() {
        ("Ecommerce", "CardOnFile")
    } else {
        ("ContAuth", "UnscheduledCardOnFile")
    };
    body.insert("shopperReference".into(), shopper.into());
    body.insert("shopperInteraction".into(), interaction.into());
    body.insert("recurringProcessingModel".into(), model.into());
    Ok(())
}

fn insert_opt(body: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
        body.insert(key.into(), v.into());
    }
}

/// `paymentMethod`: raw card fields (`CardDetails`), a stored card
/// (`CardDetails.storedPaymentMethodId`), wallets and SEPA per their schemas.
fn payment_method(method: &MethodData) -> Value {
    match method {
        MethodData::Card(card) => card_details(card),
        MethodData::GatewayToken(t) => {
            json!({"type": "scheme", "storedPaymentMethodId": t.expose()})
        }
        MethodData::ApplePay(t) => json!({"type": "applepay", "applePayToken": t.expose()}),
        MethodData::GooglePay(t) => json!({"type": "googlepay", "googlePayToken": t.expose()}),
        MethodData::SepaDebit { iban, owner_name } => {
            json!({"type": "sepadirectdebit", "iban": iban.expose(), "ownerName": owner_name})
        }
    }
}

fn card_details(card: &CardData) -> Value {
    let mut pm = Map::new();
    pm.insert("type".into(), "scheme".into());
    pm.insert("number".into(), card.number.expose().into());
    pm.insert(
        "expiryMonth".into(),
        format!("{:02}", card.exp_month).into(),
    );
    pm.insert("expiryYear".into(), format!("{:04}", card.exp_year).into());
    if let Some(cvc) = &card.cvc {
        pm.insert("cvc".into(), cvc.expose().into());
    }
    if let Some(name) = card.holder_name.as_deref().filter(|n| !n.is_empty()) {
        pm.insert("holderName".into(), name.into());
    }
    Value::Object(pm)
}

/// `POST /payments/{psp}/captures`.
pub fn capture_body(
    settings: &ConnectorSettings,
    req: &CaptureRequest,
) -> Result<Value, AdyenError> {
    Ok(json!({
        "amount": amount(req.amount, &req.currency)?,
        "merchantAccount": merchant_account(settings)?,
        "reference": req.payment_id,
    }))
}

/// `POST /payments/{psp}/cancels`.
pub fn cancel_body(settings: &ConnectorSettings, req: &CancelRequest) -> Result<Value, AdyenError> {
    Ok(json!({
        "merchantAccount": merchant_account(settings)?,
        "reference": req.payment_id,
    }))
}

/// `POST /cancels`: a standalone cancel by payroute's own payment id (the
/// `reference` of `POST /payments`), for a payment whose pspReference payroute
/// never received. The cancel's own `reference` names it a reversal.
pub fn standalone_cancel_body(
    settings: &ConnectorSettings,
    payment_id: &str,
) -> Result<Value, AdyenError> {
    Ok(json!({
        "merchantAccount": merchant_account(settings)?,
        "paymentReference": payment_id,
        "reference": format!("{payment_id}-reversal"),
    }))
}

/// `POST /payments/{psp}/reversals`: `reference` names it a reversal of
/// payroute's payment, as the standalone cancel's does.
pub fn reversal_body(settings: &ConnectorSettings, payment_id: &str) -> Result<Value, AdyenError> {
    Ok(json!({
        "merchantAccount": merchant_account(settings)?,
        "reference": format!("{payment_id}-reversal"),
    }))
}

/// `POST /payments/{psp}/refunds`; `reference` is payroute's refund id so the
/// REFUND webhook can be matched to it.
pub fn refund_body(settings: &ConnectorSettings, req: &RefundRequest) -> Result<Value, AdyenError> {
    let mut body = json!({
        "amount": amount(req.amount, &req.currency)?,
        "merchantAccount": merchant_account(settings)?,
        "reference": req.refund_id,
    });
    if let Some(reason) = req.reason.as_deref() {
        body["merchantRefundReason"] = refund_reason(reason).into();
    }
    Ok(body)
}

/// payroute / Stripe-style reasons → Adyen's `merchantRefundReason` enum.
fn refund_reason(reason: &str) -> &'static str {
    match reason {
        "duplicate" => "DUPLICATE",
        "fraudulent" | "fraud" => "FRAUD",
        "requested_by_customer" | "customer_request" => "CUSTOMER REQUEST",
        "return" => "RETURN",
        _ => "OTHER",
    }
}
