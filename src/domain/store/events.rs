//! Records of the webhook pipelines: inbound gateway events (stored before
//! the ack, applied after), disputes, outbound merchant deliveries, and the
//! [`Commit`] that writes a state change with its merchant events in one
//! transaction, so a crash can neither lose an event nor apply half of one.

use serde::{Deserialize, Serialize};

use crate::domain::model::{Attempt, AttemptOutcome, Payment, Refund};

/// Processing state of an inbound gateway event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundStatus {
    /// Stored and acknowledged; not yet applied.
    Received,
    /// Applied to a payment (or found to change nothing).
    Applied,
    /// Verified, but no payment has its provider reference (yet).
    Orphan,
    /// An event type payroute does not act on.
    Ignored,
}

impl InboundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundStatus::Received => "received",
            InboundStatus::Applied => "applied",
            InboundStatus::Orphan => "orphan",
            InboundStatus::Ignored => "ignored",
        }
    }
    pub fn parse(s: &str) -> Option<InboundStatus> {
        [
            InboundStatus::Received,
            InboundStatus::Applied,
            InboundStatus::Orphan,
            InboundStatus::Ignored,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A verified gateway event, kept raw for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    pub id: String,
    pub gateway_id: String,
    /// Stripe `evt_...`; Adyen `pspReference:eventCode:success`.
    pub provider_event_id: String,
    /// The raw verified payload: a Stripe event body, or one Adyen
    /// notification item as JSON.
    pub payload: Vec<u8>,
    pub status: InboundStatus,
    pub note: Option<String>,
    /// Unix seconds.
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    Open,
    Won,
    Lost,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
        }
    }
    pub fn parse(s: &str) -> Option<DisputeStatus> {
        match s {
            "open" => Some(DisputeStatus::Open),
            "won" => Some(DisputeStatus::Won),
            "lost" => Some(DisputeStatus::Lost),
            _ => None,
        }
    }
}

/// A dispute (chargeback) on a payment: its own sub-resource, never the
/// payment's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub payment_id: String,
    pub gateway: String,
    /// The gateway's dispute id (Stripe `dp_...`) or the chargeback's
    /// pspReference (Adyen).
    pub provider_reference: String,
    pub status: DisputeStatus,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One merchant event on its way to the merchant's `webhook_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    /// The merchant-visible event id (`evt_...`), stable across retries.
    pub event_id: String,
    pub merchant_id: String,
    pub event_type: String,
    /// The exact JSON body to POST (signed at send time).
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Unix seconds of the next try.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    pub created_at: String,
    pub updated_at: String,
}

/// A unit of work: everything one step of an operation must make durable
/// together, written in one transaction, all or nothing. Before a gateway
/// call that is the new payment (or refund) and its `started` attempt
/// (with the idempotency claim, see [`super::Store::claim_and_commit`]);
/// after it, the attempt's outcome, the payment's new state, the stored
/// idempotent response and the merchant events; for a webhook, the state
/// change, its events, the settling of the inbound event and the audit.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Inserted (its refunds list is ignored); written first.
    pub new_payment: Option<Payment>,
    /// Updated in place (must exist).
    pub payment: Option<Payment>,
    /// Inserted or updated by id.
    pub refunds: Vec<Refund>,
    /// Outcomes of attempts inserted earlier (`NotFound` if one is missing).
    pub finished_attempts: Vec<AttemptFinish>,
    /// Inserted `started`, after the finished ones: durable before their
    /// gateway call (design §5).
    pub new_attempts: Vec<Attempt>,
    /// Inserted or updated by id.
    pub disputes: Vec<Dispute>,
    /// Enqueued.
    pub deliveries: Vec<Delivery>,
    /// Marks an inbound event processed: (event id, new status, note).
    pub inbound: Option<(String, InboundStatus, Option<String>)>,
    /// Stores the response of an Idempotency-Key claimed earlier or in this
    /// same unit. A key no longer in flight (released, or expired and
    /// claimed again) is left as it is: the state change still commits, as
    /// the money outcome matters more than one replay.
    pub response: Option<IdemResponse>,
    pub audit: Option<super::AuditEntry>,
    /// A payment lease taken in this unit, before its other writes: the
    /// unit fails with `Conflict` while another holder's lease runs. It
    /// spares a writer of a new payment the round trip of
    /// [`super::Store::lock_payment`].
    pub take_lease: Option<PaymentLease>,
    /// A payment lease ended in this unit, after its other writes, which
    /// spares the round trip of [`super::Store::unlock_payment`]. Another
    /// holder's lease is left alone.
    pub end_lease: Option<PaymentLease>,
}

/// One writer's lease on one payment, for stores shared by replicas (see
/// [`super::Store::lock_payment`]); a store serving one process, whose
/// in-process guard already serializes writers, ignores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentLease {
    pub payment_id: String,
    /// Unique per process and guard.
    pub holder: String,
    /// Unix seconds when a lease left behind (its replica died) lapses.
    pub until: i64,
}

impl Commit {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.new_payment.is_none()
            && self.payment.is_none()
            && self.refunds.is_empty()
            && self.finished_attempts.is_empty()
            && self.new_attempts.is_empty()
            && self.disputes.is_empty()
            && self.deliveries.is_empty()
            && self.inbound.is_none()
            && self.response.is_none()
            && self.audit.is_none()
            && self.take_lease.is_none()
            && self.end_lease.is_none()
    }
}

/// The result of one gateway call, for an attempt inserted earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFinish {
    pub id: String,
    pub outcome: AttemptOutcome,
    /// Kept as it was when `None` (a reference learnt on an earlier try).
    pub provider_reference: Option<String>,
    pub error_code: Option<String>,
    pub latency_ms: u64,
}

/// The final answer to a request under an Idempotency-Key, replayed to
/// its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemResponse {
    pub merchant_id: String,
    pub key: String,
    pub status: u16,
    pub body: Vec<u8>,
}
