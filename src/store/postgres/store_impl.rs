//! The [`Store`] trait for [`PostgresStore`]: each method is one
//! [`PostgresStore::run`] of the SQL module that owns its table, so every
//! call is bounded by the operation deadline.

use async_trait::async_trait;

use super::{
    PostgresStore, commit, deliveries, disputes, idempotency, inbound, journal, leases, records,
    refunds,
};
use crate::domain::model::{Attempt, AttemptOutcome, Payment, PaymentStatus, Refund};
use crate::domain::store::events::{
    Commit, Delivery, DeliveryStatus, Dispute, InboundEvent, InboundStatus,
};
use crate::domain::store::{AuditEntry, IdemClaim, IdemKey, Store, StoreError};

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.run(async |c| {
            c.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }

    async fn claim_idempotency(&self, key: IdemKey<'_>) -> Result<IdemClaim, StoreError> {
        self.run(async |c| idempotency::claim(c, &key, self.clock.now_unix()).await)
            .await
    }

    async fn peek_idempotency(&self, key: IdemKey<'_>) -> Result<IdemClaim, StoreError> {
        self.run(async |c| idempotency::peek(c, &key, self.clock.now_unix()).await)
            .await
    }

    async fn complete_idempotency(
        &self,
        merchant_id: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.run(async |c| idempotency::complete(c, merchant_id, key, status, body).await)
            .await
    }

    async fn release_idempotency(&self, merchant_id: &str, key: &str) -> Result<(), StoreError> {
        self.run(async |c| idempotency::release(c, merchant_id, key).await)
            .await
    }

    async fn retake_idempotency(
        &self,
        merchant_id: &str,
        key: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        self.run(async |c| {
            idempotency::retake(c, merchant_id, key, since, self.clock.now_unix()).await
        })
        .await
    }

    async fn find_payment_by_idempotency_key(
        &self,
        merchant_id: &str,
        key: &str,
    ) -> Result<Option<Payment>, StoreError> {
        self.run(async |c| records::find_by_idempotency_key(c, merchant_id, key).await)
            .await
    }

    async fn insert_payment(&self, payment: &Payment) -> Result<(), StoreError> {
        self.run(async |c| records::insert_payment(c, payment).await)
            .await
    }

    async fn update_payment(&self, payment: &Payment) -> Result<(), StoreError> {
        self.run(async |c| records::update_payment(&*c, payment).await)
            .await
    }

    async fn get_payment(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> Result<Option<Payment>, StoreError> {
        self.run(async |c| records::get_payment(c, merchant_id, id).await)
            .await
    }

    async fn find_payments_by_reference(
        &self,
        merchant_id: &str,
        reference: &str,
    ) -> Result<Vec<Payment>, StoreError> {
        self.run(async |c| records::find_by_reference(c, merchant_id, reference).await)
            .await
    }

    async fn list_stale_payments(
        &self,
        statuses: &[PaymentStatus],
        updated_before: &str,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.run(async |c| {
            let mut all = Vec::new();
            for s in statuses {
                all.extend(records::stale_by_status(c, s.as_str(), updated_before, limit).await?);
            }
            Ok(all)
        })
        .await
    }

    async fn find_payment_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        self.run(async |c| {
            records::find_by_provider_reference(c, gateway, provider_reference).await
        })
        .await
    }

    async fn insert_attempt(&self, attempt: &Attempt) -> Result<(), StoreError> {
        self.run(async |c| journal::insert_attempt(c, attempt).await)
            .await
    }

    async fn finish_attempt(
        &self,
        attempt_id: &str,
        outcome: AttemptOutcome,
        provider_reference: Option<&str>,
        error_code: Option<&str>,
        latency_ms: u64,
    ) -> Result<(), StoreError> {
        let finish = crate::domain::store::AttemptFinish {
            id: attempt_id.to_owned(),
            outcome,
            provider_reference: provider_reference.map(str::to_owned),
            error_code: error_code.map(str::to_owned),
            latency_ms,
        };
        let at = self.clock.now_rfc3339();
        self.run(async |c| journal::finish_attempt(c, &finish, at).await)
            .await
    }

    async fn list_attempts(&self, payment_id: &str) -> Result<Vec<Attempt>, StoreError> {
        self.run(async |c| journal::list_attempts(c, payment_id).await)
            .await
    }

    async fn insert_refund(&self, refund: &Refund) -> Result<(), StoreError> {
        self.run(async |c| refunds::insert_refund(&*c, refund).await)
            .await
    }

    async fn update_refund(&self, refund: &Refund) -> Result<(), StoreError> {
        self.run(async |c| refunds::update_refund(c, refund).await)
            .await
    }

    async fn get_refund(&self, merchant_id: &str, id: &str) -> Result<Option<Refund>, StoreError> {
        self.run(async |c| refunds::get_refund(c, merchant_id, id).await)
            .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let at = self.clock.now_rfc3339();
        self.run(async |c| journal::append_audit(&*c, entry, at).await)
            .await
    }

    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.run(async |c| journal::list_audit(c, limit).await)
            .await
    }

    async fn insert_inbound_events(
        &self,
        events: &[InboundEvent],
        lease_secs: i64,
    ) -> Result<Vec<bool>, StoreError> {
        self.run(async |c| inbound::insert(c, events, lease_secs).await)
            .await
    }

    async fn claim_inbound_events(
        &self,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<InboundEvent>, StoreError> {
        self.run(async |c| inbound::claim(c, self.clock.now_unix(), limit, lease_secs).await)
            .await
    }

    async fn list_inbound_events(
        &self,
        status: InboundStatus,
        limit: usize,
    ) -> Result<Vec<InboundEvent>, StoreError> {
        self.run(async |c| inbound::list(c, status, limit).await)
            .await
    }

    async fn requeue_orphans(&self, older_than_unix: i64) -> Result<usize, StoreError> {
        self.run(async |c| inbound::requeue_orphans(c, older_than_unix).await)
            .await
    }

    async fn commit(&self, c: &Commit) -> Result<(), StoreError> {
        self.run(async |conn| commit::apply(conn, c, self.clock.now()).await)
            .await
    }

    async fn claim_and_commit(
        &self,
        key: IdemKey<'_>,
        c: &Commit,
    ) -> Result<IdemClaim, StoreError> {
        self.run(async |conn| commit::claim_and_apply(conn, &key, c, self.clock.now()).await)
            .await
    }

    async fn get_payment_by_id(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        self.run(async |c| records::get_payment_by_id(c, id).await)
            .await
    }

    async fn find_refund_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Refund>, StoreError> {
        self.run(async |c| {
            refunds::find_refund_by_provider_reference(c, gateway, provider_reference).await
        })
        .await
    }

    async fn get_refund_by_id(&self, id: &str) -> Result<Option<Refund>, StoreError> {
        self.run(async |c| refunds::get_refund_by_id(c, id).await)
            .await
    }

    async fn list_disputes(&self, payment_id: &str) -> Result<Vec<Dispute>, StoreError> {
        self.run(async |c| disputes::list(c, payment_id).await)
            .await
    }

    async fn find_dispute_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Dispute>, StoreError> {
        self.run(async |c| {
            disputes::find_by_provider_reference(c, gateway, provider_reference).await
        })
        .await
    }

    async fn claim_due_deliveries(
        &self,
        now: i64,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.run(async |c| deliveries::claim_due(c, now, limit, lease_secs).await)
            .await
    }

    async fn update_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        self.run(async |c| deliveries::update(c, d).await).await
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        self.run(async |c| deliveries::get(c, id).await).await
    }

    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.run(async |c| deliveries::list(c, status, limit).await)
            .await
    }

    async fn try_lead(&self, role: &str) -> Result<bool, StoreError> {
        leases::try_lead(&self.leadership, &self.target, self.role_key(role)).await
    }

    async fn lock_payment(
        &self,
        payment_id: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<bool, StoreError> {
        self.run(async |c| leases::lock_payment(c, payment_id, holder, now, ttl_secs).await)
            .await
    }

    async fn unlock_payment(&self, payment_id: &str, holder: &str) -> Result<(), StoreError> {
        self.run(async |c| leases::unlock_payment(c, payment_id, holder).await)
            .await
    }
}
