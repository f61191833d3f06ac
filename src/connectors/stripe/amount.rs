//! Stripe's amount scale ("Supported currencies"): ISO 4217's, except the
//! zero-decimal currencies (whole units: MGA, ISO two decimals, among them),
//! ISK, which Stripe keeps two-decimal (ISO: none) with amounts divisible by
//! 100, and the three-decimal currencies (BHD JOD KWD OMR TND), whose last
//! digit must be 0. payroute keeps ISO minor units; the shared converter
//! shifts at the wire, both ways.

use super::StripeError;
use crate::connectors::amount::{AmountError, from_gateway, to_gateway};

const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// Stripe's decimals for an upper-case code where they may differ from ISO.
fn stripe_exponent(code: &str) -> Option<u8> {
    if ZERO_DECIMAL.contains(&code) {
        Some(0)
    } else if THREE_DECIMAL.contains(&code) {
        Some(3)
    } else if code == "ISK" {
        Some(2)
    } else {
        None
    }
}

/// payroute's ISO minor units → Stripe's `amount`; refused (before anything
/// is sent) when Stripe cannot take it exactly, including a three-decimal
/// amount whose last digit is not 0.
pub fn to_stripe(amount: i64, currency: &str) -> Result<i64, StripeError> {
    let value = to_gateway(amount, currency, stripe_exponent)?;
    let code = currency.to_ascii_uppercase();
    if THREE_DECIMAL.contains(&code.as_str()) && value % 10 != 0 {
        return Err(AmountError::TooPrecise {
            amount,
            currency: currency.to_string(),
        }
        .into());
    }
    Ok(value)
}

/// Stripe's `amount` → ISO minor units; `None` for a fraction of one.
pub fn from_stripe(amount: i64, currency: &str) -> Option<i64> {
    from_gateway(amount, currency, stripe_exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mga_travels_in_whole_ariary_and_cents_are_refused() {
        assert_eq!(to_stripe(150_000, "MGA").unwrap(), 1500);
        assert_eq!(to_stripe(150_000, "mga").unwrap(), 1500);
        assert_eq!(from_stripe(1500, "MGA"), Some(150_000));
        assert!(matches!(
            to_stripe(150_050, "MGA"),
            Err(StripeError::Amount(_))
        ));
    }

    #[test]
    fn isk_travels_in_hundredths() {
        assert_eq!(to_stripe(500, "ISK").unwrap(), 50_000);
        assert_eq!(from_stripe(50_000, "ISK"), Some(500));
        assert_eq!(from_stripe(50_050, "ISK"), None, "no fraction of a króna");
    }

    #[test]
    fn three_decimal_amounts_must_end_in_zero() {
        assert_eq!(to_stripe(5120, "KWD").unwrap(), 5120);
        assert!(matches!(
            to_stripe(5124, "KWD"),
            Err(StripeError::Amount(_))
        ));
    }

    #[test]
    fn currencies_stripe_scales_as_iso_pass_through() {
        for (amount, code) in [(1999, "EUR"), (500, "JPY"), (5000, "CLP"), (1234, "HUF")] {
            assert_eq!(to_stripe(amount, code).unwrap(), amount, "{code}");
            assert_eq!(from_stripe(amount, code), Some(amount), "{code}");
        }
    }
}
