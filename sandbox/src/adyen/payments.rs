//! `POST /payments`: request validation per the v71 `PaymentRequest`
//! schema, payment-method evaluation and the `PaymentResponse`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::super::cards::{CardNumber, CardOutcome, DeclineReason, expiry_ok, full_year};
use super::super::currency;
use super::super::ledger::{ChargeStatus, Dialect, LedgerEntry, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::super::wire::{SimReply, now_unix};
use super::{AdyenPayment, disputes, merchant_account, standalone, validation};

/// A validated `amount` object.
pub(crate) fn amount(sb: &Sandbox, body: &Value) -> Result<(i64, String), SimReply> {
    let amount = body
        .get("amount")
        .filter(|a| a.is_object())
        .ok_or_else(|| validation(sb, "100", "No amount specified"))?;
    let code = amount
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| validation(sb, "100", "No amount specified"))?;
    let value = amount
        .get("value")
        .and_then(Value::as_i64)
        .ok_or_else(|| validation(sb, "100", "No amount specified"))?;
    let rule = currency::adyen(code)
        .ok_or_else(|| validation(sb, "14_012", "The provided currency is not supported"))?;
    rule.check(value)
        .map_err(|_| validation(sb, "137", "Invalid amount specified"))?;
    Ok((value, code.to_string()))
}

fn required_str<'a>(
    sb: &Sandbox,
    body: &'a Value,
    field: &str,
    code: &str,
    message: &str,
) -> Result<&'a str, SimReply> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| validation(sb, code, message))
}

/// `POST /payments`: validates, charges, records and answers 200.
pub(crate) fn create(sb: &Sandbox, body: &Value, key: Option<&str>) -> Result<Value, SimReply> {
    let account = merchant_account(sb, body)?;
    let (value, currency) = amount(sb, body)?;
    let method = body
        .get("paymentMethod")
        .filter(|m| m.is_object())
        .ok_or_else(|| {
            validation(
                sb,
                "14_004",
                "Required object 'paymentMethod' is not provided.",
            )
        })?;
    let reference = required_str(sb, body, "reference", "130", "Reference Missing")?;
    required_str(sb, body, "returnUrl", "14_030", "Return URL is missing.")?;
    let Evaluated {
        kind: method_name,
        outcome,
        variant,
        disputes,
    } = evaluate_method(sb, method)?;
    let manual_capture = body
        .pointer("/additionalData/manualCapture")
        .and_then(Value::as_str)
        == Some("true");
    let psp = sb.psp_reference();
    let authorised = outcome == CardOutcome::Approve;
    let mut payment = AdyenPayment {
        merchant_account: account,
        reference: reference.to_string(),
        amount: value,
        currency: currency.clone(),
        authorised,
        manual_capture,
        captured: if authorised && !manual_capture {
            value
        } else {
            0
        },
        refunded: 0,
        cancelled: false,
        variant,
        dispute_on_capture: disputes,
        chargeback: None,
    };
    let refusal = match outcome {
        CardOutcome::Decline(reason) => Some(reason.adyen()),
        CardOutcome::Approve => None,
    };
    let mut adyen = lock(&sb.adyen);
    let pending = adyen
        .pending_cancels
        .remove(&(payment.merchant_account.clone(), payment.reference.clone()))
        .unwrap_or_default();
    if !pending.is_empty() {
        // The cancel was queued first, so an auto-capture never happens.
        payment.captured = 0;
    }
    sb.record(ledger_entry(
        &psp,
        &payment,
        body,
        &method_name,
        key,
        refusal,
    ));
    sb.emit(authorisation_event(&psp, &payment, refusal.map(|(r, _)| r)));
    adyen.payments.insert(psp.clone(), payment);
    if let Some(payment) = adyen.payments.get_mut(&psp) {
        standalone::apply_pending(sb, &psp, payment, pending);
    }
    if authorised && !manual_capture {
        // Auto-capture: AUTHORISATION is the capture event here.
        if let Some(payment) = adyen.payments.get_mut(&psp) {
            disputes::open_if_disputed(sb, &psp, payment);
        }
    }
    let mut response = json!({
        "pspReference": psp,
        "resultCode": if authorised { "Authorised" } else { "Refused" },
        "amount": {"currency": currency, "value": value},
        "merchantReference": reference,
    });
    if let Some((reason, code)) = refusal {
        response["refusalReason"] = json!(reason);
        response["refusalReasonCode"] = json!(code);
    }
    Ok(response)
}

fn authorisation_event(psp: &str, payment: &AdyenPayment, refusal: Option<&str>) -> OutboxEvent {
    let mut event = OutboxEvent::new(
        Dialect::Adyen,
        "AUTHORISATION",
        psp,
        payment.amount,
        &payment.currency,
        payment.authorised,
    );
    event.merchant_account = Some(payment.merchant_account.clone());
    event.merchant_reference = Some(payment.reference.clone());
    event.payment_method = Some(payment.variant.clone());
    event.reason = refusal.map(str::to_string);
    if payment.authorised {
        let operations: &[&str] = if payment.manual_capture {
            &["CANCEL", "CAPTURE", "REFUND"]
        } else {
            &["REFUND"]
        };
        event.operations = operations.iter().map(|o| o.to_string()).collect();
    }
    event
}

