//! Disputes on the dispute test card (`4000000000000259`): opened right after
//! the intent is captured (`charge.dispute.created`, status
//! `needs_response`, reason `fraudulent`), closed through the admin endpoint
//! (`charge.dispute.closed`, status `won` or `lost`).

use serde_json::Value;

use super::super::disputes::{DisputeError, DisputeOutcome};
use super::super::ledger::{Dialect, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::super::wire::now_unix;
use super::objects::{Dispute, StripeState};

/// Opens the dispute if the intent was paid with the dispute card and is
/// not disputed yet.
pub(crate) fn open_if_disputed(sb: &Sandbox, st: &mut StripeState, pi_id: &str) {
    let Some(intent) = st.intents.get(pi_id) else {
        return;
    };
    if !intent.dispute_on_capture || st.disputes.contains_key(pi_id) {
        return;
    }
    let Some(charge) = intent.latest_charge() else {
        return;
    };
    let dispute = Dispute {
        id: sb.stripe_id("dp_"),
        amount: intent.amount_received,
        currency: intent.currency.clone(),
        charge: charge.id.clone(),
        payment_intent: pi_id.to_string(),
        status: "needs_response",
        created: now_unix(),
        account: intent.account.clone(),
    };
    sb.update_ledger(pi_id, |e| e.dispute_status = Some(dispute.status.into()));
    sb.emit(dispute_event(&dispute, "charge.dispute.created"));
    st.disputes.insert(pi_id.to_string(), dispute);
}

/// Closes the open dispute on `pi_id` and returns the dispute object.
pub(crate) fn close(
    sb: &Sandbox,
    pi_id: &str,
    outcome: DisputeOutcome,
) -> Result<Value, DisputeError> {
    let mut st = lock(&sb.stripe);
    let dispute = st
        .disputes
        .get_mut(pi_id)
        .ok_or_else(|| DisputeError::NotFound(pi_id.to_string()))?;
    if dispute.status != "needs_response" {
        return Err(DisputeError::AlreadyClosed(pi_id.to_string()));
    }
    dispute.status = outcome.as_str();
    sb.update_ledger(pi_id, |e| e.dispute_status = Some(outcome.as_str().into()));
    sb.emit(dispute_event(dispute, "charge.dispute.closed"));
    Ok(dispute.json())
}

fn dispute_event(dispute: &Dispute, name: &str) -> OutboxEvent {
    let mut event = OutboxEvent::new(
        Dialect::Stripe,
        name,
        &dispute.id,
        dispute.amount,
        &dispute.currency,
        true,
    );
    event.object = Some(dispute.json());
    event.stripe_account = Some(dispute.account.clone());
    event
}
