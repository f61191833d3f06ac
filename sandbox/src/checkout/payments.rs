//! `POST /payments` (request a payment), `GET /payments/{id}` (get payment
//! details) and `GET /payments?reference=` (get payment lists): validation,
//! the scripted card outcome mapped to Checkout.com's response codes, the
//! ledger entry and the `payment_*` events.

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::super::cards::{CardNumber, CardOutcome, DeclineReason, expiry_ok, full_year};
use super::super::currency;
use super::super::ledger::{ChargeStatus, Dialect, LedgerEntry};
use super::super::state::{Sandbox, lock};
use super::super::wire::{SimReply, SimRequest, now_unix, rfc3339_now};
use super::{CheckoutPayment, EventData, bare, invalid, link, string_metadata};

/// Checkout.com's `reference` limit (API reference: "max 80 characters"
/// on the current platform's payment request).
const MAX_REFERENCE: usize = 80;
/// Get payment lists: `limit` defaults to 10 and is at most 100.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// `(response_code, response_summary)` from "API response codes": 10000
/// approved; 20005 do not honour, 20051 insufficient funds, 20054 expired
/// card; 20087 "Bad Track Data" (CVV/expiry) stands for the incorrect-CVC
/// card, our closest match.
pub(crate) const APPROVED: (&str, &str) = ("10000", "Approved");

fn decline_code(reason: DeclineReason) -> (&'static str, &'static str) {
    match reason {
        DeclineReason::Generic => ("20005", "Declined - Do not honour"),
        DeclineReason::InsufficientFunds => ("20051", "Insufficient Funds"),
        DeclineReason::ExpiredCard => ("20054", "Expired Card"),
        DeclineReason::IncorrectCvc => ("20087", "Bad Track Data"),
    }
}

/// What the request asked for, once valid.
struct Request {
    amount: i64,
    currency: String,
    reference: Option<String>,
    capture: bool,
    three_ds: bool,
    metadata: Map<String, Value>,
    outcome: CardOutcome,
    source: Value,
}

/// `POST /payments`: 201 processed (approved or declined), 202 pending.
pub(crate) fn create(sb: &Sandbox, account: &str, body: &Value, key: Option<&str>) -> SimReply {
    let request = match validate(sb, body) {
        Ok(request) => request,
        Err(codes) => return invalid(sb, &codes),
    };
    let id = sb.checkout_id("pay_");
    let action_id = sb.checkout_id("act_");
    let approved = request.outcome == CardOutcome::Approve && !request.three_ds;
    let response = match request.outcome {
        _ if request.three_ds => None,
        CardOutcome::Approve => Some(APPROVED),
        CardOutcome::Decline(reason) => Some(decline_code(reason)),
    };
    let payment = CheckoutPayment {
        account: account.to_string(),
        reference: request.reference.clone(),
        amount: request.amount,
        currency: request.currency.clone(),
        approved,
        pending: request.three_ds,
        captured: if approved && request.capture {
            request.amount
        } else {
            0
        },
        refunded: 0,
        voided: false,
        metadata: request.metadata.clone(),
        source: request.source.clone(),
        response_code: response.map(|(c, _)| c.to_string()),
        response_summary: response.map(|(_, s)| s.to_string()),
        requested_on: rfc3339_now(),
    };
    let mut state = lock(&sb.checkout);
    if !payment.pending {
        sb.record(ledger_entry(&id, &payment, key));
    }
    emit_created(sb, &id, &action_id, &payment);
    let reply = created_reply(&id, &action_id, &payment);
    state.order.push(id.clone());
    state.payments.insert(id, payment);
    reply
}

fn emit_created(sb: &Sandbox, id: &str, action_id: &str, p: &CheckoutPayment) {
    let response = p
        .response_code
        .as_deref()
        .zip(p.response_summary.as_deref());
    let data = |action_id| EventData {
        payment_id: id,
        payment: p,
        action_id,
        amount: p.amount,
        reference: None,
        metadata: None,
        response,
    };
    let kind = match (p.pending, p.approved) {
        (true, _) => "payment_pending",
        (false, true) => "payment_approved",
        (false, false) => "payment_declined",
    };
    sb.emit(data(action_id).event(kind));
    if p.captured > 0 {
        // `capture: true` is a capture action of its own, with its own event.
        let capture_id = sb.checkout_id("act_");
        sb.emit(data(&capture_id).event("payment_captured"));
    }
}

