//! The simulator's own currency tables: which codes each dialect accepts,
//! how many decimals its `amount` carries, and the amount rules on top.
//!
//! Written from each gateway's documentation and deliberately not shared with
//! payroute's ISO 4217 table: the gateways differ from ISO and from each other
//! (Stripe's MGA has no decimals, Adyen's CLP has two, Checkout.com's IQD
//! needs a trailing zero), so a connector that converts with the wrong
//! exponent charges 100 times too much or too little, and only a simulator
//! with the gateway's own table notices.
//!
//! Sources:
//! - ISO 4217 list one (the base every gateway starts from).
//! - Stripe, "Supported currencies" (docs.stripe.com/currencies): the
//!   zero-decimal list, the three-decimal currencies (last digit must be 0),
//!   and the special cases (ISK stays two-decimal in the API but amounts must
//!   be divisible by 100, also the support article "Deprecation of
//!   fractional ISK charges and refunds"; HUF and TWD charge with two
//!   decimals, their integer-only rules are for payouts, which the sandbox
//!   does not simulate). Amounts up to eight digits.
//! - Adyen, "Currency codes and minor units"
//!   (docs.adyen.com/development-resources/currency-codes): CLP 2, CVE 0,
//!   IDR 0 and ISK 2, "differs from standard"; BHD/JOD/KWD/OMR/TND 3.
//! - Checkout.com, "Format the amount value"
//!   (checkout.com/docs/resources/calculating-the-amount): the full amount for
//!   BIF DJF GNF ISK JPY KMF KRW PYG RWF UGX VUV VND XAF XOF XPF; divided by
//!   1000, last digit 0, for BHD IQD JOD KWD LYD OMR TND; divided by 100 for
//!   all other currencies (so CLP, CLF and MGA too); at most nine digits.

