//! Fuzzes the merchant request parsers: the create-payment body and the
//! routing-explain body. Byte 0 picks the endpoint; the rest is the raw HTTP
//! body. Every refusal must be a 4xx with a code and a message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use payroute::api::error::ApiError;
use payroute::api::request;
use payroute::payments::NewPayment;
use payroute::domain::facts::PaymentFacts;

/// What a merchant request parses into.
enum Parsed {
    Create(NewPayment),
    Explain(PaymentFacts),
}

/// The one place that calls the merchant request parsers, as the API does.
fn parse_request(create: bool, merchant: &str, body: &[u8]) -> Result<Parsed, ApiError> {
    if create {
        request::parse_create(body).map(Parsed::Create)
    } else {
        request::parse_explain(merchant, body).map(Parsed::Explain)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match parse_request(mode & 1 == 0, "demo", body) {
        Ok(Parsed::Create(p)) => {
            assert!(p.amount > 0, "accepted amount {}", p.amount);
            assert!((1..=128).contains(&p.reference.len()));
            assert!(p.risk_score.is_none_or(|s| s <= 100));
        }
        Ok(Parsed::Explain(f)) => {
            assert_eq!(f.merchant, "demo");
            assert!(f.risk_score.is_none_or(|s| s <= 100));
        }
        Err(e) => {
            assert!(e.status.is_client_error(), "status {} for {e:?}", e.status);
            assert!(!e.code.is_empty() && !e.message.trim().is_empty(), "{e:?}");
        }
    }
});
