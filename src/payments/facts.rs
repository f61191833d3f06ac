//! What routing may know about a payment, taken from a parsed create body
//! (design §3): BIN and network instead of the card number, which is never
//! kept. Parsing and validating the body is `api::request`'s. It lives with
//! the body's types, so routing needs nothing of payments.

use super::engine::{MethodInput, NewPayment};
use crate::domain::facts::{PaymentFacts, card_network};

/// What routing sees of a parsed create body: BIN and network instead of
/// the card number. `card_fingerprint` is left to the caller who holds the
/// fingerprint key (`Engine::facts`).
pub fn payment_facts(merchant: &str, p: &NewPayment) -> PaymentFacts {
    let (bin, network) = match &p.method {
        MethodInput::Card(c) => {
            let n = c.number.expose();
            (
                Some(n.chars().take(6).collect()),
                Some(card_network(n).to_string()),
            )
        }
        _ => (None, None),
    };
    PaymentFacts {
        merchant: merchant.to_string(),
        amount: p.amount,
        currency: p.currency.code().to_string(),
        method: Some(p.method.kind()),
        country: p.customer.country.clone(),
        card_network: network,
        card_bin: bin,
        card_fingerprint: None,
        customer_id: p.customer.id.clone(),
        customer_email: p.customer.email.clone(),
        customer_ip: p.customer.ip.clone(),
        metadata: p.metadata.clone(),
        risk_score: p.risk_score,
        token_gateways: match &p.method {
            MethodInput::Tokens(t) => Some(t.keys().cloned().collect()),
            _ => None,
        },
    }
}
