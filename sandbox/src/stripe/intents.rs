//! PaymentIntents: create (optionally confirming), confirm, capture, cancel
//! and retrieve, with the state machine from Stripe's reference.

use serde_json::{Value, json};

use super::super::cards::CardOutcome;
use super::super::form::Form;
use super::super::ledger::{ChargeStatus, Dialect, LedgerEntry, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::super::wire::now_unix;
use super::disputes;
use super::error::StripeError;
use super::methods;
use super::objects::{Charge, Intent, IntentStatus, MethodDetails, StripeState};
use super::params::{self, INTENT_CANCEL, INTENT_CAPTURE, INTENT_CONFIRM, INTENT_CREATE};

const CAPTURE_METHODS: &[&str] = &["automatic", "automatic_async", "manual"];

/// `POST /v1/payment_intents`.
pub(crate) fn create(
    sb: &Sandbox,
    account: &str,
    form: &Form,
    key: Option<&str>,
) -> Result<Value, StripeError> {
    params::check_known(form, INTENT_CREATE)?;
    let (amount, currency) = params::amount_and_currency(form)?;
    let capture_method = params::one_of(form, "capture_method", CAPTURE_METHODS)?
        .unwrap_or_else(|| "automatic".to_string());
    let confirm = params::boolean(form, "confirm")?.unwrap_or(false);
    let mut st = lock(&sb.stripe);
    let payment_method = attach_method(sb, &mut st, form)?;
    let types = payment_method_types(&st, form, payment_method.as_deref())?;
    let intent = Intent {
        id: sb.stripe_id("pi_"),
        amount,
        currency,
        status: match payment_method {
            Some(_) => IntentStatus::RequiresConfirmation,
            None => IntentStatus::RequiresPaymentMethod,
        },
        capture_method,
        amount_capturable: 0,
        amount_received: 0,
        amount_refunded: 0,
        payment_method,
        payment_method_types: types,
        charges: Vec::new(),
        last_payment_error: None,
        metadata: form.string_map("metadata"),
        description: form.str(&["description"]).map(str::to_string),
        created: now_unix(),
        canceled_at: None,
        cancellation_reason: None,
        dispute_on_capture: false,
        account: account.to_string(),
    };
    let id = intent.id.clone();
    st.intents.insert(id.clone(), intent);
    if confirm {
        confirm_locked(sb, &mut st, &id, key)?;
    }
    Ok(st.intents[&id].json(params::expands_charge(form)))
}

/// `POST /v1/payment_intents/{id}/confirm`.
pub(crate) fn confirm(
    sb: &Sandbox,
    id: &str,
    form: &Form,
    key: Option<&str>,
) -> Result<Value, StripeError> {
    params::check_known(form, INTENT_CONFIRM)?;
    let mut st = lock(&sb.stripe);
    if !st.intents.contains_key(id) {
        return Err(StripeError::no_such("payment_intent", id, "intent"));
    }
    if let Some(pm) = attach_method(sb, &mut st, form)?
        && let Some(intent) = st.intents.get_mut(id)
    {
        intent.payment_method = Some(pm);
    }
    if let Some(method) = params::one_of(form, "capture_method", CAPTURE_METHODS)?
        && let Some(intent) = st.intents.get_mut(id)
    {
        intent.capture_method = method;
    }
    confirm_locked(sb, &mut st, id, key)?;
    Ok(st.intents[id].json(params::expands_charge(form)))
}

/// `payment_method` or `payment_method_data[...]`, resolved to a stored pm id.
fn attach_method(
    sb: &Sandbox,
    st: &mut StripeState,
    form: &Form,
) -> Result<Option<String>, StripeError> {
    match (
        form.str(&["payment_method"]),
        form.get(&["payment_method_data"]),
    ) {
        (Some(_), Some(_)) => Err(StripeError::invalid(
            "You cannot provide both payment_method and payment_method_data.",
        )),
        (Some(id), None) => methods::resolve(sb, st, id).map(Some),
        (None, Some(_)) => {
            let pm = methods::build(sb, form, Some("payment_method_data"))?;
            let id = pm.id.clone();
            st.payment_methods.insert(id.clone(), pm);
            Ok(Some(id))
        }
        (None, None) => Ok(None),
    }
}

/// Explicit `payment_method_types` must admit the attached method; without
/// them Stripe defaults to the method's own type (or `card`).
fn payment_method_types(
    st: &StripeState,
    form: &Form,
    pm: Option<&str>,
) -> Result<Vec<String>, StripeError> {
    let kind = pm
        .and_then(|id| st.payment_methods.get(id))
        .map(|pm| pm.kind());
    let explicit = form.string_list("payment_method_types");
    if explicit.is_empty() {
        return Ok(vec![kind.unwrap_or("card").to_string()]);
    }
    match kind {
        Some(kind) if !explicit.iter().any(|t| t == kind) => Err(StripeError::invalid(format!(
            "The PaymentMethod provided ({kind}) is not allowed for this PaymentIntent. Allowed types: {}.",
            explicit.join(", ")
        ))
        .code("payment_intent_incompatible_payment_method")
        .param("payment_method")),
        _ => Ok(explicit),
    }
}

/// Runs the charge: updates the intent, the ledger and the outbox. A decline
/// is returned as the 402 card error carrying the intent.
fn confirm_locked(
    sb: &Sandbox,
    st: &mut StripeState,
    id: &str,
    key: Option<&str>,
) -> Result<(), StripeError> {
    let Some(intent) = st.intents.get(id) else {
        return Err(StripeError::no_such("payment_intent", id, "intent"));
    };
    if !matches!(
        intent.status,
        IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation
    ) {
        return Err(StripeError::unexpected_state(format!(
            "You cannot confirm this PaymentIntent because it has a status of {}.",
            intent.status.as_str()
        )));
    }
    let pm_id = intent.payment_method.clone().ok_or_else(|| {
        StripeError::unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. \
             Update the PaymentIntent with a payment_method and then confirm it again.",
        )
    })?;
    let Some(pm) = st.payment_methods.get(&pm_id).cloned() else {
        return Err(StripeError::no_such(
            "PaymentMethod",
            &pm_id,
            "payment_method",
        ));
    };
    let (outcome, disputes) = match &pm.details {
        MethodDetails::Card { number, .. } => (number.outcome(), number.disputes()),
        MethodDetails::SepaDebit { .. } => (CardOutcome::Approve, false),
    };
    let charge_id = sb.stripe_id("ch_");
    st.charge_owner.insert(charge_id.clone(), id.to_string());
    let Some(intent) = st.intents.get_mut(id) else {
        return Err(StripeError::no_such("payment_intent", id, "intent"));
    };
    let mut entry = ledger_entry(intent, pm.kind(), key);
    match outcome {
        CardOutcome::Approve => {
            intent.dispute_on_capture = disputes;
            approve(intent, charge_id, pm.kind() == "sepa_debit", &mut entry);
            sb.record(entry);
            sb.emit(event(intent, stripe_event_for(intent.status), true, key));
            if intent.status == IntentStatus::Succeeded {
                disputes::open_if_disputed(sb, st, id);
            }
            Ok(())
        }
        CardOutcome::Decline(reason) => {
            let (code, decline_code, message, param) = reason.stripe();
            intent.charges.push(Charge {
                id: charge_id.clone(),
                amount: intent.amount,
                status: "failed",
                failure_code: Some(code),
                failure_message: Some(message.to_string()),
                created: now_unix(),
            });
            let mut error = StripeError::card(code, decline_code, message)
                .with("charge", json!(charge_id))
                .with("payment_method", pm.json());
            if let Some(param) = param {
                error = error.param(param);
            }
            intent.last_payment_error = Some(error.body());
            intent.payment_method = None;
            intent.status = IntentStatus::RequiresPaymentMethod;
            entry.status = ChargeStatus::Declined;
            entry.decline_reason = Some(decline_code.to_string());
            sb.record(entry);
            sb.emit(event(intent, "payment_intent.payment_failed", false, key));
            Err(error.with("payment_intent", intent.json(false)))
        }
    }
}

