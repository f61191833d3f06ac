//! Stripe request parameters: the per-endpoint allowlists (from the API
//! reference's request schemas, so an unknown or misspelt parameter gets
//! Stripe's `parameter_unknown` 400) and typed readers for scalars.

use crate::currency::{self, AmountError};

use super::super::form::Form;
use super::error::StripeError;

pub(crate) const PAYMENT_METHOD_CREATE: &[&str] = &[
    "type",
    "card",
    "billing_details",
    "metadata",
    "sepa_debit",
    "customer",
    "expand",
    "payment_method",
];

pub(crate) const INTENT_CREATE: &[&str] = &[
    "amount",
    "application_fee_amount",
    "automatic_payment_methods",
    "capture_method",
    "confirm",
    "confirmation_method",
    "confirmation_token",
    "currency",
    "customer",
    "description",
    "error_on_requires_action",
    "expand",
    "mandate",
    "mandate_data",
    "metadata",
    "off_session",
    "on_behalf_of",
    "payment_method",
    "payment_method_configuration",
    "payment_method_data",
    "payment_method_options",
    "payment_method_types",
    "radar_options",
    "receipt_email",
    "return_url",
    "setup_future_usage",
    "shipping",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "transfer_data",
    "transfer_group",
    "use_stripe_sdk",
];

pub(crate) const INTENT_CONFIRM: &[&str] = &[
    "capture_method",
    "client_secret",
    "confirmation_token",
    "error_on_requires_action",
    "expand",
    "mandate",
    "mandate_data",
    "off_session",
    "payment_method",
    "payment_method_data",
    "payment_method_options",
    "payment_method_types",
    "radar_options",
    "receipt_email",
    "return_url",
    "setup_future_usage",
    "shipping",
    "use_stripe_sdk",
];

pub(crate) const INTENT_CAPTURE: &[&str] = &[
    "amount_to_capture",
    "application_fee_amount",
    "expand",
    "final_capture",
    "metadata",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "transfer_data",
];

pub(crate) const INTENT_CANCEL: &[&str] = &["cancellation_reason", "expand"];

pub(crate) const REFUND_CREATE: &[&str] = &[
    "amount",
    "charge",
    "currency",
    "expand",
    "instructions_email",
    "metadata",
    "origin",
    "payment_intent",
    "reason",
    "refund_application_fee",
    "reverse_transfer",
];

/// Refuses parameters the endpoint does not define, as Stripe does.
pub(crate) fn check_known(form: &Form, allowed: &[&str]) -> Result<(), StripeError> {
    match form.keys().find(|k| !allowed.contains(k)) {
        Some(unknown) => Err(StripeError::invalid(format!(
            "Received unknown parameter: {unknown}"
        ))
        .code("parameter_unknown")
        .param(unknown)),
        None => Ok(()),
    }
}

/// An optional integer parameter.
pub(crate) fn integer(form: &Form, name: &str) -> Result<Option<i64>, StripeError> {
    match form.str(&[name]) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StripeError::invalid_integer(name, raw)),
    }
}

/// An optional positive integer parameter (amounts).
pub(crate) fn positive(form: &Form, name: &str) -> Result<Option<i64>, StripeError> {
    match integer(form, name)? {
        Some(n) if n < 1 => Err(StripeError::invalid(
            "This value must be greater than or equal to 1.",
        )
        .code("parameter_invalid_integer")
        .param(name)),
        other => Ok(other),
    }
}

pub(crate) fn boolean(form: &Form, name: &str) -> Result<Option<bool>, StripeError> {
    match form.str(&[name]) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(raw) => Err(StripeError::invalid(format!("Invalid boolean: {raw}"))
            .code("parameter_invalid_boolean")
            .param(name)),
    }
}

/// One of `allowed`, or the default when absent.
pub(crate) fn one_of(
    form: &Form,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, StripeError> {
    match form.str(&[name]) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
        Some(v) => Err(StripeError::invalid(format!(
            "Invalid {name}: must be one of {} (got {v})",
            allowed.join(", ")
        ))
        .param(name)),
    }
}

/// The required `amount` and `currency` of a new PaymentIntent; the currency
/// comes back lower-case, as Stripe spells it.
pub(crate) fn amount_and_currency(form: &Form) -> Result<(i64, String), StripeError> {
    let amount = integer(form, "amount")?.ok_or_else(|| StripeError::missing("amount"))?;
    let raw = form
        .str(&["currency"])
        .ok_or_else(|| StripeError::missing("currency"))?;
    let rule = currency::stripe(&raw.to_ascii_uppercase()).ok_or_else(|| {
        StripeError::invalid(format!("Invalid currency: {raw}. Stripe currently supports these currencies: usd, eur, gbp, ..."))
            .param("currency")
    })?;
    rule.check(amount).map_err(|e| amount_error(e, raw))?;
    Ok((amount, raw.to_ascii_lowercase()))
}

/// Stripe's answer to an amount its currency does not allow.
fn amount_error(e: AmountError, currency: &str) -> StripeError {
    match e {
        AmountError::NotPositive => {
            StripeError::invalid("This value must be greater than or equal to 1.")
                .code("parameter_invalid_integer")
                .param("amount")
        }
        AmountError::TooLarge { max } => {
            StripeError::invalid(format!("Amount must be no more than {max}"))
                .code("amount_too_large")
                .param("amount")
        }
        // Stripe's documented code for ISK ("Deprecation of fractional ISK
        // charges"); for the three-decimal currencies Stripe names none we
        // found, so they share it.
        AmountError::NotMultiple { step } => StripeError::invalid(format!(
            "Invalid amount. Charged amounts in {} must be evenly divisible by {step}. \
             See https://stripe.com/docs/currencies#special-cases for more information.",
            currency.to_ascii_uppercase()
        ))
        .code("invalid_charge_amount_no_decimal_compatible")
        .param("amount"),
    }
}

/// Whether `expand[]` asks for the latest charge object.
pub(crate) fn expands_charge(form: &Form) -> bool {
    form.string_list("expand")
        .iter()
        .any(|e| e == "latest_charge")
}
