//! The rules a well-typed body must still meet before it becomes a domain
//! input (design §3): amounts within the currency's limits, Luhn-valid card
//! numbers, known method types, bounded metadata. Each refusal is a 400
//! naming its `param`.

use std::collections::BTreeMap;

use super::wire::{CaptureBody, CardBody, CreateBody, CustomerBody, MethodBody, RefundBody};
use crate::api::error::ApiError;
use crate::domain::facts::MethodKind;
use crate::domain::method::CardData;
use crate::domain::model::CaptureMode;
use crate::domain::money::{AmountError, Currency};
use crate::domain::sensitive::Sensitive;
use crate::payments::engine::{Customer, MethodInput, NewPayment};

/// A refund as asked for: `amount` `None` refunds the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInput {
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

impl CreateBody {
    /// The payment this body asks for.
    pub fn into_payment(self) -> Result<NewPayment, ApiError> {
        self.payment(true)
    }

    /// Like [`CreateBody::into_payment`], except that `reference` may be
    /// left out: it plays no part in routing.
    pub fn into_explained(self) -> Result<NewPayment, ApiError> {
        self.payment(false)
    }

    fn payment(self, needs_reference: bool) -> Result<NewPayment, ApiError> {
        let currency = currency(self.currency.as_deref())?;
        let amount = checked_amount(
            self.amount.ok_or_else(|| ApiError::missing("amount"))?,
            currency,
        )?;
        let reference = match self.reference {
            Some(r) => reference(r)?,
            None if needs_reference => return Err(ApiError::missing("reference")),
            None => String::new(),
        };
        let capture = capture(self.capture.as_deref())?;
        let pm = self
            .payment_method
            .ok_or_else(|| ApiError::missing("payment_method"))?;
        Ok(NewPayment {
            amount,
            currency,
            reference,
            capture,
            method: method(pm)?,
            risk_score: risk_score(self.risk_score)?,
            customer: customer(self.customer)?,
            metadata: metadata(self.metadata)?,
            return_url: self.return_url,
            idempotency_key: None,
            credential: Default::default(),
        })
    }
}

impl CaptureBody {
    /// The amount to capture, `None` for all of it.
    pub fn into_amount(self, currency: Currency) -> Result<Option<i64>, ApiError> {
        self.amount.map(|a| checked_amount(a, currency)).transpose()
    }
}

impl RefundBody {
    pub fn into_refund(self, currency: Currency) -> Result<RefundInput, ApiError> {
        Ok(RefundInput {
            amount: self
                .amount
                .map(|a| checked_amount(a, currency))
                .transpose()?,
            reason: self.reason,
        })
    }
}

/// An amount in minor units, checked against the currency's limits.
pub fn checked_amount(amount: i64, currency: Currency) -> Result<i64, ApiError> {
    currency.check_amount(amount).map_err(|e| match e {
        AmountError::NotPositive => ApiError::invalid("amount_invalid", "amount", e.to_string()),
        AmountError::TooLarge { .. } => {
            ApiError::invalid("amount_too_large", "amount", e.to_string())
        }
    })?;
    Ok(amount)
}

fn currency(code: Option<&str>) -> Result<Currency, ApiError> {
    let code = code.ok_or_else(|| ApiError::missing("currency"))?;
    Currency::from_code(code).ok_or_else(|| {
        ApiError::invalid(
            "currency_invalid",
            "currency",
            format!("`{code}` is not an ISO 4217 currency code (use upper case, e.g. EUR)"),
        )
    })
}

fn reference(r: String) -> Result<String, ApiError> {
    if r.is_empty() || r.len() > 128 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "reference",
            "`reference` must be 1 to 128 characters",
        ));
    }
    Ok(r)
}

fn capture(c: Option<&str>) -> Result<CaptureMode, ApiError> {
    match c {
        None | Some("automatic") => Ok(CaptureMode::Automatic),
        Some("manual") => Ok(CaptureMode::Manual),
        Some(other) => Err(ApiError::invalid(
            "parameter_invalid",
            "capture",
            format!("`capture` must be `automatic` or `manual`, not `{other}`"),
        )),
    }
}

fn risk_score(s: Option<i64>) -> Result<Option<u32>, ApiError> {
    match s {
        None => Ok(None),
        Some(s @ 0..=100) => Ok(Some(s as u32)),
        Some(_) => Err(ApiError::invalid(
            "parameter_invalid",
            "risk_score",
            "`risk_score` must be 0 to 100",
        )),
    }
}