fn approve(intent: &mut Intent, charge_id: String, sepa: bool, entry: &mut LedgerEntry) {
    let charge_status = if sepa { "pending" } else { "succeeded" };
    intent.charges.push(Charge {
        id: charge_id,
        amount: intent.amount,
        status: charge_status,
        failure_code: None,
        failure_message: None,
        created: now_unix(),
    });
    intent.last_payment_error = None;
    if sepa {
        // SEPA debits settle later; the gateway has taken the charge.
        intent.status = IntentStatus::Processing;
        entry.amount_captured = intent.amount;
    } else if intent.capture_method == "manual" {
        intent.status = IntentStatus::RequiresCapture;
        intent.amount_capturable = intent.amount;
    } else {
        intent.status = IntentStatus::Succeeded;
        intent.amount_received = intent.amount;
        entry.amount_captured = intent.amount;
    }
}

fn stripe_event_for(status: IntentStatus) -> &'static str {
    match status {
        IntentStatus::RequiresCapture => "payment_intent.amount_capturable_updated",
        IntentStatus::Processing => "payment_intent.processing",
        _ => "payment_intent.succeeded",
    }
}

fn ledger_entry(intent: &Intent, method: &str, key: Option<&str>) -> LedgerEntry {
    LedgerEntry {
        dialect: Dialect::Stripe,
        id: intent.id.clone(),
        amount: intent.amount,
        currency: intent.currency.to_ascii_uppercase(),
        status: ChargeStatus::Authorized,
        live: true,
        amount_captured: 0,
        amount_refunded: 0,
        idempotency_key: key.map(str::to_string),
        reference: None,
        metadata: intent.metadata.clone(),
        payment_method: method.to_string(),
        decline_reason: None,
        dispute_status: None,
        created_at: now_unix(),
    }
}

