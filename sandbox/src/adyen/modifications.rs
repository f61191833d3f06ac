//! Payment modifications: `/payments/{psp}/captures`, `/cancels`, `/refunds`
//! and `/reversals` (cancel or refund, whichever applies; its
//! `CANCEL_OR_REFUND` event says which in `modification.action`).
//! Adyen answers 201 `received` at once and reports the real outcome later
//! by webhook; the sandbox applies the outcome to the ledger now and queues
//! the webhook event (success or failure) in the outbox.

use serde_json::{Value, json};

use super::super::ledger::{ChargeStatus, Dialect, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::super::wire::SimReply;
use super::payments::amount;
use super::{AdyenPayment, disputes, invalid_merchant, merchant_account, validation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Capture,
    Cancel,
    Refund,
    Reversal,
}

impl Kind {
    pub fn from_path(segment: &str) -> Option<Kind> {
        match segment {
            "captures" => Some(Kind::Capture),
            "cancels" => Some(Kind::Cancel),
            "refunds" => Some(Kind::Refund),
            "reversals" => Some(Kind::Reversal),
            _ => None,
        }
    }

    fn event_code(self) -> &'static str {
        match self {
            Kind::Capture => "CAPTURE",
            Kind::Cancel => "CANCELLATION",
            Kind::Refund => "REFUND",
            Kind::Reversal => "CANCEL_OR_REFUND",
        }
    }
}

/// Applies a modification and returns the 201 body.
pub(crate) fn apply(sb: &Sandbox, psp: &str, kind: Kind, body: &Value) -> Result<Value, SimReply> {
    let account = merchant_account(sb, body)?;
    let requested = match kind {
        Kind::Cancel | Kind::Reversal => None,
        Kind::Capture | Kind::Refund => Some(amount(sb, body)?),
    };
    let mut adyen = lock(&sb.adyen);
    let payment = adyen.payments.get_mut(psp).ok_or_else(|| {
        validation(
            sb,
            "167",
            "Original pspReference required for this operation",
        )
    })?;
    if payment.merchant_account != account {
        return Err(invalid_merchant(sb));
    }
    if let Some((_, currency)) = &requested
        && *currency != payment.currency
    {
        return Err(validation(
            sb,
            "137",
            "Invalid amount specified: currency differs from the payment",
        ));
    }
    let mut value = requested.as_ref().map(|(v, _)| *v);
    let mut action = None;
    let success = match kind {
        Kind::Capture => capture(sb, psp, payment, value.unwrap_or(0))?,
        Kind::Cancel => cancel(sb, psp, payment),
        Kind::Refund => refund(sb, psp, payment, value.unwrap_or(0))?,
        Kind::Reversal => {
            let (done, what, amount) = reverse(sb, psp, payment)?;
            action = what;
            value = amount;
            done
        }
    };
    let modification = sb.psp_reference();
    let mut event = OutboxEvent::new(
        Dialect::Adyen,
        kind.event_code(),
        &modification,
        value.unwrap_or(payment.amount),
        &payment.currency,
        success,
    );
    event.original_reference = Some(psp.to_string());
    event.merchant_account = Some(payment.merchant_account.clone());
    // The modification's own `reference` when it sent one, as Adyen echoes.
    event.merchant_reference = Some(
        body.get("reference")
            .and_then(Value::as_str)
            .unwrap_or(&payment.reference)
            .to_string(),
    );
    event.payment_method = Some(payment.variant.clone());
    event.modification_action = action.map(str::to_string);
    event.reason =
        (!success).then(|| "Modification not allowed in the payment's current state".into());
    sb.emit(event);
    if kind == Kind::Capture && success {
        disputes::open_if_disputed(sb, psp, payment);
    }
    let mut response = json!({
        "merchantAccount": payment.merchant_account,
        "paymentPspReference": psp,
        "pspReference": modification,
        "status": "received",
    });
    if let Some(reference) = body.get("reference").and_then(Value::as_str) {
        response["reference"] = json!(reference);
    }
    if let Some((value, currency)) = requested {
        response["amount"] = json!({"currency": currency, "value": value});
    }
    if let (Kind::Refund, Some(reason)) = (kind, body.get("merchantRefundReason")) {
        response["merchantRefundReason"] = reason.clone();
    }
    Ok(response)
}

/// Captures up to the uncaptured authorised amount. A payment that cannot be
/// captured (refused, cancelled, auto-captured) is accepted and fails later.
fn capture(
    sb: &Sandbox,
    psp: &str,
    payment: &mut AdyenPayment,
    value: i64,
) -> Result<bool, SimReply> {
    let capturable = payment.authorised && payment.manual_capture && !payment.cancelled;
    let remaining = payment.amount - payment.captured;
    if !capturable || remaining <= 0 {
        return Ok(false);
    }
    if value > remaining {
        return Err(validation(
            sb,
            "137",
            "Invalid amount specified: exceeds the uncaptured amount",
        ));
    }
    payment.captured += value;
    let captured = payment.captured;
    sb.update_ledger(psp, |e| e.amount_captured = captured);
    Ok(true)
}

/// Refunds what was captured and not yet refunded, else cancels the
/// authorization: `(success, modification.action, amount refunded)`.
fn reverse(
    sb: &Sandbox,
    psp: &str,
    payment: &mut AdyenPayment,
) -> Result<(bool, Option<&'static str>, Option<i64>), SimReply> {
    let outstanding = payment.captured - payment.refunded;
    if outstanding > 0 {
        refund(sb, psp, payment, outstanding)?;
        return Ok((true, Some("refund"), Some(outstanding)));
    }
    let cancelled = cancel(sb, psp, payment);
    Ok((cancelled, cancelled.then_some("cancel"), None))
}

fn cancel(sb: &Sandbox, psp: &str, payment: &mut AdyenPayment) -> bool {
    if !payment.authorised || payment.cancelled || payment.captured > 0 {
        return false;
    }
    payment.cancelled = true;
    sb.update_ledger(psp, |e| e.status = ChargeStatus::Voided);
    true
}

fn refund(
    sb: &Sandbox,
    psp: &str,
    payment: &mut AdyenPayment,
    value: i64,
) -> Result<bool, SimReply> {
    if value > payment.captured - payment.refunded {
        return Err(validation(
            sb,
            "137",
            "Invalid amount specified: exceeds the captured amount not yet refunded",
        ));
    }
    payment.refunded += value;
    let refunded = payment.refunded;
    sb.update_ledger(psp, |e| e.amount_refunded = refunded);
    Ok(true)
}
