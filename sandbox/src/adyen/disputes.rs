//! Chargebacks on the dispute test card (`4000000000000259`): a `CHARGEBACK`
//! notification right after the capture (the AUTHORISATION for
//! auto-captured payments), and on close `CHARGEBACK_REVERSED` (won) or
//! `SECOND_CHARGEBACK` (lost). Each carries the chargeback's own
//! pspReference with the payment's as `originalReference`.

use serde_json::Value;
use serde_json::json;

use super::super::disputes::{DisputeError, DisputeOutcome};
use super::super::ledger::{Dialect, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::{AdyenPayment, Chargeback};

/// The scheme's reason for the test chargeback (Visa 10.4).
const CHARGEBACK_REASON: &str = "Other Fraud-Card Absent Environment";

/// Charges back a captured dispute-card payment once.
pub(crate) fn open_if_disputed(sb: &Sandbox, psp: &str, payment: &mut AdyenPayment) {
    if !payment.dispute_on_capture || payment.chargeback.is_some() || payment.captured <= 0 {
        return;
    }
    let chargeback = Chargeback {
        psp: sb.psp_reference(),
        amount: payment.captured,
        status: "needs_response",
    };
    sb.update_ledger(psp, |e| e.dispute_status = Some(chargeback.status.into()));
    sb.emit(chargeback_event(psp, payment, &chargeback, "CHARGEBACK"));
    payment.chargeback = Some(chargeback);
}

/// Closes the open chargeback on payment `psp`.
pub(crate) fn close(
    sb: &Sandbox,
    psp: &str,
    outcome: DisputeOutcome,
) -> Result<Value, DisputeError> {
    let mut adyen = lock(&sb.adyen);
    let payment = adyen
        .payments
        .get_mut(psp)
        .ok_or_else(|| DisputeError::NotFound(psp.to_string()))?;
    let mut chargeback = payment
        .chargeback
        .clone()
        .ok_or_else(|| DisputeError::NotFound(psp.to_string()))?;
    if chargeback.status != "needs_response" {
        return Err(DisputeError::AlreadyClosed(psp.to_string()));
    }
    chargeback.status = outcome.as_str();
    let code = match outcome {
        DisputeOutcome::Won => "CHARGEBACK_REVERSED",
        DisputeOutcome::Lost => "SECOND_CHARGEBACK",
    };
    sb.update_ledger(psp, |e| e.dispute_status = Some(outcome.as_str().into()));
    sb.emit(chargeback_event(psp, payment, &chargeback, code));
    let shown = json!({
        "pspReference": chargeback.psp,
        "originalReference": psp,
        "eventCode": code,
        "status": chargeback.status,
        "amount": {"currency": payment.currency, "value": chargeback.amount},
    });
    payment.chargeback = Some(chargeback);
    Ok(shown)
}

fn chargeback_event(
    psp: &str,
    payment: &AdyenPayment,
    chargeback: &Chargeback,
    code: &str,
) -> OutboxEvent {
    let mut event = OutboxEvent::new(
        Dialect::Adyen,
        code,
        &chargeback.psp,
        chargeback.amount,
        &payment.currency,
        true,
    );
    event.original_reference = Some(psp.to_string());
    event.merchant_account = Some(payment.merchant_account.clone());
    event.merchant_reference = Some(payment.reference.clone());
    event.payment_method = Some(payment.variant.clone());
    event.reason = Some(CHARGEBACK_REASON.to_string());
    event
}