/// An event about `intent`, carrying the intent as it is now.
pub(crate) fn event(intent: &Intent, name: &str, success: bool, key: Option<&str>) -> OutboxEvent {
    let mut event = OutboxEvent::new(
        Dialect::Stripe,
        name,
        &intent.id,
        intent.amount,
        &intent.currency,
        success,
    );
    event.object = Some(intent.json(false));
    event.idempotency_key = key.map(str::to_string);
    event.stripe_account = Some(intent.account.clone());
    event
}

/// `POST /v1/payment_intents/{id}/capture`.
pub(crate) fn capture(
    sb: &Sandbox,
    id: &str,
    form: &Form,
    key: Option<&str>,
) -> Result<Value, StripeError> {
    params::check_known(form, INTENT_CAPTURE)?;
    let requested = params::positive(form, "amount_to_capture")?;
    let mut st = lock(&sb.stripe);
    let intent = st
        .intents
        .get_mut(id)
        .ok_or_else(|| StripeError::no_such("payment_intent", id, "intent"))?;
    if intent.status != IntentStatus::RequiresCapture {
        return Err(StripeError::unexpected_state(format!(
            "This PaymentIntent could not be captured because it has a status of {}. \
             Only a PaymentIntent with one of the following statuses may be acted upon: requires_capture.",
            intent.status.as_str()
        )));
    }
    let amount = requested.unwrap_or(intent.amount_capturable);
    if amount > intent.amount_capturable {
        return Err(StripeError::invalid(format!(
            "The amount_to_capture must be less than or equal to the PaymentIntent's amount_capturable ({}).",
            intent.amount_capturable
        ))
        .code("amount_too_large")
        .param("amount_to_capture"));
    }
    intent.amount_received = amount;
    intent.amount_capturable = 0;
    intent.status = IntentStatus::Succeeded;
    sb.update_ledger(id, |e| e.amount_captured = amount);
    sb.emit(event(intent, "payment_intent.succeeded", true, key));
    let body = intent.json(params::expands_charge(form));
    disputes::open_if_disputed(sb, &mut st, id);
    Ok(body)
}

/// `POST /v1/payment_intents/{id}/cancel`.
pub(crate) fn cancel(
    sb: &Sandbox,
    id: &str,
    form: &Form,
    key: Option<&str>,
) -> Result<Value, StripeError> {
    params::check_known(form, INTENT_CANCEL)?;
    let reason = params::one_of(
        form,
        "cancellation_reason",
        &[
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ],
    )?;
    let mut st = lock(&sb.stripe);
    let intent = st
        .intents
        .get_mut(id)
        .ok_or_else(|| StripeError::no_such("payment_intent", id, "intent"))?;
    if !matches!(
        intent.status,
        IntentStatus::RequiresPaymentMethod
            | IntentStatus::RequiresConfirmation
            | IntentStatus::RequiresCapture
    ) {
        return Err(StripeError::unexpected_state(format!(
            "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with \
             one of the following statuses may be canceled: requires_payment_method, requires_capture, \
             requires_confirmation, requires_action, processing.",
            intent.status.as_str()
        )));
    }
    intent.status = IntentStatus::Canceled;
    intent.canceled_at = Some(now_unix());
    intent.cancellation_reason = reason;
    intent.amount_capturable = 0;
    sb.update_ledger(id, |e| {
        if e.status == ChargeStatus::Authorized {
            e.status = ChargeStatus::Voided;
        }
    });
    sb.emit(event(intent, "payment_intent.canceled", true, key));
    Ok(intent.json(params::expands_charge(form)))
}

/// `GET /v1/payment_intents/{id}`.
pub(crate) fn retrieve(sb: &Sandbox, id: &str, query: &Form) -> Result<Value, StripeError> {
    let st = lock(&sb.stripe);
    st.intents
        .get(id)
        .map(|intent| intent.json(params::expands_charge(query)))
        .ok_or_else(|| StripeError::no_such("payment_intent", id, "intent"))
}
