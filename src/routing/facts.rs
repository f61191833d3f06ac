//! What routing may know about a payment, extracted from a create-payment
//! body (design §3): BIN and network instead of the card number, which is
//! never kept.

use serde_json::{Map, Value};

use super::{MethodKind, PaymentFacts};
use crate::payments::money::Currency;

/// Every value [`card_network`] can return; rule files may only name these.
pub const CARD_NETWORKS: &[&str] = &[
    "visa",
    "mastercard",
    "amex",
    "discover",
    "jcb",
    "unionpay",
    "unknown",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct FactsError {
    /// The offending field, dotted (`payment_method.card.number`).
    pub param: String,
    pub message: String,
}

fn invalid(param: &str, message: impl Into<String>) -> FactsError {
    FactsError {
        param: param.to_string(),
        message: message.into(),
    }
}

/// The card network from the leading digits of a PAN or BIN.
pub fn card_network(number_or_bin: &str) -> &'static str {
    let digits: String = number_or_bin
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    let in_range = |n: usize, lo: u32, hi: u32| prefix(n).is_some_and(|p| (lo..=hi).contains(&p));
    if digits.starts_with('4') {
        "visa"
    } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
        "mastercard"
    } else if in_range(2, 34, 34) || in_range(2, 37, 37) {
        "amex"
    } else if in_range(4, 6011, 6011) || in_range(2, 65, 65) {
        "discover"
    } else if in_range(4, 3528, 3589) {
        "jcb"
    } else if in_range(2, 62, 62) {
        "unionpay"
    } else {
        "unknown"
    }
}

fn opt_str(
    obj: Option<&Map<String, Value>>,
    key: &str,
    param: &str,
) -> Result<Option<String>, FactsError> {
    match obj.and_then(|o| o.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(param, "must be a string")),
    }
}

fn opt_object<'v>(
    v: &'v Value,
    key: &str,
    param: &str,
) -> Result<Option<&'v Map<String, Value>>, FactsError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(invalid(param, "must be an object")),
    }
}

/// Builds [`PaymentFacts`] from a create-payment body. The card number is
/// read only to derive BIN and network; `card_fingerprint` is left for the
/// caller, who holds the fingerprint key.
pub fn facts_from_json(merchant: &str, v: &Value) -> Result<PaymentFacts, FactsError> {
    if !v.is_object() {
        return Err(invalid("body", "must be a JSON object"));
    }
    let amount = v
        .get("amount")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("amount", "must be an integer in the currency's minor unit"))?;
    let currency = v
        .get("currency")
        .and_then(Value::as_str)
        .filter(|c| Currency::from_code(c).is_some())
        .ok_or_else(|| invalid("currency", "must be an upper-case ISO 4217 code"))?;
    let mut facts = PaymentFacts {
        merchant: merchant.to_string(),
        amount,
        currency: currency.to_string(),
        ..PaymentFacts::default()
    };
    fill_method(&mut facts, v)?;
    fill_customer(&mut facts, v)?;
    facts.risk_score = match v.get("risk_score") {
        None | Some(Value::Null) => None,
        Some(s) => Some(
            s.as_u64()
                .filter(|n| *n <= 100)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("risk_score", "must be an integer 0..=100"))?,
        ),
    };
    facts.metadata = opt_object(v, "metadata", "metadata")?
        .cloned()
        .unwrap_or_default();
    Ok(facts)
}

fn fill_method(facts: &mut PaymentFacts, v: &Value) -> Result<(), FactsError> {
    let Some(pm) = opt_object(v, "payment_method", "payment_method")? else {
        return Err(invalid("payment_method", "is required"));
    };
    let kind = pm
        .get("type")
        .and_then(Value::as_str)
        .and_then(MethodKind::parse)
        .ok_or_else(|| {
            invalid(
                "payment_method.type",
                "must be one of card, apple_pay, google_pay, sepa_debit, gateway_token",
            )
        })?;
    facts.method = Some(kind);
    match kind {
        MethodKind::Card => fill_card(facts, pm),
        MethodKind::GatewayToken => {
            let tokens = match pm.get("tokens") {
                Some(Value::Object(t)) if !t.is_empty() => t,
                _ => {
                    return Err(invalid(
                        "payment_method.tokens",
                        "must map gateway ids to tokens",
                    ));
                }
            };
            facts.token_gateways = Some(tokens.keys().cloned().collect());
            Ok(())
        }
        _ => Ok(()),
    }
}

fn fill_card(facts: &mut PaymentFacts, pm: &Map<String, Value>) -> Result<(), FactsError> {
    let card = match pm.get("card") {
        Some(Value::Object(c)) => c,
        _ => return Err(invalid("payment_method.card", "is required for type card")),
    };
    let param = "payment_method.card.number";
    let number = card
        .get("number")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(param, "is required"))?;
    // Spaces and dashes are how people type card numbers; anything else is a
    // client bug worth reporting.
    if !number
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return Err(invalid(param, "must contain only digits"));
    }
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if !(12..=19).contains(&digits) {
        return Err(invalid(param, "must be 12 to 19 digits"));
    }
    let bin: String = number
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    facts.card_network = Some(card_network(&bin).to_string());
    facts.card_bin = Some(bin);
    Ok(())
}