fn method(pm: MethodBody) -> Result<MethodInput, ApiError> {
    let kind_s = pm
        .kind
        .as_deref()
        .ok_or_else(|| ApiError::missing("payment_method.type"))?;
    let kind = MethodKind::parse(kind_s).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            "payment_method.type",
            format!("unknown payment method type `{kind_s}` (card, apple_pay, google_pay, sepa_debit, gateway_token)"),
        )
    })?;
    match kind {
        MethodKind::Card => {
            let c = pm
                .card
                .ok_or_else(|| ApiError::missing("payment_method.card"))?;
            Ok(MethodInput::Card(card(c)?))
        }
        MethodKind::GatewayToken => Ok(MethodInput::Tokens(tokens(pm.tokens)?)),
        MethodKind::ApplePay | MethodKind::GooglePay => {
            let token = pm
                .token
                .ok_or_else(|| ApiError::missing("payment_method.token"))?;
            Ok(MethodInput::Wallet(kind, token))
        }
        MethodKind::SepaDebit => sepa(pm),
    }
}

fn sepa(pm: MethodBody) -> Result<MethodInput, ApiError> {
    let (iban, name) = match pm.sepa_debit {
        Some(s) => (s.iban, s.name),
        None => (pm.iban, pm.name),
    };
    let iban = iban.ok_or_else(|| ApiError::missing("payment_method.sepa_debit.iban"))?;
    let name = name.ok_or_else(|| ApiError::missing("payment_method.sepa_debit.name"))?;
    Ok(MethodInput::Sepa {
        iban: Sensitive(iban.expose().replace(' ', "")),
        owner_name: name,
    })
}

fn card(c: CardBody) -> Result<CardData, ApiError> {
    let number = c
        .number
        .ok_or_else(|| ApiError::missing("payment_method.card.number"))?;
    let digits: String = number.expose().chars().filter(|ch| *ch != ' ').collect();
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
    let exp_month = in_range(c.exp_month, "exp_month", 1..=12, "1 to 12")?;
    let exp_year = in_range(c.exp_year, "exp_year", 2000..=2100, "a four-digit year")?;
    if c.cvc.as_ref().is_some_and(|cvc| {
        let cvc = cvc.expose();
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
        // Both fit: in_range bounded them above.
        exp_month: exp_month as u8,
        exp_year: exp_year as u16,
        cvc: c.cvc,
        holder_name: c.holder_name,
    })
}

/// A required card integer within `range`.
fn in_range(
    v: Option<i64>,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
    rule: &str,
) -> Result<i64, ApiError> {
    let param = format!("payment_method.card.{key}");
    let v = v.ok_or_else(|| ApiError::missing(&param))?;
    if !range.contains(&v) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            &param,
            format!("`{key}` must be {rule}"),
        ));
    }
    Ok(v)
}

pub(super) fn luhn_ok(digits: &str) -> bool {
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

fn tokens(t: Option<BTreeMap<String, Sensitive>>) -> Result<BTreeMap<String, Sensitive>, ApiError> {
    let param = "payment_method.tokens";
    let t = t.ok_or_else(|| ApiError::missing(param))?;
    if t.is_empty() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            param,
            "`tokens` must name at least one gateway",
        ));
    }
    if let Some((g, _)) = t.iter().find(|(_, tok)| tok.expose().is_empty()) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            param,
            format!("token for `{g}` must be a non-empty string"),
        ));
    }
    Ok(t)
}

fn customer(c: Option<CustomerBody>) -> Result<Customer, ApiError> {
    let Some(c) = c else {
        return Ok(Customer::default());
    };
    if c.country
        .as_deref()
        .is_some_and(|cc| cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "customer.country",
            "`country` must be an ISO 3166-1 alpha-2 code in upper case",
        ));
    }
    Ok(Customer {
        id: c.id,
        email: c.email,
        country: c.country,
        ip: c.ip,
    })
}

fn metadata(
    m: Option<BTreeMap<String, String>>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let m = m.unwrap_or_default();
    if m.len() > 50 {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "metadata",
            "`metadata` holds at most 50 keys",
        ));
    }
    if let Some((k, _)) = m.iter().find(|(k, v)| k.len() > 40 || v.len() > 500) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "metadata",
            format!("metadata `{k}`: keys up to 40 characters, values strings up to 500"),
        ));
    }
    Ok(m.into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect())
}
