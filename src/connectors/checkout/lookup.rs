//! Checkout.com lookups: what Checkout.com holds for a payroute payment
//! whose authorization outcome is unknown.
//!
//! - With a provider reference: `GET /payments/{id}` ("Get payment
//!   details"); its `status` decides.
//! - Without one (the reply carrying it was lost):
//!   `GET /payments?reference=<payment id>&limit=10&skip=0` ("Get a list of
//!   payments", https://www.checkout.com/docs/payments/manage-payments/get-a-list-of-payments):
//!   `{"limit","skip","total_count","data":[payment...]}`, most recent
//!   first. Every payment payroute creates carries its payment id as
//!   `reference`.
//!
//! Only a definitive answer is reported as such: a transport failure, a
//! non-2xx (404 included: a payment id Checkout.com gave us that it no
//! longer finds means a wrong account or URL, not "never charged") or an
//! unreadable body is [`Lookup::Unknown`].

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::classify::decline_for_code;
use super::{CheckoutConnector, payment_path};
use crate::connectors::AuthorizationQuery;
use crate::domain::outcome::{Effect, Lookup};

/// Results per list page: the documented example's size. More payments
/// than that under one reference is itself a reason to look by hand.
const LIST_LIMIT: usize = 10;

/// The parts of a payment a lookup needs (details and list items alike).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct PaymentState {
    pub(super) id: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) reference: Option<String>,
    #[serde(default)]
    response_code: Option<String>,
    #[serde(default)]
    response_summary: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PaymentList {
    #[serde(default)]
    total_count: Option<usize>,
    data: Vec<PaymentState>,
}

/// The list request's path and query string.
pub fn list_path(payment_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("reference", payment_id)
        .append_pair("limit", &LIST_LIMIT.to_string())
        .append_pair("skip", "0")
        .finish();
    format!("/payments?{query}")
}

/// A reply to `GET /payments/{id}`.
pub fn classify_details(status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Lookup {
    if !status.is_success() {
        return unknown(format!("HTTP {status} reading the payment"));
    }
    match serde_json::from_slice::<PaymentState>(body) {
        Ok(p) => classify_state(&p),
        Err(_) => unknown(format!("HTTP {status} with an unreadable payment")),
    }
}

/// A reply to the list call, summarized (see [`summarize`]).
pub fn classify_list(
    status: StatusCode,
    _headers: &HeaderMap,
    body: &[u8],
    payment_id: &str,
) -> Lookup {
    match parse_list(status, body, payment_id) {
        Ok(payments) => summarize(&payments),
        Err(lookup) => lookup,
    }
}

/// The payments carrying `payment_id` as reference, or the Lookup to report
/// when the page cannot say (an error, or more payments than one page).
pub(super) fn parse_list(
    status: StatusCode,
    body: &[u8],
    payment_id: &str,
) -> Result<Vec<PaymentState>, Lookup> {
    if !status.is_success() {
        return Err(unknown(format!(
            "HTTP {status} listing payments by reference"
        )));
    }
    let list = serde_json::from_slice::<PaymentList>(body)
        .map_err(|_| unknown(format!("HTTP {status} with an unreadable payment list")))?;
    if list.total_count.is_some_and(|n| n > list.data.len()) {
        return Err(unknown(
            "more payments carry this reference than one page".into(),
        ));
    }
    // The filter is Checkout.com's; a payment under another reference must
    // still never count as this one.
    Ok(list
        .data
        .into_iter()
        .filter(|p| p.reference.as_deref().is_none_or(|r| r == payment_id))
        .collect())
}

/// One Lookup for all payments carrying the reference (see
/// [`Lookup::summarize`]; an incomplete list was refused before).
pub(super) fn summarize(payments: &[PaymentState]) -> Lookup {
    Lookup::summarize(payments.iter().map(classify_state).collect(), None)
}

/// A payment's `status` as the reconciler needs it. Refunds do not undo the
/// capture for this question: a refunded payment was charged.
pub(super) fn classify_state(p: &PaymentState) -> Lookup {
    let found = |effect| Lookup::Found {
        provider_reference: p.id.clone(),
        effect,
    };
    match p.status.as_str() {
        "Authorized" => found(Effect::Authorized),
        "Captured" | "Partially Captured" | "Paid" | "Refunded" | "Partially Refunded" => {
            found(Effect::Captured)
        }
        // Released: voided, cancelled before processing, or the
        // authorization ran out uncaptured.
        "Voided" | "Canceled" | "Expired" => found(Effect::Voided),
        "Declined" => Lookup::Declined(decline_for_code(
            p.response_code.as_deref().unwrap_or_default(),
            p.response_summary.as_deref().unwrap_or("Declined"),
            Some(p.id.clone()),
        )),
        "Pending" | "Retry Scheduled" => Lookup::Pending {
            provider_reference: p.id.clone(),
        },
        other => unknown(format!("payment {} has unexpected status {other:?}", p.id)),
    }
}

/// A payment asked with `capture: true` that still shows `Authorized` is
/// being captured by Checkout.com itself: reported as captured, as the
/// authorization reply is (see `classify`).
pub(super) fn with_capture_mode(lookup: Lookup, manual_capture: bool) -> Lookup {
    match lookup {
        Lookup::Found {
            provider_reference,
            effect: Effect::Authorized,
        } if !manual_capture => Lookup::Found {
            provider_reference,
            effect: Effect::Captured,
        },
        other => other,
    }
}

fn unknown(reason: String) -> Lookup {
    Lookup::Unknown { reason }
}

impl CheckoutConnector {
    /// See [`crate::connectors::Connector::find_authorization`] and the
    /// module comment.
    pub(super) async fn lookup_authorization(&self, q: &AuthorizationQuery) -> Lookup {
        let found = match q.provider_reference.as_deref().filter(|r| !r.is_empty()) {
            Some(id) => self.lookup_by_id(id).await,
            None => self.lookup_by_reference(&q.payment_id).await,
        };
        with_capture_mode(found, q.manual_capture)
    }

    async fn lookup_by_id(&self, id: &str) -> Lookup {
        let path = match payment_path(id) {
            Ok(p) => p,
            Err(e) => return unknown(e.to_string()),
        };
        match self.get(&path).await {
            Ok(r) => classify_details(r.status, &r.headers, &r.body),
            Err(reason) => unknown(reason),
        }
    }

    pub(super) async fn lookup_by_reference(&self, payment_id: &str) -> Lookup {
        match self.list_by_reference(payment_id).await {
            Ok(payments) => {
                if payments.len() > 1 {
                    tracing::warn!(
                        gateway = %self.settings.id,
                        payment_id,
                        payments = payments.len(),
                        "several Checkout.com payments carry one payment id"
                    );
                }
                summarize(&payments)
            }
            Err(lookup) => lookup,
        }
    }

    /// Every payment Checkout.com lists under `payment_id`.
    pub(super) async fn list_by_reference(
        &self,
        payment_id: &str,
    ) -> Result<Vec<PaymentState>, Lookup> {
        let reply = self.get(&list_path(payment_id)).await.map_err(unknown)?;
        parse_list(reply.status, &reply.body, payment_id)
    }
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
