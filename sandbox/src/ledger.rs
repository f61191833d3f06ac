//! The sandbox ledger (every charge the gateway accepted or declined, one
//! entry per PaymentIntent or Adyen payment) and the webhook outbox that the
//! webhook sender (`sandbox::webhook`) drains.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Stripe,
    Adyen,
    Checkout,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Stripe => "stripe",
            Dialect::Adyen => "adyen",
            Dialect::Checkout => "checkout",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Authorized,
    Captured,
    Voided,
    Refunded,
    PartiallyRefunded,
    Declined,
}

/// One charge as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub dialect: Dialect,
    /// `pi_...` for Stripe, the payment's pspReference for Adyen, `pay_...`
    /// for Checkout.com.
    pub id: String,
    pub amount: i64,
    /// Upper-case ISO 4217 code, whatever the dialect's spelling.
    pub currency: String,
    pub status: ChargeStatus,
    /// Accepted and not voided before capture; refunds keep it live.
    pub live: bool,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub idempotency_key: Option<String>,
    /// Adyen and Checkout.com `reference`; Stripe has metadata instead.
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `card`, `sepa_debit`, `scheme`, `applepay`, ...
    pub payment_method: String,
    /// Why a declined charge was declined (Stripe decline_code / Adyen refusalReason).
    pub decline_reason: Option<String>,
    /// Dispute state when the card was disputed: `needs_response`, then
    /// `won` or `lost` once closed through the admin endpoint.
    #[serde(default)]
    pub dispute_status: Option<String>,
    pub created_at: i64,
}

impl LedgerEntry {
    /// Derives `status` and `live` from the amounts, so handlers only move money.
    pub(crate) fn settle(&mut self) {
        self.status = match self.status {
            ChargeStatus::Declined | ChargeStatus::Voided => self.status,
            _ if self.amount_refunded > 0 && self.amount_refunded >= self.amount_captured => {
                ChargeStatus::Refunded
            }
            _ if self.amount_refunded > 0 => ChargeStatus::PartiallyRefunded,
            _ if self.amount_captured > 0 => ChargeStatus::Captured,
            _ => ChargeStatus::Authorized,
        };
        self.live = !matches!(self.status, ChargeStatus::Declined | ChargeStatus::Voided);
    }
}

/// Entries in creation order with an index by id.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    entries: Vec<LedgerEntry>,
    by_id: HashMap<String, usize>,
}

