//! The store's contract, owned by the domain: the [`Store`] trait every
//! backend implements (SQLite and PostgreSQL, in the `store` module), its
//! error, and the records and units of work ([`events`]) that cross it.
//! The engine and the workers depend on this trait alone, never on a
//! backend, so the dependency points inward: `store` → `domain`.

pub mod events;
pub mod vault;

use async_trait::async_trait;

use crate::domain::model::{Attempt, AttemptOutcome, Payment, PaymentStatus, Refund};

pub use events::{
    AttemptFinish, Commit, Delivery, DeliveryStatus, Dispute, DisputeStatus, IdemResponse,
    InboundEvent, InboundStatus, PaymentLease,
};
pub use vault::{CompatObject, VaultStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("record not found")]
    NotFound,
    #[error("conflicting write: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported store URL: {0}")]
    BadUrl(String),
}

impl StoreError {
    /// The record asked for does not exist (as opposed to a store fault).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound)
    }
}

/// Units of work a store committed, and the transactions that held them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub units: u64,
    pub commits: u64,
}

/// What happened when a request claimed an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemClaim {
    /// The key is new (or expired): the caller owns it and must
    /// [`Store::complete_idempotency`] or [`Store::release_idempotency`].
    Claimed,
    /// Same key, same request, already finished: replay this response.
    Replay { status: u16, body: Vec<u8> },
    /// Same key, still running (or abandoned by a crash) since `since`
    /// (unix seconds).
    InFlight { since: i64 },
    /// Same key, different request.
    Mismatch,
}

