//! Merchant request bodies, from bytes to domain inputs: the typed body
//! structs (`wire`), the strict reader that fills them (`strict`), and the
//! rules they must meet (`validate`). Every refusal is a 400 naming the
//! offending `param`; nothing is stored before a body has passed.
//!
//! The `parse_*` functions are the whole path for one body and need no
//! server, for fuzz targets, property tests and the `rules explain` CLI.

mod strict;
mod validate;
mod wire;

#[cfg(test)]
mod tests;

pub use strict::{BodyError, MAX_DEPTH};
pub use validate::{RefundInput, checked_amount};
pub use wire::{
    CancelBody, CaptureBody, CardBody, CreateBody, CustomerBody, MethodBody, RefundBody, SepaBody,
};

use super::error::ApiError;
use crate::domain::facts::PaymentFacts;
use crate::domain::money::Currency;
use crate::payments::engine::NewPayment;

/// `POST /v1/payments`: the payment a body asks for.
pub fn parse_create(body: &[u8]) -> Result<NewPayment, ApiError> {
    CreateBody::parse(body)?.into_payment()
}

/// `POST /v1/routing/explain`: what routing sees of a create body, checked
/// exactly as create checks it except that `reference` may be left out.
/// `card_fingerprint` stays empty: it needs the server's key.
pub fn parse_explain(merchant: &str, body: &[u8]) -> Result<PaymentFacts, ApiError> {
    let payment = CreateBody::parse(body)?.into_explained()?;
    Ok(crate::payments::payment_facts(merchant, &payment))
}

/// `POST /v1/payments/{id}/capture` on a payment in `currency`: the amount
/// to capture, `None` for all of it.
pub fn parse_capture(body: &[u8], currency: Currency) -> Result<Option<i64>, ApiError> {
    CaptureBody::parse(body)?.into_amount(currency)
}

/// `POST /v1/payments/{id}/cancel`: the optional `reason`.
pub fn parse_cancel(body: &[u8]) -> Result<Option<String>, ApiError> {
    Ok(CancelBody::parse(body)?.reason)
}

/// `POST /v1/payments/{id}/refunds` on a payment in `currency`.
pub fn parse_refund(body: &[u8], currency: Currency) -> Result<RefundInput, ApiError> {
    RefundBody::parse(body)?.into_refund(currency)
}