fn created_reply(id: &str, action_id: &str, p: &CheckoutPayment) -> SimReply {
    let mut body = json!({
        "id": id,
        "action_id": action_id,
        "amount": p.amount,
        "currency": p.currency,
        "approved": p.approved,
        "status": p.status(),
        "processed_on": p.requested_on,
        "source": p.source,
        "risk": {"flagged": false},
        "_links": links(id, p),
    });
    if let Some(reference) = &p.reference {
        body["reference"] = json!(reference);
    }
    if let (Some(code), Some(summary)) = (&p.response_code, &p.response_summary) {
        body["response_code"] = json!(code);
        body["response_summary"] = json!(summary);
    }
    if p.approved {
        body["auth_code"] = json!("000000");
    }
    if !p.metadata.is_empty() {
        body["metadata"] = json!(p.metadata);
    }
    let status = if p.pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    SimReply::json(status, &body)
}

/// The actions a payment still allows, as `_links`.
fn links(id: &str, p: &CheckoutPayment) -> Value {
    // No `actions` link: the sandbox does not serve the action history.
    let mut links = json!({"self": link(id, "")});
    if p.available_to_capture() > 0 {
        links["capture"] = link(id, "/captures");
    }
    if p.available_to_void() > 0 {
        links["void"] = link(id, "/voids");
    }
    if p.available_to_refund() > 0 {
        links["refund"] = link(id, "/refunds");
    }
    if p.pending {
        links["redirect"] = json!({"href": format!("/checkout/3ds/{id}")});
    }
    links
}

fn validate(sb: &Sandbox, body: &Value) -> Result<Request, Vec<&'static str>> {
    let mut errors = Vec::new();
    let currency = body.get("currency").and_then(Value::as_str);
    let rule = currency.and_then(currency::checkout);
    match (currency, rule) {
        (None, _) => errors.push("currency_required"),
        (Some(_), None) => errors.push("currency_invalid"),
        _ => {}
    }
    let amount = body.get("amount").and_then(Value::as_i64);
    match (amount, rule) {
        (None, _) => errors.push("amount_required"),
        (Some(a), Some(rule)) if rule.check(a).is_err() => errors.push("amount_invalid"),
        _ => {}
    }
    let reference = body.get("reference").and_then(Value::as_str);
    if reference.is_some_and(|r| r.chars().count() > MAX_REFERENCE) {
        errors.push("reference_invalid");
    }
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            errors.push("metadata_invalid");
            Map::new()
        }
    };
    let capture = match body.get("capture") {
        None => true,
        Some(v) => v.as_bool().unwrap_or_else(|| {
            errors.push("capture_invalid");
            true
        }),
    };
    let source = evaluate_source(sb, body.get("source"), &mut errors);
    match (amount, currency, source) {
        (Some(amount), Some(currency), Some((outcome, source))) if errors.is_empty() => {
            Ok(Request {
                amount,
                currency: currency.to_string(),
                reference: reference.map(str::to_string),
                capture,
                three_ds: body.pointer("/3ds/enabled").and_then(Value::as_bool) == Some(true),
                metadata,
                outcome,
                source,
            })
        }
        _ => Err(errors),
    }
}

/// The scripted outcome of the `source` and its response form; pushes the
/// error codes of what is wrong.
fn evaluate_source(
    sb: &Sandbox,
    source: Option<&Value>,
    errors: &mut Vec<&'static str>,
) -> Option<(CardOutcome, Value)> {
    let Some(source) = source.filter(|s| s.is_object()) else {
        errors.push("payment_source_required");
        return None;
    };
    let field = |name: &str| source.get(name).and_then(Value::as_str);
    match field("type") {
        Some("card") => card(sb, source, errors),
        Some("token") if field("token").is_some_and(|t| t.starts_with("tok_")) => {
            let shown = json!({"type": "card", "id": sb.checkout_id("src_")});
            Some((CardOutcome::Approve, shown))
        }
        Some("token") => {
            errors.push("token_invalid");
            None
        }
        Some("id") if field("id").is_some_and(|t| t.starts_with("src_")) => Some((
            CardOutcome::Approve,
            json!({"type": "card", "id": field("id")}),
        )),
        Some("id") => {
            errors.push("source_id_invalid");
            None
        }
        _ => {
            errors.push("payment_source_type_invalid");
            None
        }
    }
}