/// ISO 4217 list one, active codes: exponent 0.
const ISO_0: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
/// ISO 4217: exponent 3.
const ISO_3: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
/// ISO 4217: exponent 4.
const ISO_4: &[&str] = &["CLF", "UYW"];
/// ISO 4217: exponent 2.
const ISO_2: &[&str] = &[
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

/// Stripe's zero-decimal list (BIF ... XPF): MGA is two-decimal in ISO.
const STRIPE_0: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Stripe's three-decimal currencies; the last digit must be 0.
const STRIPE_3: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// Adyen's table where it "differs from standard".
const ADYEN_DIFFERENT: &[(&str, u8)] = &[("CLP", 2), ("CVE", 0), ("IDR", 0), ("ISK", 2)];

/// Checkout.com's "full amount" currencies.
const CHECKOUT_0: &[&str] = &[
    "BIF", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VUV", "VND", "XAF",
    "XOF", "XPF",
];
/// Checkout.com's "divided by 1000" currencies; the last digit must be 0.
const CHECKOUT_3: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// How one dialect reads an amount in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CurrencyRule {
    /// Digits after the decimal point in the dialect's `amount`.
    pub exponent: u8,
    /// The amount must be a multiple of this (Stripe's ISK: 100; the
    /// three-decimal currencies at Stripe and Checkout.com: 10).
    pub multiple_of: i64,
    /// The largest amount the dialect accepts, in its minor units.
    pub max: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AmountError {
    #[error("amount must be at least 1")]
    NotPositive,
    #[error("amount must be at most {max}")]
    TooLarge { max: i64 },
    #[error("amount must be a multiple of {step}")]
    NotMultiple { step: i64 },
}

impl CurrencyRule {
    pub fn check(&self, amount: i64) -> Result<(), AmountError> {
        if amount < 1 {
            return Err(AmountError::NotPositive);
        }
        if amount > self.max {
            return Err(AmountError::TooLarge { max: self.max });
        }
        if amount % self.multiple_of != 0 {
            return Err(AmountError::NotMultiple {
                step: self.multiple_of,
            });
        }
        Ok(())
    }
}

/// The ISO 4217 exponent of an upper-case code.
fn iso_exponent(code: &str) -> Option<u8> {
    [(ISO_2, 2u8), (ISO_0, 0), (ISO_3, 3), (ISO_4, 4)]
        .iter()
        .find(|(list, _)| list.contains(&code))
        .map(|(_, e)| *e)
}

/// Eight digits up to two decimals (Stripe documents 99999999 as its
/// largest amount); one more digit per extra decimal, so every currency
/// allows the same major-unit range. Adyen documents no maximum, so the
/// sandbox applies the same limits there.
fn scaled_max(exponent: u8) -> i64 {
    match exponent {
        0..=2 => 99_999_999,
        3 => 999_999_999,
        _ => 9_999_999_999,
    }
}

/// Stripe's rule for an upper-case code; `None` for unknown codes.
pub(crate) fn stripe(code: &str) -> Option<CurrencyRule> {
    let iso = iso_exponent(code)?;
    let (exponent, multiple_of) = if STRIPE_0.contains(&code) {
        (0, 1)
    } else if STRIPE_3.contains(&code) {
        (3, 10)
    } else if code == "ISK" {
        (2, 100)
    } else {
        (iso, 1)
    };
    Some(CurrencyRule {
        exponent,
        multiple_of,
        max: scaled_max(exponent),
    })
}

/// Adyen's rule for an upper-case code.
pub(crate) fn adyen(code: &str) -> Option<CurrencyRule> {
    let iso = iso_exponent(code)?;
    let exponent = ADYEN_DIFFERENT
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(iso, |(_, e)| *e);
    Some(CurrencyRule {
        exponent,
        multiple_of: 1,
        max: scaled_max(exponent),
    })
}

/// Checkout.com's rule for an upper-case code: at most nine digits whatever
/// the currency.
pub(crate) fn checkout(code: &str) -> Option<CurrencyRule> {
    iso_exponent(code)?;
    let (exponent, multiple_of) = if CHECKOUT_0.contains(&code) {
        (0, 1)
    } else if CHECKOUT_3.contains(&code) {
        (3, 10)
    } else {
        (2, 1)
    };
    Some(CurrencyRule {
        exponent,
        multiple_of,
        max: 999_999_999,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exponents(rule: fn(&str) -> Option<CurrencyRule>, code: &str) -> u8 {
        rule(code).unwrap().exponent
    }

    #[test]
    fn common_currencies_agree_everywhere() {
        for code in ["EUR", "USD", "GBP"] {
            assert_eq!(exponents(stripe, code), 2);
            assert_eq!(exponents(adyen, code), 2);
            assert_eq!(exponents(checkout, code), 2);
        }
        for rule in [stripe, adyen, checkout] {
            assert_eq!(exponents(rule, "JPY"), 0);
            assert_eq!(exponents(rule, "KWD"), 3);
            assert!(rule("XYZ").is_none(), "unknown codes are refused");
            assert!(rule("eur").is_none(), "callers upper-case first");
        }
    }

    /// Stripe, "Supported currencies": MGA is zero-decimal (ISO: 2), ISK
    /// stays two-decimal in the API (ISO: 0) with amounts divisible by 100.
    #[test]
    fn stripe_differs_from_iso_for_mga_and_isk() {
        assert_eq!(exponents(stripe, "MGA"), 0);
        assert_eq!(exponents(stripe, "UGX"), 0);
        assert_eq!(exponents(stripe, "CLP"), 0);
        let isk = stripe("ISK").unwrap();
        assert_eq!(isk.exponent, 2);
        assert_eq!(isk.check(500), Ok(()), "5 krónur");
        assert_eq!(isk.check(510), Err(AmountError::NotMultiple { step: 100 }));
        assert_eq!(exponents(stripe, "HUF"), 2);
        assert_eq!(exponents(stripe, "TWD"), 2);
    }

    /// Stripe: three-decimal amounts must end in 0 (5.124 KWD → 5120).
    #[test]
    fn stripe_three_decimal_amounts_end_in_zero() {
        let kwd = stripe("KWD").unwrap();
        assert_eq!(kwd.check(5120), Ok(()));
        assert_eq!(kwd.check(5124), Err(AmountError::NotMultiple { step: 10 }));
        assert_eq!(
            stripe("IQD").unwrap().multiple_of,
            1,
            "not in Stripe's list"
        );
    }

    /// Adyen, "Currency codes and minor units": CLP 2, CVE 0, IDR 0, ISK 2,
    /// each marked "differs from standard".
    #[test]
    fn adyen_differs_from_iso_for_clp_cve_idr_isk() {
        assert_eq!(exponents(adyen, "CLP"), 2);
        assert_eq!(exponents(adyen, "CVE"), 0);
        assert_eq!(exponents(adyen, "IDR"), 0);
        assert_eq!(exponents(adyen, "ISK"), 2);
        assert_eq!(exponents(adyen, "MGA"), 2, "ISO, unlike Stripe");
        assert_eq!(exponents(adyen, "BHD"), 3);
    }

    /// Checkout.com, "Format the amount value": CLP and CLF fall under "all
    /// other currencies" (divided by 100); the dinars need a trailing 0;
    /// nine digits at most.
    #[test]
    fn checkout_differs_from_iso_for_clp_clf_and_trailing_zeros() {
        assert_eq!(exponents(checkout, "CLP"), 2);
        assert_eq!(exponents(checkout, "CLF"), 2);
        assert_eq!(exponents(checkout, "ISK"), 0);
        assert_eq!(exponents(checkout, "MGA"), 2);
        let bhd = checkout("BHD").unwrap();
        assert_eq!(bhd.check(100_000), Ok(()), "100 BHD");
        assert_eq!(bhd.check(1001), Err(AmountError::NotMultiple { step: 10 }));
        assert_eq!(checkout("IQD").unwrap().multiple_of, 10);
        let eur = checkout("EUR").unwrap();
        assert_eq!(eur.check(999_999_999), Ok(()));
        assert_eq!(
            eur.check(1_000_000_000),
            Err(AmountError::TooLarge { max: 999_999_999 })
        );
    }

    #[test]
    fn amounts_must_be_positive() {
        let eur = stripe("EUR").unwrap();
        assert_eq!(eur.check(0), Err(AmountError::NotPositive));
        assert_eq!(eur.check(-1), Err(AmountError::NotPositive));
        assert_eq!(eur.check(99_999_999), Ok(()));
        assert!(matches!(
            eur.check(100_000_000),
            Err(AmountError::TooLarge { .. })
        ));
    }
}
