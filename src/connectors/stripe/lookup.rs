//! Stripe lookups for the reconciler: what Stripe holds for a payroute
//! payment whose authorization outcome is unknown.
//!
//! - With a provider reference: `GET /v1/payment_intents/{id}`, strongly
//!   consistent.
//! - Without one (the reply carrying it was lost): the Search API,
//!   `GET /v1/payment_intents/search?query=metadata['payroute_payment_id']:'<id>'`.
//!   Every PaymentIntent payroute creates carries that metadata from its
//!   create call. Search is eventually consistent: Stripe documents data as
//!   searchable "in under 1 minute" normally and up to an hour behind during
//!   outages, so an empty result ([`Lookup::NotFound`]) only means "never
//!   charged" once the attempt is older than [`SEARCH_LAG`] — the caller
//!   applies that grace; this module just reports. (Search needs API version
//!   2020-08-27 or later, which the pinned version is, and is not offered to
//!   merchants in India: there it answers an error, reported as Unknown.)
//!
//! Only a definitive Stripe answer is reported as such: any transport
//! failure, 5xx, 429, auth error or unreadable body is [`Lookup::Unknown`].

use std::cmp::Reverse;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::classify::{StripeError as ApiError, decline_from};
use super::{StripeConnector, pi_base};
use crate::connectors::AuthorizationQuery;
use crate::domain::outcome::{Decline, Effect, Lookup};

/// How long Stripe's search index may lag behind writes under normal
/// operation; a search that finds nothing is trusted only after this.
pub const SEARCH_LAG: Duration = Duration::from_secs(60);

/// The metadata key naming payroute's payment id on every PaymentIntent.
pub const PAYMENT_ID_METADATA_KEY: &str = "payroute_payment_id";

/// The parts of a PaymentIntent a lookup needs.
#[derive(Debug, Deserialize)]
pub(super) struct IntentState {
    pub(super) id: String,
    pub(super) status: String,
    /// Unix seconds; orders search hits, most recent first.
    #[serde(default)]
    created: i64,
    last_payment_error: Option<ApiError>,
}

/// One page of `GET /v1/payment_intents/search`.
#[derive(Debug)]
pub(super) struct SearchPage {
    /// Most recent first.
    pub(super) intents: Vec<IntentState>,
    pub(super) has_more: bool,
}

#[derive(Debug, Deserialize)]
struct SearchResult {
    object: String,
    data: Vec<IntentState>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Debug, Deserialize, Default)]
struct ErrorBody {
    error: Option<ErrorFields>,
}

