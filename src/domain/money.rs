//! Money: ISO 4217 currencies with their minor-unit exponents, and amount
//! validation. Amounts are always integer minor units; there is no float
//! anywhere on the money path.

use std::fmt;

/// An active ISO 4217 currency, known to payroute with its exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

/// Currencies whose minor unit is not the common 1/100.
/// Source: ISO 4217 list one (SIX), active codes only.
const EXPONENT_0: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const EXPONENT_3: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
const EXPONENT_4: &[&str] = &["CLF", "UYW"];
const EXPONENT_2: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
    "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
    "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU",
    "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
];

impl Currency {
    /// Looks up an upper-case ISO 4217 code. Lower-case is refused on purpose:
    /// the API promises upper-case codes and a silent fix-up hides client bugs.
    pub fn from_code(code: &str) -> Option<Currency> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        let exponent = [
            (EXPONENT_2, 2u8),
            (EXPONENT_0, 0),
            (EXPONENT_3, 3),
            (EXPONENT_4, 4),
        ]
        .iter()
        .find(|(list, _)| list.contains(&code))
        .map(|(_, e)| *e)?;
        Some(Currency {
            code: bytes,
            exponent,
        })
    }

    pub fn code(&self) -> &str {
        // Invariant: built only from the ASCII tables above.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Digits after the decimal point (JPY 0, EUR 2, KWD 3).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// The largest amount payroute accepts, in minor units: 999,999.99 in
    /// major-unit terms for two-decimal currencies (the gateways' common
    /// eight-digit limit), scaled so every currency allows the same number of
    /// major units' digits.
    pub fn max_amount(&self) -> i64 {
        match self.exponent {
            0..=2 => 99_999_999,
            3 => 999_999_999,
            _ => 9_999_999_999,
        }
    }

    /// Checks an amount in minor units against this currency's limits.
    pub fn check_amount(&self, amount: i64) -> Result<(), AmountError> {
        if amount <= 0 {
            return Err(AmountError::NotPositive);
        }
        if amount > self.max_amount() {
            return Err(AmountError::TooLarge {
                max: self.max_amount(),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("amount must be a positive integer in the currency's minor unit")]
    NotPositive,
    #[error("amount exceeds the currency's limit of {max} minor units")]
    TooLarge { max: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::from_code("EUR").unwrap().exponent(), 2);
        assert_eq!(Currency::from_code("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::from_code("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::from_code("CLF").unwrap().exponent(), 4);
    }

    #[test]
    fn unknown_and_lowercase_codes_are_refused() {
        assert!(Currency::from_code("XYZ").is_none());
        assert!(Currency::from_code("eur").is_none());
        assert!(Currency::from_code("EURO").is_none());
        assert!(
            Currency::from_code("XAU").is_none(),
            "metals have no minor unit"
        );
    }

    #[test]
    fn amounts_must_be_positive_and_bounded() {
        let eur = Currency::from_code("EUR").unwrap();
        assert_eq!(eur.check_amount(0), Err(AmountError::NotPositive));
        assert_eq!(eur.check_amount(-5), Err(AmountError::NotPositive));
        assert!(eur.check_amount(1).is_ok());
        assert!(eur.check_amount(99_999_999).is_ok());
        assert!(matches!(
            eur.check_amount(100_000_000),
            Err(AmountError::TooLarge { .. })
        ));
    }
}