/// The identity of a request under an idempotency key.
#[derive(Debug, Clone)]
pub struct IdemKey<'a> {
    pub merchant_id: &'a str,
    pub key: &'a str,
    /// SHA-256 hex of method, path and the canonical body.
    pub fingerprint: &'a str,
    /// Keys older than this many seconds are treated as new (24 h).
    pub ttl_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `rules.reload`, `rules.reload_failed`, `rules.reload_recovered`, `admin.*`.
    pub kind: String,
    pub detail: serde_json::Value,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn claim_idempotency(&self, key: IdemKey<'_>) -> Result<IdemClaim, StoreError>;
    /// What [`Store::claim_idempotency`] would answer now, without claiming
    /// or writing anything: `Claimed` for a free (or expired) key. For
    /// requests refused before any write, which must still replay a stored
    /// answer, wait for one in flight, or refuse a reused key.
    async fn peek_idempotency(&self, key: IdemKey<'_>) -> Result<IdemClaim, StoreError>;
    async fn complete_idempotency(
        &self,
        merchant_id: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError>;
    /// Gives up a claim without a response, so a retry may run again; only
    /// for requests that provably made no gateway call.
    async fn release_idempotency(&self, merchant_id: &str, key: &str) -> Result<(), StoreError>;

    /// Takes over an in-flight claim abandoned since `since` (a crash): true
    /// for exactly one caller, which then owns the key.
    async fn retake_idempotency(
        &self,
        merchant_id: &str,
        key: &str,
        since: i64,
    ) -> Result<bool, StoreError>;
    /// The payment a create request with this Idempotency-Key made, if any.
    async fn find_payment_by_idempotency_key(
        &self,
        merchant_id: &str,
        key: &str,
    ) -> Result<Option<Payment>, StoreError>;

    /// Inserts a new payment; its refunds list is ignored.
    async fn insert_payment(&self, payment: &Payment) -> Result<(), StoreError>;
    /// Overwrites a payment's mutable fields (status, amounts, gateway,
    /// provider reference, route, failure, next_action, updated_at).
    async fn update_payment(&self, payment: &Payment) -> Result<(), StoreError>;
    /// A payment with its refunds, scoped to the merchant.
    async fn get_payment(&self, merchant_id: &str, id: &str)
    -> Result<Option<Payment>, StoreError>;
    async fn find_payments_by_reference(
        &self,
        merchant_id: &str,
        reference: &str,
    ) -> Result<Vec<Payment>, StoreError>;
    /// Payments in any of `statuses` not updated since `updated_before`
    /// (RFC 3339), oldest first, at most `limit` per status.
    async fn list_stale_payments(
        &self,
        statuses: &[PaymentStatus],
        updated_before: &str,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError>;
    async fn find_payment_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Payment>, StoreError>;

    /// Durable before the gateway call (design §5).
    async fn insert_attempt(&self, attempt: &Attempt) -> Result<(), StoreError>;
    async fn finish_attempt(
        &self,
        attempt_id: &str,
        outcome: AttemptOutcome,
        provider_reference: Option<&str>,
        error_code: Option<&str>,
        latency_ms: u64,
    ) -> Result<(), StoreError>;
    async fn list_attempts(&self, payment_id: &str) -> Result<Vec<Attempt>, StoreError>;

    async fn insert_refund(&self, refund: &Refund) -> Result<(), StoreError>;
    async fn update_refund(&self, refund: &Refund) -> Result<(), StoreError>;
    async fn get_refund(&self, merchant_id: &str, id: &str) -> Result<Option<Refund>, StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    // --- Webhooks (design §6) ---

    /// Stores verified events in one transaction; per event, `true` = new,
    /// `false` = a duplicate of its `(gateway_id, provider_event_id)`, stored
    /// earlier or earlier in this batch. With `lease_secs > 0` the new
    /// events are stored leased to the caller (who hands them to its
    /// applier in memory), so no claim has to write them again; 0 leaves
    /// them for [`Store::claim_inbound_events`].
    async fn insert_inbound_events(
        &self,
        events: &[InboundEvent],
        lease_secs: i64,
    ) -> Result<Vec<bool>, StoreError>;
    /// Frees the leases of `Received` events, at startup of a store no
    /// other process shares: whoever held them is gone, so they need not
    /// wait for the leases to run out. A store shared by replicas keeps
    /// them (a live replica may hold them), which is this default.
    async fn release_inbound_leases(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
    /// `Received` events whose lease is free or expired, oldest first, now
    /// leased for `lease_secs` so no other worker or replica takes them
    /// meanwhile; after a crash they are claimable again once it expires.
    async fn claim_inbound_events(
        &self,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<InboundEvent>, StoreError>;
    /// Oldest first.
    async fn list_inbound_events(
        &self,
        status: InboundStatus,
        limit: usize,
    ) -> Result<Vec<InboundEvent>, StoreError>;
    /// Sets `Orphan` events judged (processed) before `older_than_unix` back
    /// to `Received`, so they are retried once their payment exists; returns
    /// how many.
    async fn requeue_orphans(&self, older_than_unix: i64) -> Result<usize, StoreError>;
    /// Applies a [`Commit`] in one transaction, all or nothing: updates the
    /// payment (`NotFound` if missing), upserts refunds and disputes by id
    /// (their merchant taken from the payment row; `NotFound` without one),
    /// inserts deliveries, settles the inbound event (status, note,
    /// processed_at, lease cleared; `Conflict` if it is no longer
    /// `Received`, so an event is applied at most once) and appends the
    /// audit entry.
    async fn commit(&self, c: &Commit) -> Result<(), StoreError>;
    /// Claims `key` and, when the claim is [`IdemClaim::Claimed`], applies
    /// `c` in the same transaction: the claim, a new payment and its first
    /// attempt are durable together or not at all. Any other claim writes
    /// nothing and is returned as it is; a failing `c` also rolls back the
    /// claim.
    async fn claim_and_commit(&self, key: IdemKey<'_>, c: &Commit)
    -> Result<IdemClaim, StoreError>;
    /// A payment with its refunds, by id alone: a webhook does not know the
    /// merchant yet.
    async fn get_payment_by_id(&self, id: &str) -> Result<Option<Payment>, StoreError>;
    async fn find_refund_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Refund>, StoreError>;
    /// By id alone (unscoped).
    async fn get_refund_by_id(&self, id: &str) -> Result<Option<Refund>, StoreError>;
    /// Oldest first.
    async fn list_disputes(&self, payment_id: &str) -> Result<Vec<Dispute>, StoreError>;
    async fn find_dispute_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Dispute>, StoreError>;
    /// `Pending` deliveries with `next_attempt_at <= now`, most overdue
    /// first, leased in the same transaction by moving `next_attempt_at` to
    /// `now + lease_secs` (the returned records carry that value): a crash
    /// mid-send re-delivers later (at least once), and two workers never
    /// hold the same delivery at once.
    async fn claim_due_deliveries(
        &self,
        now: i64,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Records a try: status, attempts, next_attempt_at, last error and
    /// status, updated_at. `NotFound` if missing.
    async fn update_delivery(&self, d: &Delivery) -> Result<(), StoreError>;
    async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError>;
    /// Newest first; all statuses when `status` is `None`.
    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    // --- Coordination between replicas ---

    /// Whether this process leads the singleton background `role` (say the
    /// reconciler) now; ask before each round of the role's work. At most
    /// one store among those sharing a database leads a role at a time; the
    /// leader keeps it on every call while its process and its session with
    /// the database live. When either ends, the database frees the role and
    /// another store's next call takes it, while the old leader's next call
    /// answers `false` (so keep rounds short). An error means "not now".
    /// A single-process backend always leads.
    async fn try_lead(&self, role: &str) -> Result<bool, StoreError>;
    /// What the store's writer has committed so far, where it counts.
    fn write_stats(&self) -> Option<WriteStats> {
        None
    }
    /// Whether payments need [`Store::lock_payment`] leases: false for a
    /// single-process backend, whose callers then skip the round trips.
    fn shared_by_replicas(&self) -> bool {
        true
    }
    /// Takes, or renews, a lease on one payment for `holder` (unique per
    /// process and task) until `now + ttl_secs` (unix seconds): true if
    /// `holder` has it, false while another holder's lease runs. A lease
    /// that has expired (`expires_at < now`) goes to whoever asks. It keeps
    /// two replicas from driving one payment's gateway calls at once; a
    /// single-process backend, where an in-process guard already
    /// serializes them, always grants it.
    async fn lock_payment(
        &self,
        payment_id: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<bool, StoreError>;
    /// Ends `holder`'s lease on the payment early; a lease held by another
    /// holder (this one's having expired and been taken) is left alone.
    async fn unlock_payment(&self, payment_id: &str, holder: &str) -> Result<(), StoreError>;
}
