//! `POST /cancels`: the standalone cancel by the payment's own merchant
//! `reference` (`StandalonePaymentCancelRequest`), for when the caller never
//! learnt the payment's pspReference (a timed-out `/payments`).
//!
//! Adyen answers 201 `received` and reports each outcome in a
//! `TECHNICAL_CANCEL` notification (the spec's description of `/cancels`
//! names that event, not `CANCELLATION`). Its `pspReference` is the cancel
//! request's own, `originalReference` the payment's. Per payment with that
//! reference on the same merchant account:
//!
//! - authorised, not captured, not cancelled: cancelled, ledger `voided`,
//!   `success:"true"`;
//! - captured: left alone (refunding is `/reversals`' job),
//!   `success:"false"`, reason `Payment already captured`;
//! - refused or already cancelled: `success:"false"` with that reason.
//!
//! When no payment has that reference yet, the cancel is remembered and
//! applied to the first payment later created with it, right after its
//! `AUTHORISATION` event: an approved payment is then voided at once (also
//! an auto-capture one, whose capture never happens), as Adyen's technical
//! cancel does for a payment still in flight. The `/payments` answer itself
//! still says `Authorised`, since the cancel is asynchronous.

use serde_json::{Value, json};

use super::super::ledger::{ChargeStatus, Dialect, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::super::wire::SimReply;
use super::{AdyenPayment, merchant_account, validation};

/// The notification that reports a `/cancels` outcome.
const EVENT_CODE: &str = "TECHNICAL_CANCEL";
/// The spec's `StandalonePaymentCancelRequest` properties
/// (`additionalProperties: false`).
const FIELDS: &[&str] = &[
    "applicationInfo",
    "enhancedSchemeData",
    "merchantAccount",
    "paymentReference",
    "reference",
];
/// The spec's maximum length of the cancel's own `reference`.
const MAX_REFERENCE: usize = 80;

/// A cancel that arrived before any payment with its reference.
#[derive(Debug, Clone)]
pub(crate) struct PendingCancel {
    /// The pspReference the 201 gave the cancel request.
    pub psp: String,
    /// The cancel's own `reference`, if it sent one.
    pub reference: Option<String>,
}

/// `POST /cancels`: validates, applies or remembers the cancel, answers 201.
pub(crate) fn cancel(sb: &Sandbox, body: &Value) -> Result<Value, SimReply> {
    if let Some(unknown) = body
        .as_object()
        .and_then(|fields| fields.keys().find(|k| !FIELDS.contains(&k.as_str())))
    {
        return Err(validation(
            sb,
            "702",
            &format!(
                "Unexpected input: field '{unknown}' is not part of StandalonePaymentCancelRequest"
            ),
        ));
    }
    let account = merchant_account(sb, body)?;
    let payment_reference = body
        .get("paymentReference")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            validation(
                sb,
                "14_004",
                "Required field 'paymentReference' is not provided.",
            )
        })?;
    let reference = match body.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.chars().count() <= MAX_REFERENCE => Some(r.clone()),
        Some(_) => {
            return Err(validation(
                sb,
                "702",
                "Field 'reference' must be a string of at most 80 characters",
            ));
        }
    };
    let pending = PendingCancel {
        psp: sb.psp_reference(),
        reference,
    };
    apply_or_remember(sb, &account, payment_reference, &pending);
    let mut response = json!({
        "merchantAccount": account,
        "paymentReference": payment_reference,
        "pspReference": pending.psp,
        "status": "received",
    });
    if let Some(reference) = &pending.reference {
        response["reference"] = json!(reference);
    }
    Ok(response)
}

fn apply_or_remember(sb: &Sandbox, account: &str, payment_reference: &str, cancel: &PendingCancel) {
    let mut guard = lock(&sb.adyen);
    let adyen = &mut *guard;
    let mut targets: Vec<(&String, &mut AdyenPayment)> = adyen
        .payments
        .iter_mut()
        .filter(|(_, p)| p.merchant_account == account && p.reference == payment_reference)
        .collect();
    if targets.is_empty() {
        adyen
            .pending_cancels
            .entry((account.to_string(), payment_reference.to_string()))
            .or_default()
            .push(cancel.clone());
        return;
    }
    // Stable order; every notification after the first needs its own
    // pspReference, or receivers would take it for a duplicate.
    targets.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (psp, payment)) in targets.into_iter().enumerate() {
        let modification = if i == 0 {
            cancel.psp.clone()
        } else {
            sb.psp_reference()
        };
        let event = cancel_payment(sb, psp, payment, &modification, cancel.reference.as_deref());
        sb.emit(event);
    }
}

/// Applies the cancels that waited for this payment (just created with
/// their reference), in arrival order.
pub(crate) fn apply_pending(
    sb: &Sandbox,
    psp: &str,
    payment: &mut AdyenPayment,
    pending: Vec<PendingCancel>,
) {
    for cancel in pending {
        let event = cancel_payment(sb, psp, payment, &cancel.psp, cancel.reference.as_deref());
        sb.emit(event);
    }
}

/// Cancels `payment` if it can be, and returns the notification saying so.
fn cancel_payment(
    sb: &Sandbox,
    psp: &str,
    payment: &mut AdyenPayment,
    modification: &str,
    reference: Option<&str>,
) -> OutboxEvent {
    let refusal = if !payment.authorised {
        Some("Payment not authorised")
    } else if payment.cancelled {
        Some("Payment already cancelled")
    } else if payment.captured > 0 {
        Some("Payment already captured")
    } else {
        None
    };
    if refusal.is_none() {
        payment.cancelled = true;
        sb.update_ledger(psp, |e| e.status = ChargeStatus::Voided);
    }
    let mut event = OutboxEvent::new(
        Dialect::Adyen,
        EVENT_CODE,
        modification,
        payment.amount,
        &payment.currency,
        refusal.is_none(),
    );
    event.original_reference = Some(psp.to_string());
    event.merchant_account = Some(payment.merchant_account.clone());
    event.merchant_reference = Some(reference.unwrap_or(&payment.reference).to_string());
    event.payment_method = Some(payment.variant.clone());
    event.reason = refusal.map(str::to_string);
    event
}