fn card(
    sb: &Sandbox,
    source: &Value,
    errors: &mut Vec<&'static str>,
) -> Option<(CardOutcome, Value)> {
    let number = source
        .get("number")
        .and_then(Value::as_str)
        .and_then(CardNumber::parse)
        .filter(CardNumber::luhn_valid);
    if number.is_none() {
        errors.push("card_number_invalid");
    }
    let month = source
        .get("expiry_month")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| (1..=12).contains(m));
    if month.is_none() {
        errors.push("card_expiry_month_invalid");
    }
    let year = source
        .get("expiry_year")
        .and_then(Value::as_i64)
        .and_then(|y| i32::try_from(y).ok());
    if year.is_none() {
        errors.push("card_expiry_year_invalid");
    }
    let cvv = source.get("cvv").map(|c| c.as_str().unwrap_or(""));
    if cvv.is_some_and(|c| !((3..=4).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))) {
        errors.push("cvv_invalid");
    }
    let (number, month, year) = (number?, month?, year?);
    let outcome = if expiry_ok(month, full_year(year)) {
        number.outcome()
    } else {
        CardOutcome::Decline(DeclineReason::ExpiredCard)
    };
    let shown = json!({
        "type": "card",
        "id": sb.checkout_id("src_"),
        "expiry_month": month,
        "expiry_year": year,
        "scheme": scheme(number.brand()),
        "last4": number.last4(),
    });
    Some((outcome, shown))
}

fn scheme(brand: &str) -> &'static str {
    match brand {
        "visa" => "Visa",
        "mastercard" => "Mastercard",
        "amex" => "Amex",
        "discover" => "Discover",
        _ => "Unknown",
    }
}

fn ledger_entry(id: &str, p: &CheckoutPayment, key: Option<&str>) -> LedgerEntry {
    LedgerEntry {
        dialect: Dialect::Checkout,
        id: id.to_string(),
        amount: p.amount,
        currency: p.currency.clone(),
        status: if p.approved {
            ChargeStatus::Authorized
        } else {
            ChargeStatus::Declined
        },
        live: p.approved,
        amount_captured: p.captured,
        amount_refunded: 0,
        idempotency_key: key.map(str::to_string),
        reference: p.reference.clone(),
        metadata: string_metadata(&p.metadata),
        payment_method: "card".to_string(),
        decline_reason: (!p.approved).then(|| p.response_summary.clone()).flatten(),
        dispute_status: None,
        created_at: now_unix(),
    }
}

/// Get payment details; another account's payment is as unknown as a
/// missing one.
pub(crate) fn retrieve(sb: &Sandbox, account: &str, id: &str) -> SimReply {
    let state = lock(&sb.checkout);
    match state.payments.get(id).filter(|p| p.account == account) {
        Some(p) => SimReply::json(StatusCode::OK, &details(id, p)),
        None => bare(StatusCode::NOT_FOUND),
    }
}

/// The payment details object, with `balances`.
pub(crate) fn details(id: &str, p: &CheckoutPayment) -> Value {
    let mut body = json!({
        "id": id,
        "requested_on": p.requested_on,
        "source": p.source,
        "amount": p.amount,
        "currency": p.currency,
        "payment_type": "Regular",
        "status": p.status(),
        "approved": p.approved,
        "balances": {
            "total_authorized": if p.approved { p.amount } else { 0 },
            "total_voided": if p.voided { p.amount } else { 0 },
            "available_to_void": p.available_to_void(),
            "total_captured": p.captured,
            "available_to_capture": p.available_to_capture(),
            "total_refunded": p.refunded,
            "available_to_refund": p.available_to_refund(),
        },
        "metadata": p.metadata,
        "_links": links(id, p),
    });
    if let Some(reference) = &p.reference {
        body["reference"] = json!(reference);
    }
    if let (Some(code), Some(summary)) = (&p.response_code, &p.response_summary) {
        body["response_code"] = json!(code);
        body["response_summary"] = json!(summary);
    }
    body
}

/// Get payment lists by `reference`, newest first:
/// `{"limit","skip","total_count","data":[details...]}`.
pub(crate) fn list(sb: &Sandbox, account: &str, req: &SimRequest) -> SimReply {
    let Some(reference) = req.query_param("reference").filter(|r| !r.is_empty()) else {
        return invalid(sb, &["reference_required"]);
    };
    let number = |name: &str, default: usize| match req.query_param(name) {
        None => Some(default),
        Some(raw) => raw.parse::<usize>().ok(),
    };
    let limit = number("limit", DEFAULT_LIMIT).filter(|l| (1..=MAX_LIMIT).contains(l));
    let (Some(limit), Some(skip)) = (limit, number("skip", 0)) else {
        return invalid(sb, &["paging_invalid"]);
    };
    let state = lock(&sb.checkout);
    let matching: Vec<Value> = state
        .order
        .iter()
        .rev()
        .filter_map(|id| Some((id, state.payments.get(id)?)))
        .filter(|(_, p)| p.account == account && p.reference.as_deref() == Some(&reference))
        .map(|(id, p)| details(id, p))
        .collect();
    let total = matching.len();
    let data: Vec<Value> = matching.into_iter().skip(skip).take(limit).collect();
    SimReply::json(
        StatusCode::OK,
        &json!({"limit": limit, "skip": skip, "total_count": total, "data": data}),
    )
}
