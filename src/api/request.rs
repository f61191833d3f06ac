//! Parsing and validating merchant request bodies into domain inputs. Every
//! rule here answers a 400 naming the offending `param`; nothing is stored
//! before a body has passed.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::connectors::{CardData, Sensitive};
use crate::payments::engine::{Customer, MethodInput, NewPayment};
use crate::payments::model::CaptureMode;
use crate::payments::money::{AmountError, Currency};
use crate::routing::MethodKind;

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            "invalid_json",
            "body",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(ApiError::invalid(
            "invalid_json",
            "body",
            "request body must be a JSON object",
        ));
    }
    Ok(v)
}

fn str_field<'a>(obj: &'a Value, key: &str, param: &str) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::invalid(
            "parameter_invalid",
            param,
            format!("`{param}` must be a string"),
        )),
    }
}

fn required_str<'a>(obj: &'a Value, key: &str, param: &str) -> Result<&'a str, ApiError> {
    str_field(obj, key, param)?.ok_or_else(|| ApiError::missing(param))
}

fn int_field(obj: &Value, key: &str, param: &str) -> Result<Option<i64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid",
                param,
                format!("`{param}` must be an integer (amounts are in the currency's minor unit)"),
            )
        }),
        Some(_) => Err(ApiError::invalid(
            "parameter_invalid",
            param,
            format!("`{param}` must be an integer"),
        )),
    }
}

/// An amount in minor units, checked against the currency's limits.
pub fn amount(obj: &Value, currency: Currency, required: bool) -> Result<Option<i64>, ApiError> {
    let Some(a) = int_field(obj, "amount", "amount")? else {
        return if required {
            Err(ApiError::missing("amount"))
        } else {
            Ok(None)
        };
    };
    currency.check_amount(a).map_err(|e| match e {
        AmountError::NotPositive => ApiError::invalid("amount_invalid", "amount", e.to_string()),
        AmountError::TooLarge { .. } => {
            ApiError::invalid("amount_too_large", "amount", e.to_string())
        }
    })?;
    Ok(Some(a))
}

pub fn currency(obj: &Value) -> Result<Currency, ApiError> {
    let code = required_str(obj, "currency", "currency")?;
    Currency::from_code(code).ok_or_else(|| {
        ApiError::invalid(
            "currency_invalid",
            "currency",
            format!("`{code}` is not an ISO 4217 currency code (use upper case, e.g. EUR)"),
        )
    })
}

/// The create-payment body (design §3).
pub fn new_payment(v: &Value) -> Result<NewPayment, ApiError> {
    let currency = currency(v)?;
    let amount = amount(v, currency, true)?.unwrap_or_default();
    let reference = required_str(v, "reference", "reference")?;
    if reference.is_empty() || reference.len() > 128 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "reference",
            "`reference` must be 1 to 128 characters",
        ));
    }
    let capture = match str_field(v, "capture", "capture")? {
        None | Some("automatic") => CaptureMode::Automatic,
        Some("manual") => CaptureMode::Manual,
        Some(other) => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "capture",
                format!("`capture` must be `automatic` or `manual`, not `{other}`"),
            ));
        }
    };
    let pm = v
        .get("payment_method")
        .ok_or_else(|| ApiError::missing("payment_method"))?;
    if !pm.is_object() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "payment_method",
            "`payment_method` must be an object",
        ));
    }
    let method = method(pm)?;
    let risk_score = match int_field(v, "risk_score", "risk_score")? {
        None => None,
        Some(s @ 0..=100) => Some(s as u32),
        Some(_) => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "risk_score",
                "`risk_score` must be 0 to 100",
            ));
        }
    };
    Ok(NewPayment {
        amount,
        currency,
        reference: reference.to_string(),
        capture,
        method,
        customer: customer(v.get("customer"))?,
        risk_score,
        metadata: metadata(v.get("metadata"))?,
        return_url: str_field(v, "return_url", "return_url")?.map(str::to_string),
        idempotency_key: None,
    })
}

fn method(pm: &Value) -> Result<MethodInput, ApiError> {
    let kind_s = required_str(pm, "type", "payment_method.type")?;
    let kind = MethodKind::parse(kind_s).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            "payment_method.type",
            format!("unknown payment method type `{kind_s}` (card, apple_pay, google_pay, sepa_debit, gateway_token)"),
        )
    })?;
    Ok(match kind {
        MethodKind::Card => MethodInput::Card(card(
            pm.get("card")
                .ok_or_else(|| ApiError::missing("payment_method.card"))?,
        )?),
        MethodKind::GatewayToken => MethodInput::Tokens(tokens(pm)?),
        MethodKind::ApplePay | MethodKind::GooglePay => {
            let token = required_str(pm, "token", "payment_method.token")?;
            MethodInput::Wallet(kind, Sensitive(token.to_string()))
        }
        MethodKind::SepaDebit => {
            let sepa = pm.get("sepa_debit").unwrap_or(pm);
            let iban = required_str(sepa, "iban", "payment_method.sepa_debit.iban")?;
            let name = required_str(sepa, "name", "payment_method.sepa_debit.name")?;
            MethodInput::Sepa {
                iban: Sensitive(iban.replace(' ', "")),
                owner_name: name.to_string(),
            }
        }
    })
}

