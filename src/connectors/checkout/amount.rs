//! Checkout.com's amount format ("Format the amount value"): an integer
//! whose scale Checkout.com fixes per currency, which is not always ISO
//! 4217's. The full amount for BIF, DJF, GNF, ISK, JPY, KMF, KRW, PYG, RWF,
//! UGX, VUV, VND, XAF, XOF and XPF; thousandths (last digit 0) for BHD, IQD,
//! JOD, KWD, LYD, OMR and TND; hundredths for every other currency. So CLP
//! (ISO: no decimals) travels in hundredths, and CLF (ISO: four) too.
//! payroute keeps ISO minor units; this module converts at the wire, both
//! ways.

use super::CheckoutError;
use crate::connectors::amount::{from_gateway, to_gateway};

const FULL_AMOUNT: &[&str] = &[
    "BIF", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VUV", "VND", "XAF",
    "XOF", "XPF",
];
const THOUSANDTHS: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// Digits after the decimal point in Checkout.com's `amount` for an
/// upper-case `code`: every currency has one.
fn checkout_exponent(code: &str) -> Option<u8> {
    Some(if FULL_AMOUNT.contains(&code) {
        0
    } else if THOUSANDTHS.contains(&code) {
        3
    } else {
        2
    })
}

/// payroute's ISO minor units → Checkout.com's `amount`. Refused when the
/// amount has more precision than Checkout.com takes (CLF below a
/// hundredth) or overflows.
pub fn to_checkout(amount: i64, currency: &str) -> Result<i64, CheckoutError> {
    to_gateway(amount, currency, checkout_exponent).map_err(|_| CheckoutError::Amount {
        amount,
        currency: currency.to_string(),
    })
}

/// Checkout.com's `amount` → payroute's ISO minor units; `None` when it has
/// a fraction of an ISO minor unit (never for an amount payroute sent).
pub fn from_checkout(amount: i64, currency: &str) -> Option<i64> {
    from_gateway(amount, currency, checkout_exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_scaled_as_iso_pass_through_unchanged() {
        for (amount, code) in [(1999, "EUR"), (500, "JPY"), (1000, "ISK"), (12_340, "KWD")] {
            assert_eq!(to_checkout(amount, code).unwrap(), amount, "{code}");
            assert_eq!(from_checkout(amount, code), Some(amount), "{code}");
        }
    }

    #[test]
    fn clp_travels_in_hundredths_and_comes_back_in_pesos() {
        assert_eq!(to_checkout(5000, "CLP").unwrap(), 500_000);
        assert_eq!(to_checkout(5000, "clp").unwrap(), 500_000);
        assert_eq!(from_checkout(500_000, "CLP"), Some(5000));
        assert_eq!(from_checkout(150, "CLP"), None, "no fraction of a peso");
    }

    #[test]
    fn clf_travels_in_hundredths_and_finer_amounts_are_refused() {
        assert_eq!(to_checkout(12_300, "CLF").unwrap(), 123);
        assert_eq!(from_checkout(123, "CLF"), Some(12_300));
        assert!(matches!(
            to_checkout(12_345, "CLF"),
            Err(CheckoutError::Amount { amount: 12_345, .. })
        ));
    }

    #[test]
    fn an_overflowing_conversion_is_refused() {
        assert!(to_checkout(i64::MAX, "CLP").is_err());
    }
}
