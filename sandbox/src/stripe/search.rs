//! `GET /v1/payment_intents/search`: Stripe's search endpoint over the
//! sandbox's intents, with the query subset of [`super::query`].
//!
//! Real Stripe search is eventually consistent (new or changed objects
//! become searchable within about a minute); the sandbox answers from its
//! current state at once, so a client that relies on read-after-write search
//! passes here but may not against Stripe. Results come newest first (ties
//! in the same second by id); `page` takes the opaque `next_page` cursor of
//! the previous answer.

use serde_json::{Value, json};

use super::super::form::Form;
use super::super::state::{Sandbox, lock};
use super::error::StripeError;
use super::objects::Intent;
use super::params;
use super::query::Query;

const SEARCH_PARAMS: &[&str] = &["expand", "limit", "page", "query"];
const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 100;
const URL: &str = "/v1/payment_intents/search";
/// Prefix of the sandbox's page cursors (Stripe's are opaque too).
const CURSOR_PREFIX: &str = "sbxpage_";

/// `GET /v1/payment_intents/search`.
pub(crate) fn search(sb: &Sandbox, form: &Form) -> Result<Value, StripeError> {
    params::check_known(form, SEARCH_PARAMS)?;
    let raw = form
        .str(&["query"])
        .ok_or_else(|| StripeError::missing("query"))?;
    let query = Query::parse(raw).map_err(|e| {
        StripeError::invalid(format!("Invalid search query {raw:?}: {e}.")).param("query")
    })?;
    let limit = limit(form)?;
    let offset = offset(form)?;
    let expand = form.string_list("expand");
    let expand_charge = expand.iter().any(|e| e == "data.latest_charge");
    let st = lock(&sb.stripe);
    let mut hits: Vec<&Intent> = st.intents.values().filter(|i| query.matches(i)).collect();
    hits.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let total = hits.len();
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(limit)
        .map(|intent| intent.json(expand_charge))
        .collect();
    let end = offset + page.len();
    let has_more = end < total;
    let mut body = json!({
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": has_more.then(|| format!("{CURSOR_PREFIX}{end}")),
        "url": URL,
    });
    if expand.iter().any(|e| e == "total_count") {
        body["total_count"] = json!(total);
    }
    Ok(body)
}

fn limit(form: &Form) -> Result<usize, StripeError> {
    let limit = params::integer(form, "limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(StripeError::invalid(format!(
            "Invalid limit: must be between 1 and {MAX_LIMIT}"
        ))
        .param("limit"));
    }
    // In 1..=100 after the check above, so the conversion cannot fail.
    Ok(usize::try_from(limit).unwrap_or(DEFAULT_LIMIT as usize))
}

fn offset(form: &Form) -> Result<usize, StripeError> {
    let Some(page) = form.str(&["page"]) else {
        return Ok(0);
    };
    page.strip_prefix(CURSOR_PREFIX)
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| {
            StripeError::invalid(format!(
                "Invalid page: {page}. Use the next_page value of a previous search result."
            ))
            .param("page")
        })
}
