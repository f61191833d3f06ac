//! What routing and risk may know about a payment ([`PaymentFacts`]: never
//! the card number itself), the method kinds of the merchant API, and card
//! networks as rule files name them. The facts are built from a parsed
//! create body by `payments::facts`, which holds the body's types.

use serde::Serialize;

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

/// Payment method types of the merchant API (design §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Card,
    ApplePay,
    GooglePay,
    SepaDebit,
    GatewayToken,
}

impl MethodKind {
    pub fn parse(s: &str) -> Option<MethodKind> {
        match s {
            "card" => Some(MethodKind::Card),
            "apple_pay" => Some(MethodKind::ApplePay),
            "google_pay" => Some(MethodKind::GooglePay),
            "sepa_debit" => Some(MethodKind::SepaDebit),
            "gateway_token" => Some(MethodKind::GatewayToken),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Card => "card",
            MethodKind::ApplePay => "apple_pay",
            MethodKind::GooglePay => "google_pay",
            MethodKind::SepaDebit => "sepa_debit",
            MethodKind::GatewayToken => "gateway_token",
        }
    }
}

/// What routing may look at: never the card number itself.
#[derive(Debug, Clone, Default)]
pub struct PaymentFacts {
    pub merchant: String,
    pub amount: i64,
    pub currency: String,
    pub method: Option<MethodKind>,
    pub country: Option<String>,
    /// `visa`, `mastercard`, `amex`, ...
    pub card_network: Option<String>,
    /// First six (or eight) digits.
    pub card_bin: Option<String>,
    /// Keyed fingerprint of the card, for velocity signals.
    pub card_fingerprint: Option<String>,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub customer_ip: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The merchant's own risk score (0–100), if sent.
    pub risk_score: Option<u32>,
    /// For `gateway_token`: the gateway ids that have a token; routing may
    /// only choose these.
    pub token_gateways: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