impl Ledger {
    /// Inserts or replaces the entry with the same id (a re-confirmed intent).
    pub fn record(&mut self, mut entry: LedgerEntry) {
        entry.settle();
        match self.by_id.get(&entry.id) {
            Some(&i) => {
                entry.created_at = self.entries[i].created_at;
                self.entries[i] = entry;
            }
            None => {
                self.by_id.insert(entry.id.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// Applies `change` to an existing entry; a cleared ledger ignores it.
    pub fn update(&mut self, id: &str, change: impl FnOnce(&mut LedgerEntry)) {
        if let Some(&i) = self.by_id.get(id) {
            let entry = &mut self.entries[i];
            change(entry);
            entry.settle();
        }
    }

    pub fn entries(&self, dialect: Option<Dialect>) -> Vec<LedgerEntry> {
        self.entries
            .iter()
            .filter(|e| dialect.is_none_or(|d| e.dialect == d))
            .cloned()
            .collect()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_id.clear();
    }
}

/// A gateway-side event waiting to be sent as a webhook. Dialect-specific
/// fields are `None`/empty for the other dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub dialect: Dialect,
    /// Stripe event type (`payment_intent.succeeded`) or Adyen eventCode (`CAPTURE`).
    pub event: String,
    /// The object the event is about: `pi_`/`re_`/`dp_` id, or the Adyen
    /// item's pspReference (payment, modification or chargeback).
    pub object_id: String,
    /// Adyen `originalReference`: the payment a modification applies to.
    pub original_reference: Option<String>,
    pub merchant_reference: Option<String>,
    /// Adyen `merchantAccountCode`.
    pub merchant_account: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub success: bool,
    pub reason: Option<String>,
    /// Adyen `paymentMethod` variant (`visa`, `mc`, `sepadirectdebit`, ...).
    pub payment_method: Option<String>,
    /// Adyen `operations` (AUTHORISATION only).
    pub operations: Vec<String>,
    /// Adyen `additionalData.modification.action` (CANCEL_OR_REFUND only):
    /// `cancel` or `refund`.
    #[serde(default)]
    pub modification_action: Option<String>,
    /// Stripe `data.object`: the whole object as it stood when the event
    /// happened, so a late delivery still shows that moment's state.
    pub object: Option<Value>,
    /// Stripe `request.idempotency_key` of the API call that caused it.
    pub idempotency_key: Option<String>,
    /// Stripe: the secret key of the account the object belongs to, whose
    /// webhook endpoint gets the event (see [`OutboxEvent::account`]).
    #[serde(default)]
    pub stripe_account: Option<String>,
    /// Checkout.com: the secret key of the account, as for Stripe. Its
    /// event's `data` is in `object`.
    #[serde(default)]
    pub checkout_account: Option<String>,
    pub created_at: i64,
}

impl OutboxEvent {
    /// The account whose webhook endpoint gets the event: a Stripe
    /// account's secret key, or an Adyen merchant account.
    pub(crate) fn account(&self) -> Option<&str> {
        match self.dialect {
            Dialect::Stripe => self.stripe_account.as_deref(),
            Dialect::Adyen => self.merchant_account.as_deref(),
            Dialect::Checkout => self.checkout_account.as_deref(),
        }
    }

    /// An event with only the fields both dialects share.
    pub(crate) fn new(
        dialect: Dialect,
        event: &str,
        object_id: &str,
        amount: i64,
        currency: &str,
        success: bool,
    ) -> OutboxEvent {
        OutboxEvent {
            dialect,
            event: event.to_string(),
            object_id: object_id.to_string(),
            original_reference: None,
            merchant_reference: None,
            merchant_account: None,
            amount,
            currency: currency.to_string(),
            success,
            reason: None,
            payment_method: None,
            operations: Vec::new(),
            modification_action: None,
            object: None,
            idempotency_key: None,
            stripe_account: None,
            checkout_account: None,
            created_at: super::wire::now_unix(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> LedgerEntry {
        LedgerEntry {
            dialect: Dialect::Stripe,
            id: id.into(),
            amount: 1000,
            currency: "EUR".into(),
            status: ChargeStatus::Authorized,
            live: false,
            amount_captured: 0,
            amount_refunded: 0,
            idempotency_key: None,
            reference: None,
            metadata: BTreeMap::new(),
            payment_method: "card".into(),
            decline_reason: None,
            dispute_status: None,
            created_at: 1,
        }
    }

    #[test]
    fn status_follows_captured_and_refunded_amounts() {
        let mut ledger = Ledger::default();
        ledger.record(entry("pi_1"));
        assert_eq!(ledger.entries(None)[0].status, ChargeStatus::Authorized);
        assert!(ledger.entries(None)[0].live);
        ledger.update("pi_1", |e| e.amount_captured = 1000);
        assert_eq!(ledger.entries(None)[0].status, ChargeStatus::Captured);
        ledger.update("pi_1", |e| e.amount_refunded = 400);
        assert_eq!(
            ledger.entries(None)[0].status,
            ChargeStatus::PartiallyRefunded
        );
        ledger.update("pi_1", |e| e.amount_refunded = 1000);
        assert_eq!(ledger.entries(None)[0].status, ChargeStatus::Refunded);
        assert!(
            ledger.entries(None)[0].live,
            "a refunded charge was still a charge"
        );
    }

    #[test]
    fn voided_and_declined_entries_are_not_live() {
        let mut ledger = Ledger::default();
        let mut declined = entry("pi_d");
        declined.status = ChargeStatus::Declined;
        ledger.record(declined);
        ledger.record(entry("pi_v"));
        ledger.update("pi_v", |e| e.status = ChargeStatus::Voided);
        assert!(ledger.entries(None).iter().all(|e| !e.live));
    }

    #[test]
    fn recording_the_same_id_replaces_and_keeps_creation_time() {
        let mut ledger = Ledger::default();
        let mut declined = entry("pi_1");
        declined.status = ChargeStatus::Declined;
        ledger.record(declined);
        let mut approved = entry("pi_1");
        approved.created_at = 99;
        ledger.record(approved);
        let all = ledger.entries(None);
        assert_eq!(all.len(), 1);
        assert!(all[0].live);
        assert_eq!(all[0].created_at, 1);
    }
}
