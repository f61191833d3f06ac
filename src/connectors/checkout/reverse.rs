//! Checkout.com reversals: undo whatever Checkout.com holds for payroute's
//! payment, captured or not.
//!
//! `POST /payments/{id}/reversals` (the SDKs' `reverse_payment`) lets
//! Checkout.com choose: it voids an authorization and refunds a capture, so
//! payroute need not know the capture state (automatic capture, a late
//! authorization), and no read-then-act race can leave a capture standing.
//! It answers 202 `{action_id}`: Pending, confirmed by `payment_voided` or
//! `payment_refunded`. Checkout.com's idempotency page does not list this
//! endpoint among the idempotent ones, so the key is sent but a retry may be
//! refused ("already reversed"), never doubled: a reversal cannot take money.
//!
//! - With the payment id (an event named it): reverse that payment.
//! - Without (the authorization reply was lost): list the payments under
//!   payroute's reference and reverse each one still live; already released
//!   or declined ones need nothing; a pending one cannot be reversed yet
//!   (Unavailable: nothing was done, try later). Nothing listed is
//!   `Succeeded { provider_reference: "", effect: Voided }`, nothing to
//!   reverse; a failed list moved no money: Unavailable.
//!
//! Each payment's call uses `<key>-<payment id>` when listed, so retries of
//! one reversal replay and two payments never share a key.

use super::lookup::{PaymentState, classify_state};
use super::{CheckoutConnector, classify_action, payment_path, reversal_body};
use crate::domain::outcome::{Effect, Lookup, Outcome};

impl CheckoutConnector {
    /// Reverses the payment `id` (see the module comment).
    pub async fn reverse_payment(&self, id: &str, payment_id: &str, key: &str) -> Outcome {
        let path = match payment_path(id) {
            Ok(p) => format!("{p}/reversals"),
            Err(e) => return e.into(),
        };
        match self.post(&path, &reversal_body(payment_id), key).await {
            Ok(r) => classify_action(r.status, &r.headers, &r.body),
            Err(outcome) => outcome,
        }
    }

    /// Reverses every live payment listed under payroute's reference.
    pub async fn reverse_by_reference(&self, payment_id: &str, key: &str) -> Outcome {
        let payments = match self.list_by_reference(payment_id).await {
            Ok(p) => p,
            Err(lookup) => return list_failed(lookup),
        };
        let mut outcomes = Vec::with_capacity(payments.len());
        for p in &payments {
            let outcome = self.reverse_listed(p, payment_id, key).await;
            tracing::info!(
                gateway = %self.settings.id,
                payment_id,
                payment = %p.id,
                status = %p.status,
                outcome = outcome.label(),
                "checkout.com reversal by reference"
            );
            outcomes.push(outcome);
        }
        Outcome::most_telling(outcomes)
    }

    async fn reverse_listed(&self, p: &PaymentState, payment_id: &str, key: &str) -> Outcome {
        match classify_state(p) {
            Lookup::Found {
                effect: Effect::Voided,
                ..
            }
            | Lookup::Declined(_) => Outcome::Succeeded {
                provider_reference: p.id.clone(),
                effect: Effect::Voided,
            },
            Lookup::Pending { .. } => Outcome::Unavailable {
                reason: format!("payment {} is still pending; nothing reversed", p.id),
            },
            _ => {
                let key = format!("{key}-{}", p.id);
                self.reverse_payment(&p.id, payment_id, &key).await
            }
        }
    }
}

fn list_failed(lookup: Lookup) -> Outcome {
    let reason = match lookup {
        Lookup::Unknown { reason } => reason,
        other => format!("unexpected list result {}", other.label()),
    };
    Outcome::Unavailable {
        reason: format!(
            "could not list the payment's Checkout.com payments, nothing reversed: {reason}"
        ),
    }
}