#[derive(Debug, Deserialize, Default)]
struct ErrorFields {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// The Search Query Language clause selecting payroute's payment:
/// `metadata['payroute_payment_id']:'pay_1'`. Quotes and backslashes inside
/// the value are backslash-escaped, as the query language documents.
pub fn search_query(payment_id: &str) -> String {
    let mut value = String::with_capacity(payment_id.len());
    for c in payment_id.chars() {
        if c == '\'' || c == '\\' {
            value.push('\\');
        }
        value.push(c);
    }
    format!("metadata['{PAYMENT_ID_METADATA_KEY}']:'{value}'")
}

/// The search request's path and URL-encoded query string.
pub fn search_path(payment_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", &search_query(payment_id))
        .finish();
    format!("/v1/payment_intents/search?{query}")
}

/// A reply to `GET /v1/payment_intents/{id}`. A 404 is NotFound only when
/// Stripe itself says so (an `invalid_request_error` / `resource_missing`
/// error object): a 404 page from a proxy or a wrong base URL proves nothing.
pub fn classify_lookup(status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Lookup {
    if !status.is_success() {
        let err = error_fields(body);
        let stripe_says_missing = err.code.as_deref() == Some("resource_missing")
            || err.kind.as_deref() == Some("invalid_request_error");
        if status == StatusCode::NOT_FOUND && stripe_says_missing {
            return Lookup::NotFound;
        }
        return unknown_http(status, &err);
    }
    match serde_json::from_slice::<IntentState>(body) {
        Ok(pi) => classify_intent(&pi),
        Err(_) => unknown(format!("HTTP {status} with an unreadable PaymentIntent")),
    }
}

/// A reply to the search call, summarized (see [`summarize`]).
pub fn classify_search(status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Lookup {
    match parse_search(status, body) {
        Ok(page) => summarize(&page),
        Err(lookup) => lookup,
    }
}

/// The search page, or the Lookup to report when there is none. Every
/// error is Unknown, 404 included: a missing search endpoint says nothing
/// about the payment.
pub(super) fn parse_search(status: StatusCode, body: &[u8]) -> Result<SearchPage, Lookup> {
    if !status.is_success() {
        return Err(unknown_http(status, &error_fields(body)));
    }
    let result = serde_json::from_slice::<SearchResult>(body)
        .ok()
        .filter(|r| r.object == "search_result")
        .ok_or_else(|| unknown(format!("HTTP {status} with an unreadable search result")))?;
    let mut intents = result.data;
    intents.sort_by_key(|pi| Reverse(pi.created));
    Ok(SearchPage {
        intents,
        has_more: result.has_more,
    })
}

/// One Lookup for all PaymentIntents carrying the payment id (see
/// [`Lookup::summarize`]); a page that is not the last leaves it Unknown
/// unless one live intent decides it.
pub(super) fn summarize(page: &SearchPage) -> Lookup {
    let lookups = page.intents.iter().map(classify_intent).collect();
    let incomplete = page
        .has_more
        .then(|| "more PaymentIntents carry this payment id than one search page".to_string());
    Lookup::summarize(lookups, incomplete)
}

/// A PaymentIntent's status as the reconciler needs it.
pub(super) fn classify_intent(pi: &IntentState) -> Lookup {
    let found = |effect| Lookup::Found {
        provider_reference: pi.id.clone(),
        effect,
    };
    match pi.status.as_str() {
        "succeeded" => found(Effect::Captured),
        "requires_capture" => found(Effect::Authorized),
        // A failed confirmation leaves `last_payment_error` (cleared by any
        // later update, so an authorized-then-canceled intent has none):
        // with it the intent never authorized, without it it was voided.
        "canceled" => match &pi.last_payment_error {
            Some(err) => Lookup::Declined(decline_from(err, Some(pi.id.clone()))),
            None => found(Effect::Voided),
        },
        "requires_payment_method" => Lookup::Declined(match &pi.last_payment_error {
            Some(err) => decline_from(err, Some(pi.id.clone())),
            None => never_confirmed(&pi.id),
        }),
        "requires_action" | "processing" | "requires_confirmation" => Lookup::Pending {
            provider_reference: pi.id.clone(),
        },
        other => unknown(format!(
            "PaymentIntent {} has unexpected status {other:?}",
            pi.id
        )),
    }
}

/// payroute confirms on create, so an intent still waiting for a payment
/// method with no error never charged anything.
fn never_confirmed(id: &str) -> Decline {
    Decline {
        provider_reference: Some(id.to_string()),
        code: "processing_error".into(),
        decline_code: Some("requires_payment_method".into()),
        message: "the PaymentIntent was never confirmed".into(),
        soft: false,
    }
}

fn error_fields(body: &[u8]) -> ErrorFields {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .unwrap_or_default()
}

fn unknown_http(status: StatusCode, err: &ErrorFields) -> Lookup {
    let message = err.message.as_deref().unwrap_or("no error message");
    unknown(format!("HTTP {status}: {message}"))
}

fn unknown(reason: String) -> Lookup {
    Lookup::Unknown { reason }
}

impl StripeConnector {
    /// See [`Gateway::find_authorization`](crate::connectors::gateway::Gateway::find_authorization)
    /// and the module comment.
    pub(super) async fn lookup(&self, q: &AuthorizationQuery) -> Lookup {
        match q.provider_reference.as_deref().filter(|r| !r.is_empty()) {
            Some(id) => self.lookup_by_id(id).await,
            None => match self.search_intents(&q.payment_id).await {
                Ok(page) => self.summarize_logged(&q.payment_id, &page),
                Err(lookup) => lookup,
            },
        }
    }

    async fn lookup_by_id(&self, id: &str) -> Lookup {
        let path = match pi_base(id) {
            Ok(p) => p,
            Err(e) => return unknown(e.to_string()),
        };
        match self.get(&path).await {
            Ok(r) => classify_lookup(r.status, &r.headers, &r.body),
            Err(reason) => unknown(reason),
        }
    }

    /// Every PaymentIntent the search index shows for `payment_id`.
    pub(super) async fn search_intents(&self, payment_id: &str) -> Result<SearchPage, Lookup> {
        let reply = self.get(&search_path(payment_id)).await.map_err(unknown)?;
        parse_search(reply.status, &reply.body)
    }

    fn summarize_logged(&self, payment_id: &str, page: &SearchPage) -> Lookup {
        let lookup = summarize(page);
        if page.intents.len() > 1 {
            tracing::warn!(
                gateway = %self.settings.id,
                payment_id,
                intents = page.intents.len(),
                result = lookup.label(),
                "several PaymentIntents carry one payment id"
            );
        }
        lookup
    }
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