fn ledger_entry(
    psp: &str,
    payment: &AdyenPayment,
    body: &Value,
    method: &str,
    key: Option<&str>,
    refusal: Option<(&str, &str)>,
) -> LedgerEntry {
    let metadata: BTreeMap<String, String> = body
        .get("metadata")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    LedgerEntry {
        dialect: Dialect::Adyen,
        id: psp.to_string(),
        amount: payment.amount,
        currency: payment.currency.clone(),
        status: if payment.authorised {
            ChargeStatus::Authorized
        } else {
            ChargeStatus::Declined
        },
        live: payment.authorised,
        amount_captured: payment.captured,
        amount_refunded: 0,
        idempotency_key: key.map(str::to_string),
        reference: Some(payment.reference.clone()),
        metadata,
        payment_method: method.to_string(),
        decline_reason: refusal.map(|(r, _)| r.to_string()),
        dispute_status: None,
        created_at: now_unix(),
    }
}

/// What charging a payment method will do.
struct Evaluated {
    /// The request's `paymentMethod.type`.
    kind: String,
    outcome: CardOutcome,
    /// The notification's `paymentMethod` (`visa`, `mc`, `sepadirectdebit`, ...).
    variant: String,
    /// The dispute test card: a chargeback follows the capture.
    disputes: bool,
}

impl Evaluated {
    fn approved(kind: &str) -> Evaluated {
        Evaluated {
            kind: kind.to_string(),
            outcome: CardOutcome::Approve,
            variant: kind.to_string(),
            disputes: false,
        }
    }
}

/// The payment method's type and the scripted outcome of charging it.
fn evaluate_method(sb: &Sandbox, method: &Value) -> Result<Evaluated, SimReply> {
    let field = |name: &str| str_field(method, name);
    let kind = field("type").unwrap_or("scheme").to_string();
    if field("storedPaymentMethodId").is_some() || field("recurringDetailReference").is_some() {
        return Ok(Evaluated::approved(&kind));
    }
    let missing = |what: &str| {
        validation(
            sb,
            "14_004",
            &format!("Required field '{what}' is not provided."),
        )
    };
    match kind.as_str() {
        "scheme" | "card" => card_outcome(sb, method).map(|(outcome, number)| Evaluated {
            outcome,
            variant: number.adyen_variant().to_string(),
            disputes: number.disputes(),
            kind,
        }),
        "sepadirectdebit" => {
            let iban = field("iban").ok_or_else(|| missing("iban"))?;
            field("ownerName").ok_or_else(|| missing("ownerName"))?;
            if !iban_plausible(iban) {
                return Err(validation(sb, "161", "Invalid iban"));
            }
            Ok(Evaluated::approved(&kind))
        }
        "applepay" => field("applePayToken")
            .map(|_| Evaluated::approved(&kind))
            .ok_or_else(|| missing("applePayToken")),
        "googlepay" | "paywithgoogle" => field("googlePayToken")
            .map(|_| Evaluated::approved(&kind))
            .ok_or_else(|| missing("googlePayToken")),
        _ => Err(super::service_error(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "905",
            "Payment details are not supported",
            "configuration",
            Some(sb.psp_reference()),
        )),
    }
}

/// Raw card fields, or Adyen's test-encrypted ones (`test_4111...`).
fn card_outcome(sb: &Sandbox, method: &Value) -> Result<(CardOutcome, CardNumber), SimReply> {
    let plain_or_test = |plain: &str, encrypted: &str| plain_or_test(method, plain, encrypted);
    let number = plain_or_test("number", "encryptedCardNumber")
        .and_then(CardNumber::parse)
        .filter(CardNumber::luhn_valid)
        .ok_or_else(|| validation(sb, "101", "Invalid card number"))?;
    let month =
        plain_or_test("expiryMonth", "encryptedExpiryMonth").and_then(|m| m.parse::<u32>().ok());
    let year =
        plain_or_test("expiryYear", "encryptedExpiryYear").and_then(|y| y.parse::<i32>().ok());
    let (Some(month), Some(year)) = (month.filter(|m| (1..=12).contains(m)), year) else {
        return Err(validation(sb, "129", "Expiry Date Invalid"));
    };
    if let Some(cvc) = plain_or_test("cvc", "encryptedSecurityCode")
        && !((3..=4).contains(&cvc.len()) && cvc.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(validation(sb, "103", "CVC is not the right length"));
    }
    if !expiry_ok(month, full_year(year)) {
        return Ok((CardOutcome::Decline(DeclineReason::ExpiredCard), number));
    }
    Ok((number.outcome(), number))
}

fn iban_plausible(iban: &str) -> bool {
    let compact: String = iban.chars().filter(|c| *c != ' ').collect();
    (15..=34).contains(&compact.len())
        && compact.chars().take(2).all(|c| c.is_ascii_uppercase())
        && compact.chars().all(|c| c.is_ascii_alphanumeric())
}

fn str_field<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn plain_or_test<'a>(method: &'a Value, plain: &str, encrypted: &str) -> Option<&'a str> {
    str_field(method, plain)
        .or_else(|| str_field(method, encrypted).and_then(|v| v.strip_prefix("test_")))
}
