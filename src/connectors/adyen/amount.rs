//! Adyen's amount scale ("Currency codes and minor units"): ISO 4217's,
//! except where Adyen marks a currency "differs from standard": CLP and ISK
//! carry two decimals (ISO: none), CVE and IDR none (ISO: two). payroute
//! keeps ISO minor units; the shared converter shifts at the wire, both ways.

use super::AdyenError;
use crate::connectors::amount::{from_gateway, to_gateway};

/// Adyen's decimals for an upper-case code where they differ from ISO.
fn adyen_exponent(code: &str) -> Option<u8> {
    match code {
        "CLP" | "ISK" => Some(2),
        "CVE" | "IDR" => Some(0),
        _ => None,
    }
}

/// payroute's ISO minor units → Adyen's `amount.value`; refused (before
/// anything is sent) when Adyen's scale cannot hold it exactly.
pub fn to_adyen(amount: i64, currency: &str) -> Result<i64, AdyenError> {
    Ok(to_gateway(amount, currency, adyen_exponent)?)
}

/// Adyen's `amount.value` → ISO minor units; `None` for a fraction of one.
pub fn from_adyen(amount: i64, currency: &str) -> Option<i64> {
    from_gateway(amount, currency, adyen_exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clp_and_isk_travel_in_hundredths() {
        assert_eq!(to_adyen(5000, "CLP").unwrap(), 500_000);
        assert_eq!(from_adyen(500_000, "CLP"), Some(5000));
        assert_eq!(to_adyen(1000, "isk").unwrap(), 100_000);
        assert_eq!(from_adyen(100_000, "ISK"), Some(1000));
        assert_eq!(from_adyen(150, "CLP"), None);
    }

    #[test]
    fn idr_and_cve_travel_in_whole_units_and_cents_are_refused() {
        assert_eq!(to_adyen(1_500_000, "IDR").unwrap(), 15_000);
        assert_eq!(from_adyen(15_000, "IDR"), Some(1_500_000));
        assert_eq!(to_adyen(2500, "CVE").unwrap(), 25);
        assert!(matches!(to_adyen(2550, "CVE"), Err(AdyenError::Amount(_))));
    }

    #[test]
    fn currencies_adyen_scales_as_iso_pass_through() {
        for (amount, code) in [(1999, "EUR"), (500, "JPY"), (12_345, "KWD"), (700, "MGA")] {
            assert_eq!(to_adyen(amount, code).unwrap(), amount, "{code}");
            assert_eq!(from_adyen(amount, code), Some(amount), "{code}");
        }
    }
}
