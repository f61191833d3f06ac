//! Test cards and their scripted outcomes, shared by both dialects (the
//! outcome is a property of the card, not of the wire format), plus the
//! redacting wrapper that keeps card numbers out of logs.

use std::fmt;

/// A card number held in memory only; `Debug` shows the last four digits.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CardNumber(String);

impl CardNumber {
    /// Digits only; spaces are tolerated as issuers print them.
    pub fn parse(raw: &str) -> Option<CardNumber> {
        let digits: String = raw.chars().filter(|c| *c != ' ').collect();
        let ok = (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then_some(CardNumber(digits))
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }

    pub fn luhn_valid(&self) -> bool {
        let sum: u32 = self
            .0
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 {
                    let doubled = d * 2;
                    if doubled > 9 { doubled - 9 } else { doubled }
                } else {
                    d
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    /// Brand by IIN prefix, in Stripe's lowercase spelling.
    pub fn brand(&self) -> &'static str {
        let n = &self.0;
        let two: u32 = n[..2].parse().unwrap_or(0);
        let four: u32 = n[..4].parse().unwrap_or(0);
        if n.starts_with('4') {
            "visa"
        } else if (51..=55).contains(&two) || (2221..=2720).contains(&four) {
            "mastercard"
        } else if two == 34 || two == 37 {
            "amex"
        } else if n.starts_with("6011") || n.starts_with("65") {
            "discover"
        } else {
            "unknown"
        }
    }

    /// Adyen's `paymentMethod` variant in notifications.
    pub fn adyen_variant(&self) -> &'static str {
        match self.brand() {
            "mastercard" => "mc",
            "unknown" => "card",
            brand => brand,
        }
    }

    /// The dispute test card: approves, then is disputed once captured.
    pub fn disputes(&self) -> bool {
        self.0 == "4000000000000259"
    }

    /// The scripted outcome of charging this card.
    pub fn outcome(&self) -> CardOutcome {
        match self.0.as_str() {
            "4000000000000002" => CardOutcome::Decline(DeclineReason::Generic),
            "4000000000009995" => CardOutcome::Decline(DeclineReason::InsufficientFunds),
            "4000000000000069" => CardOutcome::Decline(DeclineReason::ExpiredCard),
            "4000000000000127" => CardOutcome::Decline(DeclineReason::IncorrectCvc),
            _ => CardOutcome::Approve,
        }
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(****{})", self.last4())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardOutcome {
    Approve,
    Decline(DeclineReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeclineReason {
    Generic,
    InsufficientFunds,
    ExpiredCard,
    IncorrectCvc,
}

impl DeclineReason {
    /// Stripe's `(code, decline_code, message, param)`.
    pub fn stripe(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    ) {
        match self {
            DeclineReason::Generic => (
                "card_declined",
                "generic_decline",
                "Your card was declined.",
                None,
            ),
            DeclineReason::InsufficientFunds => (
                "card_declined",
                "insufficient_funds",
                "Your card has insufficient funds.",
                None,
            ),
            DeclineReason::ExpiredCard => (
                "expired_card",
                "expired_card",
                "Your card has expired.",
                Some("exp_month"),
            ),
            DeclineReason::IncorrectCvc => (
                "incorrect_cvc",
                "incorrect_cvc",
                "Your card's security code is incorrect.",
                Some("cvc"),
            ),
        }
    }

    /// Adyen's `(refusalReason, refusalReasonCode)` from its refusal table.
    pub fn adyen(self) -> (&'static str, &'static str) {
        match self {
            DeclineReason::Generic => ("Refused", "2"),
            DeclineReason::InsufficientFunds => ("Not enough balance", "12"),
            DeclineReason::ExpiredCard => ("Expired Card", "6"),
            DeclineReason::IncorrectCvc => ("CVC Declined", "24"),
        }
    }
}

/// Whether `month/year` is a valid expiry that has not passed.
pub(crate) fn expiry_ok(month: u32, year: i32) -> bool {
    let now = time::OffsetDateTime::now_utc();
    (1..=12).contains(&month)
        && (year > now.year() || (year == now.year() && month >= u32::from(u8::from(now.month()))))
}

/// Two-digit years are read as 20YY, as both gateways accept them.
pub(crate) fn full_year(year: i32) -> i32 {
    if (0..100).contains(&year) {
        2000 + year
    } else {
        year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_a_typo() {
        for n in [
            "4242424242424242",
            "4000000000000002",
            "4000000000009995",
            "4000000000000069",
            "4000000000000127",
            "4000000000000259",
            "5555555555554444",
        ] {
            assert!(CardNumber::parse(n).unwrap().luhn_valid(), "{n}");
        }
        assert!(!CardNumber::parse("4242424242424241").unwrap().luhn_valid());
    }

    #[test]
    fn test_cards_map_to_their_scripted_outcomes() {
        let outcome = |n: &str| CardNumber::parse(n).unwrap().outcome();
        assert_eq!(outcome("4242424242424242"), CardOutcome::Approve);
        assert_eq!(outcome("4000000000000259"), CardOutcome::Approve);
        assert!(CardNumber::parse("4000000000000259").unwrap().disputes());
        assert!(!CardNumber::parse("4242424242424242").unwrap().disputes());
        assert_eq!(
            outcome("4000000000000002"),
            CardOutcome::Decline(DeclineReason::Generic)
        );
        assert_eq!(
            outcome("4000000000009995"),
            CardOutcome::Decline(DeclineReason::InsufficientFunds)
        );
    }

    #[test]
    fn debug_never_shows_the_full_number() {
        let card = CardNumber::parse("4242 4242 4242 4242").unwrap();
        let shown = format!("{card:?}");
        assert!(!shown.contains("424242424242"));
        assert!(shown.ends_with("4242)"));
    }

    #[test]
    fn non_digits_and_short_numbers_are_not_card_numbers() {
        assert!(CardNumber::parse("4242-4242").is_none());
        assert!(CardNumber::parse("42424242").is_none());
    }

    #[test]
    fn past_expiry_dates_are_refused() {
        assert!(!expiry_ok(1, 2020));
        assert!(expiry_ok(12, full_year(99)));
        assert!(!expiry_ok(13, 2099));
    }
}
