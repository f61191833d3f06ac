//! Stripe PaymentMethods: `POST /v1/payment_methods`, inline
//! `payment_method_data[...]`, and Stripe's `pm_card_*` test tokens.

use serde_json::Value;

use super::super::cards::{CardNumber, expiry_ok, full_year};
use super::super::form::Form;
use super::super::state::{Sandbox, lock};
use super::super::wire::now_unix;
use super::error::StripeError;
use super::objects::{MethodDetails, PaymentMethod, StripeState};

/// `POST /v1/payment_methods`.
pub(crate) fn create(sb: &Sandbox, form: &Form) -> Result<Value, StripeError> {
    let pm = build(sb, form, None)?;
    let body = pm.json();
    lock(&sb.stripe).payment_methods.insert(pm.id.clone(), pm);
    Ok(body)
}

/// A PaymentMethod from the form's fields, at the top level or under
/// `prefix[...]` (e.g. `payment_method_data`). Validation mirrors Stripe's:
/// missing fields are 400s, bad card data are 402 card errors.
pub(crate) fn build(
    sb: &Sandbox,
    form: &Form,
    prefix: Option<&str>,
) -> Result<PaymentMethod, StripeError> {
    let field = |path: &[&str]| -> Option<String> {
        let mut full: Vec<&str> = prefix.into_iter().collect();
        full.extend_from_slice(path);
        form.str(&full).map(str::to_string)
    };
    let pname = |path: &[&str]| param(prefix, path);
    let kind = field(&["type"]).ok_or_else(|| StripeError::missing(&pname(&["type"])))?;
    let details = match kind.as_str() {
        "card" => card_details(&field, &pname)?,
        "sepa_debit" => {
            let iban_param = pname(&["sepa_debit", "iban"]);
            let iban =
                field(&["sepa_debit", "iban"]).ok_or_else(|| StripeError::missing(&iban_param))?;
            sepa_details(&iban).ok_or_else(|| {
                StripeError::invalid("The IBAN you provided is invalid.")
                    .code("invalid_bank_account_iban")
                    .param(&iban_param)
            })?
        }
        other => {
            return Err(StripeError::invalid(format!(
                "Invalid type: the sandbox supports card and sepa_debit, not {other}"
            ))
            .param(&pname(&["type"])));
        }
    };
    Ok(PaymentMethod {
        id: sb.stripe_id("pm_"),
        details,
        billing_name: field(&["billing_details", "name"]),
        metadata: match prefix {
            None => form.string_map("metadata"),
            Some(_) => Default::default(),
        },
        created: now_unix(),
    })
}

/// Stripe's bracketed parameter name: `card[number]`, `payment_method_data[type]`.
fn param(prefix: Option<&str>, path: &[&str]) -> String {
    let mut segments = prefix.into_iter().chain(path.iter().copied());
    let mut name = segments.next().unwrap_or_default().to_string();
    for segment in segments {
        name.push_str(&format!("[{segment}]"));
    }
    name
}

fn card_details(
    field: &dyn Fn(&[&str]) -> Option<String>,
    pname: &dyn Fn(&[&str]) -> String,
) -> Result<MethodDetails, StripeError> {
    let missing = |f: &str| StripeError::missing(&pname(&["card", f]));
    let raw = field(&["card", "number"]).ok_or_else(|| missing("number"))?;
    let number = CardNumber::parse(&raw)
        .ok_or_else(|| card_invalid("invalid_number", "Your card number is invalid.", "number"))?;
    if !number.luhn_valid() {
        return Err(card_invalid(
            "incorrect_number",
            "Your card number is incorrect.",
            "number",
        ));
    }
    let month = field(&["card", "exp_month"]).ok_or_else(|| missing("exp_month"))?;
    let year = field(&["card", "exp_year"]).ok_or_else(|| missing("exp_year"))?;
    let exp_month: u32 = month
        .parse()
        .ok()
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| {
            card_invalid(
                "invalid_expiry_month",
                "Your card's expiration month is invalid.",
                "exp_month",
            )
        })?;
    let exp_year = year
        .parse::<i32>()
        .ok()
        .map(full_year)
        .filter(|y| expiry_ok(exp_month, *y))
        .ok_or_else(|| {
            card_invalid(
                "invalid_expiry_year",
                "Your card's expiration year is invalid.",
                "exp_year",
            )
        })?;
    if let Some(cvc) = field(&["card", "cvc"]) {
        let ok = (3..=4).contains(&cvc.len()) && cvc.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(card_invalid(
                "invalid_cvc",
                "Your card's security code is invalid.",
                "cvc",
            ));
        }
    }
    Ok(MethodDetails::Card {
        number,
        exp_month,
        exp_year,
    })
}

fn sepa_details(iban: &str) -> Option<MethodDetails> {
    let compact: String = iban.chars().filter(|c| *c != ' ').collect();
    let ok = (15..=34).contains(&compact.len())
        && compact.chars().take(2).all(|c| c.is_ascii_uppercase())
        && compact.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then(|| MethodDetails::SepaDebit {
        last4: compact[compact.len() - 4..].to_string(),
    })
}

/// A card error raised while validating card data (no decline_code).
fn card_invalid(code: &'static str, message: &str, param: &str) -> StripeError {
    let mut e = StripeError::card(code, "", message).param(param);
    e.decline_code = None;
    e
}

/// Looks up `pm_...`, turning Stripe's `pm_card_*` test tokens into a fresh
/// PaymentMethod as Stripe does. Returns the id to attach to the intent.
pub(crate) fn resolve(sb: &Sandbox, st: &mut StripeState, id: &str) -> Result<String, StripeError> {
    if st.payment_methods.contains_key(id) {
        return Ok(id.to_string());
    }
    let number = match id {
        "pm_card_visa" => "4242424242424242",
        "pm_card_mastercard" => "5555555555554444",
        "pm_card_chargeDeclined" => "4000000000000002",
        "pm_card_chargeDeclinedInsufficientFunds" => "4000000000009995",
        "pm_card_chargeDeclinedExpiredCard" => "4000000000000069",
        "pm_card_chargeDeclinedIncorrectCvc" => "4000000000000127",
        "pm_card_createDispute" => "4000000000000259",
        _ => return Err(StripeError::no_such("PaymentMethod", id, "payment_method")),
    };
    let number = CardNumber::parse(number)
        .ok_or_else(|| StripeError::no_such("PaymentMethod", id, "payment_method"))?;
    let pm = PaymentMethod {
        id: sb.stripe_id("pm_"),
        details: MethodDetails::Card {
            number,
            exp_month: 12,
            exp_year: time::OffsetDateTime::now_utc().year() + 3,
        },
        billing_name: None,
        metadata: Default::default(),
        created: now_unix(),
    };
    let new_id = pm.id.clone();
    st.payment_methods.insert(new_id.clone(), pm);
    Ok(new_id)
}
