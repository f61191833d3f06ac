//! The one conversion between payroute's ISO 4217 minor units and a
//! gateway's integer `amount`, whose scale each gateway fixes per currency
//! (its own table lives in its folder). Shifting by the difference of the two
//! exponents is the only arithmetic; refusing what the gateway cannot
//! represent happens here, before anything is sent.

use crate::domain::money::Currency;

/// Why an ISO amount has no exact gateway amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{amount} {currency} has more precision than the gateway takes")]
    TooPrecise { amount: i64, currency: String },
    #[error("{amount} {currency} overflows in the gateway's scale")]
    Overflow { amount: i64, currency: String },
}

/// Gateway exponent minus ISO's; 0 for a code payroute does not know (it
/// validated the currency before any call, so only tests reach that).
fn shift(currency: &str, gateway_exponent: fn(&str) -> Option<u8>) -> i32 {
    let code = currency.to_ascii_uppercase();
    match Currency::from_code(&code) {
        Some(c) => {
            let iso = c.exponent();
            i32::from(gateway_exponent(&code).unwrap_or(iso)) - i32::from(iso)
        }
        None => 0,
    }
}

/// ISO minor units → the gateway's `amount`. `gateway_exponent` answers the
/// gateway's decimals for an upper-case code, `None` where it follows ISO.
pub fn to_gateway(
    amount: i64,
    currency: &str,
    gateway_exponent: fn(&str) -> Option<u8>,
) -> Result<i64, AmountError> {
    let shift = shift(currency, gateway_exponent);
    let factor = 10_i64.pow(shift.unsigned_abs());
    if shift >= 0 {
        amount.checked_mul(factor).ok_or(AmountError::Overflow {
            amount,
            currency: currency.to_string(),
        })
    } else if amount % factor == 0 {
        Ok(amount / factor)
    } else {
        Err(AmountError::TooPrecise {
            amount,
            currency: currency.to_string(),
        })
    }
}

/// The gateway's `amount` → ISO minor units; `None` when it holds a fraction
/// of an ISO minor unit or overflows (never for an amount payroute sent).
pub fn from_gateway(
    amount: i64,
    currency: &str,
    gateway_exponent: fn(&str) -> Option<u8>,
) -> Option<i64> {
    let shift = shift(currency, gateway_exponent);
    let factor = 10_i64.pow(shift.unsigned_abs());
    if shift >= 0 {
        (amount % factor == 0).then(|| amount / factor)
    } else {
        amount.checked_mul(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_for_clp_zero_for_eur(code: &str) -> Option<u8> {
        match code {
            "CLP" => Some(2),
            "EUR" => Some(0),
            _ => None,
        }
    }

    #[test]
    fn a_coarser_or_finer_gateway_scale_shifts_both_ways() {
        let g = two_for_clp_zero_for_eur;
        assert_eq!(to_gateway(5000, "clp", g), Ok(500_000));
        assert_eq!(from_gateway(500_000, "CLP", g), Some(5000));
        assert_eq!(to_gateway(1200, "EUR", g), Ok(12));
        assert_eq!(from_gateway(12, "EUR", g), Some(1200));
        assert_eq!(to_gateway(1999, "USD", g), Ok(1999), "ISO scale");
    }

    #[test]
    fn unrepresentable_amounts_are_refused() {
        let g = two_for_clp_zero_for_eur;
        assert!(matches!(
            to_gateway(1250, "EUR", g),
            Err(AmountError::TooPrecise { amount: 1250, .. })
        ));
        assert!(matches!(
            to_gateway(i64::MAX, "CLP", g),
            Err(AmountError::Overflow { .. })
        ));
        assert_eq!(from_gateway(150, "CLP", g), None, "a fraction of a peso");
        assert_eq!(from_gateway(i64::MAX, "EUR", g), None);
    }
}
