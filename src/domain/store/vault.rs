//! The store's contract for the card vault and the Stripe-compatible API's
//! own records: saved cards, customers, and the documents that API keeps
//! (a PaymentIntent exists before any payment does, and outlives a
//! declined one). A supertrait of [`super::Store`], so every backend keeps
//! them beside the payments, in the same database.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::vault::{StoredCard, StoredCustomer};

/// A record of the Stripe-compatible API kept as one JSON document, changed
/// only by compare-and-set on `version`, so two requests on one object
/// cannot both win.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatObject {
    pub id: String,
    pub merchant_id: String,
    /// `payment_intent`, ...
    pub kind: String,
    pub body: serde_json::Value,
    /// 1 when inserted, one more at each update.
    pub version: i64,
    pub created_at: String,
}

#[async_trait]
pub trait VaultStore: Send + Sync {
    async fn insert_card(&self, card: &StoredCard) -> Result<(), StoreError>;
    /// A card of `merchant_id`, deleted ones included (their `sealed` is
    /// `None`).
    async fn get_card(&self, merchant_id: &str, id: &str)
    -> Result<Option<StoredCard>, StoreError>;
    /// Writes every field but the id, merchant and creation time;
    /// `NotFound` if there is no such card.
    async fn update_card(&self, card: &StoredCard) -> Result<(), StoreError>;
    /// The live (not deleted) cards attached to a customer, oldest first.
    async fn list_customer_cards(
        &self,
        merchant_id: &str,
        customer_id: &str,
    ) -> Result<Vec<StoredCard>, StoreError>;
    /// Deletes a card: its ciphertext is overwritten with nothing in the
    /// same write that marks it deleted at `at` (RFC 3339), and it is
    /// detached. False if there was no live card.
    async fn wipe_card(&self, merchant_id: &str, id: &str, at: &str) -> Result<bool, StoreError>;
    /// Up to `limit` live cards, of any merchant, whose sealed number is not
    /// under key `current_key_id`, with ids after `after` (for paging
    /// through a rotation), in id order.
    async fn cards_to_reseal(
        &self,
        current_key_id: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<StoredCard>, StoreError>;
    /// Replaces a card's sealed number if it is still `expected` (a delete
    /// or another rotation in between wins); true if replaced.
    async fn reseal_card(&self, id: &str, expected: &str, sealed: &str)
    -> Result<bool, StoreError>;

    async fn insert_customer(&self, customer: &StoredCustomer) -> Result<(), StoreError>;
    async fn get_customer(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> Result<Option<StoredCustomer>, StoreError>;
    /// `NotFound` if there is no such customer.
    async fn update_customer(&self, customer: &StoredCustomer) -> Result<(), StoreError>;

    /// `Conflict` if the id is taken.
    async fn insert_object(&self, object: &CompatObject) -> Result<(), StoreError>;
    async fn get_object(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> Result<Option<CompatObject>, StoreError>;
    /// Writes `object.body` as version `object.version + 1` if the stored
    /// version is still `object.version`: false (nothing written) if not.
    async fn update_object(&self, object: &CompatObject) -> Result<bool, StoreError>;
}