fn fill_customer(facts: &mut PaymentFacts, v: &Value) -> Result<(), FactsError> {
    let c = opt_object(v, "customer", "customer")?;
    facts.customer_id = opt_str(c, "id", "customer.id")?;
    facts.customer_email = opt_str(c, "email", "customer.email")?;
    facts.country = opt_str(c, "country", "customer.country")?;
    facts.customer_ip = opt_str(c, "ip", "customer.ip")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn card_network_follows_iin_ranges() {
        let cases = [
            ("4242424242424242", "visa"),
            ("5105105105105100", "mastercard"),
            ("5555", "mastercard"),
            ("2221000000000009", "mastercard"),
            ("2720999999999996", "mastercard"),
            ("2721000000000000", "unknown"),
            ("2220999999999999", "unknown"),
            ("378282246310005", "amex"),
            ("341111", "amex"),
            ("6011111111111117", "discover"),
            ("6500000000000002", "discover"),
            ("3528000000000000", "jcb"),
            ("3589999999999999", "jcb"),
            ("3590000000000000", "unknown"),
            ("6200000000000005", "unionpay"),
            ("5000000000000000", "unknown"),
            ("", "unknown"),
        ];
        for (n, want) in cases {
            assert_eq!(card_network(n), want, "{n}");
            assert!(CARD_NETWORKS.contains(&want));
        }
    }

    #[test]
    fn full_body_fills_every_fact_and_drops_the_pan() {
        let body = json!({
            "amount": 1999, "currency": "EUR", "reference": "order-1",
            "payment_method": {"type": "card", "card": {"number": "4242 4242 4242 4242",
                "exp_month": 12, "exp_year": 2030, "cvc": "123"}},
            "customer": {"id": "cus_1", "email": "a@example.com", "country": "DE", "ip": "203.0.113.7"},
            "risk_score": 12,
            "metadata": {"cart": "abc"}
        });
        let f = facts_from_json("acme", &body).unwrap();
        assert_eq!(f.merchant, "acme");
        assert_eq!((f.amount, f.currency.as_str()), (1999, "EUR"));
        assert_eq!(f.method, Some(MethodKind::Card));
        assert_eq!(f.card_bin.as_deref(), Some("424242"));
        assert_eq!(f.card_network.as_deref(), Some("visa"));
        assert_eq!(f.card_fingerprint, None);
        assert_eq!(f.customer_id.as_deref(), Some("cus_1"));
        assert_eq!(f.customer_email.as_deref(), Some("a@example.com"));
        assert_eq!(f.country.as_deref(), Some("DE"));
        assert_eq!(f.customer_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(f.risk_score, Some(12));
        assert_eq!(f.metadata.get("cart"), Some(&json!("abc")));
        assert!(!format!("{f:?}").contains("4242424242424242"));
        assert!(!format!("{f:?}").contains("4242 4242 4242 4242"));
    }

    #[test]
    fn gateway_token_lists_the_gateways_holding_a_token() {
        let body = json!({"amount": 5, "currency": "USD",
            "payment_method": {"type": "gateway_token", "tokens": {"stripe_main": "pm_1", "adyen_eu": "x"}}});
        let f = facts_from_json("m", &body).unwrap();
        let mut gw = f.token_gateways.unwrap();
        gw.sort();
        assert_eq!(gw, vec!["adyen_eu", "stripe_main"]);
    }

    #[test]
    fn bad_fields_name_their_param() {
        let cases = [
            (
                json!({"currency": "EUR", "payment_method": {"type": "card"}}),
                "amount",
            ),
            (json!({"amount": 1.5, "currency": "EUR"}), "amount"),
            (json!({"amount": 1, "currency": "eur"}), "currency"),
            (json!({"amount": 1, "currency": "EUR"}), "payment_method"),
            (
                json!({"amount": 1, "currency": "EUR", "payment_method": {"type": "cash"}}),
                "payment_method.type",
            ),
            (
                json!({"amount": 1, "currency": "EUR", "payment_method": {"type": "card", "card": {"number": "4242x"}}}),
                "payment_method.card.number",
            ),
            (
                json!({"amount": 1, "currency": "EUR", "payment_method": {"type": "gateway_token", "tokens": {}}}),
                "payment_method.tokens",
            ),
            (
                json!({"amount": 1, "currency": "EUR", "payment_method": {"type": "apple_pay"}, "risk_score": 101}),
                "risk_score",
            ),
            (
                json!({"amount": 1, "currency": "EUR", "payment_method": {"type": "apple_pay"}, "customer": {"email": 5}}),
                "customer.email",
            ),
        ];
        for (body, param) in cases {
            let err = facts_from_json("m", &body).unwrap_err();
            assert_eq!(err.param, param, "{body}");
        }
    }
}
