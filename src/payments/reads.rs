//! What the API and operators read: payments, refunds and disputes as the
//! merchant sees them, the webhook delivery and gateway event queues, and
//! the store's health. Reads go through the engine so that the API depends
//! on the engine alone and never on how or where records are kept.

use super::engine::{Engine, EngineError};
use crate::domain::model::{Payment, Refund};
use crate::domain::store::events::{DeliveryStatus, InboundStatus};
use crate::domain::store::{AuditEntry, Delivery, Dispute, InboundEvent};

/// The most rows an operator listing returns.
const LIST_LIMIT: usize = 500;

impl Engine {
    /// The merchant's payment `id`.
    pub async fn payment(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> Result<Option<Payment>, EngineError> {
        Ok(self.store.get_payment(merchant_id, id).await?)
    }

    /// The merchant's payments carrying its order `reference`.
    pub async fn payments_by_reference(
        &self,
        merchant_id: &str,
        reference: &str,
    ) -> Result<Vec<Payment>, EngineError> {
        Ok(self
            .store
            .find_payments_by_reference(merchant_id, reference)
            .await?)
    }

    /// The merchant's refund `id`.
    pub async fn refund_record(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> Result<Option<Refund>, EngineError> {
        Ok(self.store.get_refund(merchant_id, id).await?)
    }

    /// The disputes opened against a payment.
    pub async fn disputes(&self, payment_id: &str) -> Result<Vec<Dispute>, EngineError> {
        Ok(self.store.list_disputes(payment_id).await?)
    }

    /// Whether the store answers; callers bound the wait.
    pub async fn store_ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    /// Refreshes the store's write statistics in the metrics, where the
    /// store keeps any.
    pub fn refresh_store_metrics(&self) {
        if let Some(stats) = self.store.write_stats() {
            self.metrics.set_store_stats(stats);
        }
    }

    /// Merchant webhook deliveries, newest first, optionally of one status.
    pub async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
    ) -> Result<Vec<Delivery>, EngineError> {
        Ok(self.store.list_deliveries(status, LIST_LIMIT).await?)
    }

    /// Puts a delivery back to pending, due now, and wakes the sender; the
    /// operator's action is audited. `None` when there is no such delivery.
    pub async fn redeliver(&self, id: &str) -> Result<Option<Delivery>, EngineError> {
        let Some(mut d) = self.store.get_delivery(id).await? else {
            return Ok(None);
        };
        d.status = DeliveryStatus::Pending;
        let now = self.clock.now();
        d.next_attempt_at = now.unix();
        d.updated_at = now.rfc3339();
        self.store.update_delivery(&d).await?;
        let audit = AuditEntry {
            kind: "admin.redeliver".into(),
            detail: serde_json::json!({"delivery": d.id, "event": d.event_id}),
        };
        if let Err(e) = self.store.append_audit(&audit).await {
            tracing::warn!(error = %e, "could not audit the redelivery");
        }
        self.deliveries_pending.notify_one();
        Ok(Some(d))
    }

    /// Stored gateway events of one status.
    pub async fn gateway_events(
        &self,
        status: InboundStatus,
    ) -> Result<Vec<InboundEvent>, EngineError> {
        Ok(self.store.list_inbound_events(status, LIST_LIMIT).await?)
    }
}