fn card(c: &Value) -> Result<CardData, ApiError> {
    let number = required_str(c, "number", "payment_method.card.number")?;
    let digits: String = number.chars().filter(|ch| *ch != ' ').collect();
    if !(12..=19).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !luhn_ok(&digits)
    {
        return Err(ApiError::invalid(
            "card_number_invalid",
            "payment_method.card.number",
            "the card number is not a valid card number",
        ));
    }
    let exp_month = int_field(c, "exp_month", "payment_method.card.exp_month")?
        .ok_or_else(|| ApiError::missing("payment_method.card.exp_month"))?;
    if !(1..=12).contains(&exp_month) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "payment_method.card.exp_month",
            "`exp_month` must be 1 to 12",
        ));
    }
    let exp_year = int_field(c, "exp_year", "payment_method.card.exp_year")?
        .ok_or_else(|| ApiError::missing("payment_method.card.exp_year"))?;
    if !(2000..=2100).contains(&exp_year) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "payment_method.card.exp_year",
            "`exp_year` must be a four-digit year",
        ));
    }
    let cvc = str_field(c, "cvc", "payment_method.card.cvc")?;
    if cvc.is_some_and(|cvc| {
        !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit())
    }) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "payment_method.card.cvc",
            "`cvc` must be 3 or 4 digits",
        ));
    }
    Ok(CardData {
        number: Sensitive(digits),
        exp_month: exp_month as u8,
        exp_year: exp_year as u16,
        cvc: cvc.map(|s| Sensitive(s.to_string())),
        holder_name: str_field(c, "holder_name", "payment_method.card.holder_name")?
            .map(str::to_string),
    })
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn tokens(pm: &Value) -> Result<BTreeMap<String, Sensitive>, ApiError> {
    let param = "payment_method.tokens";
    let obj = pm
        .get("tokens")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::missing(param))?;
    if obj.is_empty() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            param,
            "`tokens` must name at least one gateway",
        ));
    }
    obj.iter()
        .map(|(g, t)| match t {
            Value::String(s) if !s.is_empty() => Ok((g.clone(), Sensitive(s.clone()))),
            _ => Err(ApiError::invalid(
                "parameter_invalid",
                param,
                format!("token for `{g}` must be a non-empty string"),
            )),
        })
        .collect()
}

fn customer(v: Option<&Value>) -> Result<Customer, ApiError> {
    let Some(c) = v.filter(|c| !c.is_null()) else {
        return Ok(Customer::default());
    };
    if !c.is_object() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "customer",
            "`customer` must be an object",
        ));
    }
    let country = str_field(c, "country", "customer.country")?;
    if country.is_some_and(|cc| cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "customer.country",
            "`country` must be an ISO 3166-1 alpha-2 code in upper case",
        ));
    }
    Ok(Customer {
        id: str_field(c, "id", "customer.id")?.map(str::to_string),
        email: str_field(c, "email", "customer.email")?.map(str::to_string),
        country: country.map(str::to_string),
        ip: str_field(c, "ip", "customer.ip")?.map(str::to_string),
    })
}

fn metadata(v: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
    let Some(m) = v.filter(|m| !m.is_null()) else {
        return Ok(Map::new());
    };
    let obj = m.as_object().ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            "metadata",
            "`metadata` must be an object",
        )
    })?;
    if obj.len() > 50 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "metadata",
            "`metadata` holds at most 50 keys",
        ));
    }
    for (k, val) in obj {
        if !val.is_string() || k.len() > 40 || val.as_str().is_some_and(|s| s.len() > 500) {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "metadata",
                format!("metadata `{k}`: keys up to 40 characters, values strings up to 500"),
            ));
        }
    }
    Ok(obj.clone())
}

/// Optional `reason` of a refund or cancel.
pub fn reason(v: &Value) -> Result<Option<String>, ApiError> {
    Ok(str_field(v, "reason", "reason")?.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"amount": 1999, "currency": "EUR", "reference": "o-1",
               "payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}})
    }

    #[test]
    fn a_valid_card_payment_parses() {
        let p = new_payment(&body()).unwrap();
        assert_eq!(p.amount, 1999);
        assert_eq!(p.currency.code(), "EUR");
    }

    #[test]
    fn bad_inputs_name_their_param() {
        let cases = [
            ("/amount", json!(-1), "amount_invalid", "amount"),
            ("/amount", json!(19.99), "parameter_invalid", "amount"),
            (
                "/amount",
                json!(1_000_000_000_000i64),
                "amount_too_large",
                "amount",
            ),
            ("/currency", json!("EURO"), "currency_invalid", "currency"),
            ("/currency", json!("eur"), "currency_invalid", "currency"),
            (
                "/payment_method/card/number",
                json!("4242424242424241"),
                "card_number_invalid",
                "payment_method.card.number",
            ),
            (
                "/payment_method/type",
                json!("cash"),
                "parameter_invalid",
                "payment_method.type",
            ),
        ];
        for (ptr, val, code, param) in cases {
            let mut b = body();
            *b.pointer_mut(ptr).unwrap() = val;
            let e = new_payment(&b).unwrap_err();
            assert_eq!((e.code, e.param.as_deref()), (code, Some(param)), "{ptr}");
        }
    }

    #[test]
    fn luhn_accepts_test_cards_only_when_valid() {
        assert!(luhn_ok("4242424242424242"));
        assert!(luhn_ok("4000000000000002"));
        assert!(!luhn_ok("4242424242424243"));
    }
}
