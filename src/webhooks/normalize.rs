//! The normalized gateway event (design §6): maps a verified Stripe event or
//! Adyen notification item to one shape the applier understands. Pure: no
//! I/O, no store; deciding what an event means for a payment is the
//! applier's job, this only says what the gateway reported.

mod adyen;
mod stripe;

pub use adyen::normalize_adyen;
pub use stripe::normalize_stripe;

/// What a gateway event reports, in payroute's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NormalizedKind {
    PaymentAuthorized,
    PaymentCaptured,
    /// Adyen only (`CAPTURE` false, `CAPTURE_FAILED`): not one of design §6's
    /// merchant event types; the applier decides what to forward.
    PaymentCaptureFailed,
    PaymentFailed,
    PaymentVoided,
    /// Adyen only (`CANCELLATION` false): as for `PaymentCaptureFailed`.
    PaymentVoidFailed,
    RefundSucceeded,
    RefundFailed,
    DisputeOpened,
    DisputeWon,
    DisputeLost,
}

impl NormalizedKind {
    /// The event type name (`payment.authorized`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NormalizedKind::PaymentAuthorized => "payment.authorized",
            NormalizedKind::PaymentCaptured => "payment.captured",
            NormalizedKind::PaymentCaptureFailed => "payment.capture_failed",
            NormalizedKind::PaymentFailed => "payment.failed",
            NormalizedKind::PaymentVoided => "payment.voided",
            NormalizedKind::PaymentVoidFailed => "payment.void_failed",
            NormalizedKind::RefundSucceeded => "refund.succeeded",
            NormalizedKind::RefundFailed => "refund.failed",
            NormalizedKind::DisputeOpened => "dispute.opened",
            NormalizedKind::DisputeWon => "dispute.won",
            NormalizedKind::DisputeLost => "dispute.lost",
        }
    }
}

/// One gateway event, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEvent {
    /// Unique per gateway: Stripe's event `id`; for Adyen
    /// `"{pspReference}:{eventCode}:{success}"` (an item has no id).
    pub provider_event_id: String,
    /// `None`: the event is not one payroute acts on.
    pub kind: Option<NormalizedKind>,
    /// The gateway's reference of the PAYMENT (Stripe `pi_...`; Adyen the
    /// payment's pspReference, i.e. `originalReference` for modifications
    /// and disputes).
    pub payment_reference: Option<String>,
    /// The reference of the object the event is about when it is not the
    /// payment itself: Stripe refund `re_...` or dispute `dp_...`; Adyen the
    /// modification's or dispute's pspReference.
    pub object_reference: Option<String>,
    /// payroute's own id echoed back: Adyen `merchantReference`; Stripe
    /// `metadata.payroute_refund_id` / `metadata.payroute_payment_id`.
    pub merchant_reference: Option<String>,
    /// Minor units.
    pub amount: Option<i64>,
    /// ISO 4217, upper-case.
    pub currency: Option<String>,
    pub reason: Option<String>,
    /// Stripe event `type`; Adyen `"{eventCode}:{success}"`.
    pub raw_type: String,
    /// Unix seconds (Stripe `created`; Adyen `eventDate`).
    pub occurred_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("event is not JSON: {0}")]
    NotJson(String),
    #[error("event has no `{0}`")]
    Missing(&'static str),
}
