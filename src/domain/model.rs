//! The payment, attempt and refund records: what the store keeps and what the
//! API returns. Status transitions live here so that the API, webhooks and the
//! reconciler all move payments the same, forward-only way.

use serde::{Deserialize, Serialize};

/// Payment status (design §3). Order of the variants is not meaningful; use
/// [`PaymentStatus::rank`] for forward-only checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Processing,
    RequiresAction,
    Authorized,
    CapturePending,
    Captured,
    PartiallyRefunded,
    Refunded,
    VoidPending,
    Voided,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Processing => "processing",
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::CapturePending => "capture_pending",
            PaymentStatus::Captured => "captured",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::VoidPending => "void_pending",
            PaymentStatus::Voided => "voided",
            PaymentStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        ALL_STATUSES.iter().copied().find(|st| st.as_str() == s)
    }

    /// Whether moving from `self` to `next` goes forward in the lifecycle.
    /// Anything else is a late or replayed event: recorded, never applied.
    pub fn can_move_to(self, next: PaymentStatus) -> bool {
        use PaymentStatus::*;
        match (self, next) {
            (a, b) if a == b => false,
            (Processing, _) => true,
            (RequiresAction, Processing) => false,
            (RequiresAction, _) => true,
            (Authorized, CapturePending | Captured | VoidPending | Voided) => true,
            // A refused capture or cancel returns to `authorized` only through
            // its explicit failure event (transitions.rs), never through a
            // late authorization.
            (CapturePending, Captured) => true,
            (Captured, PartiallyRefunded | Refunded) => true,
            (PartiallyRefunded, Refunded) => true,
            (VoidPending, Voided) => true,
            _ => false,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentStatus::Refunded | PaymentStatus::Voided | PaymentStatus::Failed
        )
    }
}

pub const ALL_STATUSES: [PaymentStatus; 10] = [
    PaymentStatus::Processing,
    PaymentStatus::RequiresAction,
    PaymentStatus::Authorized,
    PaymentStatus::CapturePending,
    PaymentStatus::Captured,
    PaymentStatus::PartiallyRefunded,
    PaymentStatus::Refunded,
    PaymentStatus::VoidPending,
    PaymentStatus::Voided,
    PaymentStatus::Failed,
];

/// How a gateway call ended, as recorded on an attempt and in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Written before the gateway call; still so after a crash mid-call.
    Started,
    Approved,
    Pending,
    RequiresAction,
    Declined,
    Unavailable,
    Ambiguous,
    Error,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Started => "started",
            AttemptOutcome::Approved => "approved",
            AttemptOutcome::Pending => "pending",
            AttemptOutcome::RequiresAction => "requires_action",
            AttemptOutcome::Declined => "declined",
            AttemptOutcome::Unavailable => "unavailable",
            AttemptOutcome::Ambiguous => "ambiguous",
            AttemptOutcome::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<AttemptOutcome> {
        [
            AttemptOutcome::Started,
            AttemptOutcome::Approved,
            AttemptOutcome::Pending,
            AttemptOutcome::RequiresAction,
            AttemptOutcome::Declined,
            AttemptOutcome::Unavailable,
            AttemptOutcome::Ambiguous,
            AttemptOutcome::Error,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// The stored card facts: never the number or the CVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    pub bin: String,
    pub last4: String,
    pub network: String,
    pub exp_month: u8,
    pub exp_year: u16,
    /// Keyed HMAC of the card number: lets velocity rules and merchants
    /// recognise a card without anyone being able to recover it.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodSummary {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    pub id: String,
    pub gateway: String,
    pub outcome: AttemptOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    pub rule: String,
    pub ruleset_version: String,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskSignal {
    pub name: String,
    pub score: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskInfo {
    pub score: u32,
    pub signals: Vec<RiskSignal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    Automatic,
    Manual,
}

/// A payment as stored and as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    #[serde(skip)]
    pub merchant_id: String,
    pub status: PaymentStatus,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub reference: String,
    pub capture: CaptureMode,
    pub method: MethodSummary,
    pub gateway: Option<String>,
    pub provider_reference: Option<String>,
    pub route: RouteInfo,
    pub risk: RiskInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<serde_json::Value>,
    #[serde(default)]
    pub customer: Option<serde_json::Value>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub refunds: Vec<Refund>,
    pub created_at: String,
    pub updated_at: String,
    /// The merchant's Idempotency-Key of the create request, so that a retry
    /// after a crash finds this payment instead of making a second one.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl Payment {
    /// The payment object of the API and of merchant events (design §3).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!(self);
        v["object"] = serde_json::json!("payment");
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RefundStatus> {
        match s {
            "pending" => Some(RefundStatus::Pending),
            "succeeded" => Some(RefundStatus::Succeeded),
            "failed" => Some(RefundStatus::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub status: RefundStatus,
    pub amount: i64,
    pub currency: String,
    pub gateway: String,
    pub provider_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub created_at: String,
    pub updated_at: String,
}

/// One call to a gateway for a payment (authorize, capture, cancel or refund).
/// Written with `outcome = Started` before the call, updated after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: String,
    pub payment_id: String,
    pub gateway: String,
    /// `authorize`, `capture`, `cancel` or `refund`.
    pub operation: String,
    /// The idempotency key sent to the gateway: derived, never the merchant's.
    pub gateway_idempotency_key: String,
    pub amount: i64,
    pub outcome: AttemptOutcome,
    pub provider_reference: Option<String>,
    pub error_code: Option<String>,
    pub latency_ms: Option<u64>,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus::*;

    #[test]
    fn transitions_only_move_forward() {
        assert!(Processing.can_move_to(Authorized));
        assert!(Authorized.can_move_to(Captured));
        assert!(Captured.can_move_to(PartiallyRefunded));
        assert!(PartiallyRefunded.can_move_to(Refunded));
        assert!(!Captured.can_move_to(Authorized), "late authorization");
        assert!(
            !CapturePending.can_move_to(Authorized),
            "late authorization"
        );
        assert!(!VoidPending.can_move_to(Authorized), "late authorization");
        assert!(!Refunded.can_move_to(Captured));
        assert!(!Voided.can_move_to(Captured));
        assert!(!Failed.can_move_to(Authorized));
        assert!(!Captured.can_move_to(Captured));
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for s in super::ALL_STATUSES {
            assert_eq!(super::PaymentStatus::parse(s.as_str()), Some(s));
        }
    }
}
