//! The records of the card vault and of the customers cards are saved
//! for: what the store keeps of a saved card (its number only sealed, never
//! its CVC) and of a customer, and how a payment uses a saved credential,
//! which every gateway must be told so that the issuer sees a
//! customer-initiated or a merchant-initiated transaction.

use serde::{Deserialize, Serialize};

/// A saved card (`pm_…`). Only [`StoredCard::sealed`] holds the number,
/// encrypted and bound to the card's id; everything else is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCard {
    pub id: String,
    pub merchant_id: String,
    /// The customer (`cus_…`) the card is attached to.
    pub customer_id: Option<String>,
    /// `visa`, `mastercard`, `amex`, ... (`unknown` otherwise).
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
    /// Keyed fingerprint of the number (the engine's), to tell two saves
    /// of one card apart from two cards.
    pub fingerprint: String,
    pub holder_name: Option<String>,
    /// Stripe-style `billing_details` as given (name, email, phone, address).
    pub billing: serde_json::Value,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The sealed number (`v1.{key id}.{base64}`); `None` once deleted.
    pub sealed: Option<String>,
    /// Successful customer-initiated payments made with the card: the
    /// first one sets it up for later merchant-initiated use.
    pub uses: u32,
    pub created_at: String,
    pub deleted_at: Option<String>,
}

/// A customer (`cus_…`) that saved cards belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCustomer {
    pub id: String,
    pub merchant_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub phone: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub default_payment_method: Option<String>,
    pub created_at: String,
}

/// How a payment uses a card credential. Card schemes require a stored
/// credential to be flagged: the first, customer-initiated use that saves
/// it (CIT), later customer-initiated uses, and merchant-initiated ones
/// (MIT, the customer absent: subscriptions, top-ups) are each flagged
/// differently, or issuers decline them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CredentialUse {
    /// A card typed in for this payment only.
    #[default]
    OneOff,
    /// The customer is present and the card is being saved for later use,
    /// including merchant-initiated payments (Stripe
    /// `setup_future_usage=off_session`; Adyen `Ecommerce` + `CardOnFile`;
    /// Checkout.com `payment_type: Unscheduled`, not merchant-initiated).
    SaveFirst,
    /// The customer is present and pays with a card saved earlier (Adyen
    /// `ContAuth` + `CardOnFile`; Checkout.com `Regular`).
    Returning,
    /// The customer is absent: the merchant charges a saved card (Stripe
    /// `off_session=true`; Adyen `ContAuth` + `Subscription` or
    /// `UnscheduledCardOnFile`; Checkout.com `merchant_initiated: true`
    /// with `Recurring` or `Unscheduled`).
    MerchantInitiated { recurring: bool },
}

impl CredentialUse {
    pub fn is_merchant_initiated(self) -> bool {
        matches!(self, CredentialUse::MerchantInitiated { .. })
    }
}
