//! Stripe's objects as the sandbox keeps them (PaymentMethod, PaymentIntent
//! with its charges, Refund, Dispute) and their JSON shapes from the API
//! reference.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::super::cards::CardNumber;

#[derive(Debug, Default)]
pub(crate) struct StripeState {
    pub payment_methods: HashMap<String, PaymentMethod>,
    pub intents: HashMap<String, Intent>,
    /// `ch_...` → owning `pi_...`, for refunds by charge.
    pub charge_owner: HashMap<String, String>,
    pub refunds: HashMap<String, Refund>,
    /// Disputes by the disputed PaymentIntent's id (one per intent).
    pub disputes: HashMap<String, Dispute>,
}

#[derive(Debug, Clone)]
pub(crate) enum MethodDetails {
    /// The number stays in memory for the test-card outcome; the CVC is
    /// never kept (only whether one was given).
    Card {
        number: CardNumber,
        exp_month: u32,
        exp_year: i32,
    },
    SepaDebit {
        last4: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct PaymentMethod {
    pub id: String,
    pub details: MethodDetails,
    pub billing_name: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created: i64,
}

impl PaymentMethod {
    pub fn kind(&self) -> &'static str {
        match self.details {
            MethodDetails::Card { .. } => "card",
            MethodDetails::SepaDebit { .. } => "sepa_debit",
        }
    }

    pub fn json(&self) -> Value {
        let mut pm = json!({
            "id": self.id,
            "object": "payment_method",
            "type": self.kind(),
            "billing_details": {
                "address": null, "email": null, "name": self.billing_name, "phone": null
            },
            "created": self.created,
            "customer": null,
            "livemode": false,
            "metadata": self.metadata,
        });
        let (key, details) = match &self.details {
            MethodDetails::Card {
                number,
                exp_month,
                exp_year,
            } => (
                "card",
                json!({
                    "brand": number.brand(), "country": "US", "exp_month": exp_month,
                    "exp_year": exp_year, "funding": "credit", "last4": number.last4(),
                    "checks": {"address_line1_check": null, "address_postal_code_check": null,
                               "cvc_check": "pass"},
                }),
            ),
            MethodDetails::SepaDebit { last4 } => (
                "sepa_debit",
                json!({"bank_code": "37040044", "country": "DE", "last4": last4}),
            ),
        };
        pm[key] = details;
        pm
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresCapture,
    Processing,
    Succeeded,
    Canceled,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::RequiresPaymentMethod => "requires_payment_method",
            IntentStatus::RequiresConfirmation => "requires_confirmation",
            IntentStatus::RequiresCapture => "requires_capture",
            IntentStatus::Processing => "processing",
            IntentStatus::Succeeded => "succeeded",
            IntentStatus::Canceled => "canceled",
        }
    }
}

/// One charge attempt on an intent.
#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub id: String,
    pub amount: i64,
    pub status: &'static str,
    pub failure_code: Option<&'static str>,
    pub failure_message: Option<String>,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Intent {
    pub id: String,
    pub amount: i64,
    /// Lower-case, as Stripe returns it.
    pub currency: String,
    pub status: IntentStatus,
    pub capture_method: String,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub amount_refunded: i64,
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub charges: Vec<Charge>,
    pub last_payment_error: Option<Value>,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    pub created: i64,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    /// Confirmed with the dispute test card: disputed once captured.
    pub dispute_on_capture: bool,
    /// The secret key it was created with: its account, whose webhook
    /// endpoint gets its events.
    pub account: String,
}

impl Intent {
    pub fn latest_charge(&self) -> Option<&Charge> {
        self.charges.last()
    }

    pub fn json(&self, expand_charge: bool) -> Value {
        let latest = match self.latest_charge() {
            Some(charge) if expand_charge => self.charge_json(charge),
            Some(charge) => json!(charge.id),
            None => Value::Null,
        };
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_received": self.amount_received,
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "capture_method": self.capture_method,
            "client_secret": format!("{}_secret_sandbox", self.id),
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": null,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": latest,
            "livemode": false,
            "metadata": self.metadata,
            "next_action": null,
            "payment_method": self.payment_method,
            "payment_method_types": self.payment_method_types,
            "status": self.status.as_str(),
        })
    }

    pub fn charge_json(&self, charge: &Charge) -> Value {
        let paid = charge.status == "succeeded";
        let captured = paid && self.amount_received > 0;
        json!({
            "id": charge.id,
            "object": "charge",
            "amount": charge.amount,
            "amount_captured": if captured { self.amount_received } else { 0 },
            "amount_refunded": self.amount_refunded,
            "captured": captured,
            "created": charge.created,
            "currency": self.currency,
            "failure_code": charge.failure_code,
            "failure_message": charge.failure_message,
            "livemode": false,
            "metadata": self.metadata,
            "outcome": {
                "network_status": if charge.status == "failed" { "declined_by_network" } else { "approved_by_network" },
                "type": if charge.status == "failed" { "issuer_declined" } else { "authorized" },
                "seller_message": if charge.status == "failed" { "The bank did not return any further details with this decline." } else { "Payment complete." },
            },
            "paid": paid,
            "payment_intent": self.id,
            "payment_method": self.payment_method,
            "refunded": self.amount_refunded > 0 && self.amount_refunded >= self.amount_received,
            "status": charge.status,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub status: &'static str,
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created: i64,
    /// The intent's account.
    pub account: String,
}

impl Refund {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": null,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": null,
            "status": self.status,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    /// `needs_response`, then `won` or `lost`.
    pub status: &'static str,
    pub created: i64,
    /// The intent's account.
    pub account: String,
}

/// A dispute must be answered within about a week in test mode.
const EVIDENCE_WINDOW_SECS: i64 = 7 * 24 * 3600;

impl Dispute {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "evidence_details": {
                "due_by": self.created + EVIDENCE_WINDOW_SECS,
                "has_evidence": false,
                "past_due": false,
                "submission_count": 0,
            },
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": {},
            "payment_intent": self.payment_intent,
            "reason": "fraudulent",
            "status": self.status,
        })
    }
}
