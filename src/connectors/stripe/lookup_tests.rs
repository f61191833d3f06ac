//! Canned Stripe replies for every lookup class, and the search encoding.

use super::*;
use serde_json::{Value, json};

fn by_id(code: u16, body: Value) -> Lookup {
    let status = StatusCode::from_u16(code).unwrap();
    classify_lookup(status, &HeaderMap::new(), body.to_string().as_bytes())
}

fn search(code: u16, body: Value) -> Lookup {
    let status = StatusCode::from_u16(code).unwrap();
    classify_search(status, &HeaderMap::new(), body.to_string().as_bytes())
}

fn page(intents: Vec<Value>) -> Value {
    json!({"object": "search_result", "url": "/v1/payment_intents/search",
        "has_more": false, "next_page": null, "data": intents})
}

fn pi(id: &str, status: &str, created: i64) -> Value {
    json!({"id": id, "object": "payment_intent", "status": status, "created": created,
        "amount": 1999, "currency": "eur", "metadata": {"payroute_payment_id": "pay_1"}})
}

fn failed_pi(id: &str, status: &str, decline_code: &str) -> Value {
    let mut v = pi(id, status, 1);
    v["last_payment_error"] = json!({"type": "card_error", "code": "card_declined",
        "decline_code": decline_code, "message": "Your card was declined."});
    v
}

fn found(r: &str, effect: Effect) -> Lookup {
    Lookup::Found {
        provider_reference: r.into(),
        effect,
    }
}

fn assert_unknown(l: Lookup, needle: &str) {
    let Lookup::Unknown { reason } = l else {
        panic!("expected Unknown, got {l:?}")
    };
    assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
}

#[test]
fn succeeded_is_found_captured() {
    assert_eq!(
        by_id(200, pi("pi_1", "succeeded", 1)),
        found("pi_1", Effect::Captured)
    );
}

#[test]
fn requires_capture_is_found_authorized() {
    assert_eq!(
        by_id(200, pi("pi_1", "requires_capture", 1)),
        found("pi_1", Effect::Authorized)
    );
}

#[test]
fn canceled_without_payment_error_is_found_voided() {
    assert_eq!(
        by_id(200, pi("pi_1", "canceled", 1)),
        found("pi_1", Effect::Voided)
    );
}

#[test]
fn canceled_after_a_failed_confirmation_is_declined() {
    let Lookup::Declined(d) = by_id(200, failed_pi("pi_1", "canceled", "do_not_honor")) else {
        panic!("not declined")
    };
    assert_eq!(d.provider_reference.as_deref(), Some("pi_1"));
    assert_eq!(d.decline_code.as_deref(), Some("do_not_honor"));
    assert!(!d.soft);
}

#[test]
fn requires_payment_method_with_error_is_declined_with_its_code() {
    let l = by_id(
        200,
        failed_pi("pi_1", "requires_payment_method", "insufficient_funds"),
    );
    let Lookup::Declined(d) = l else {
        panic!("{l:?}")
    };
    assert_eq!(d.code, "insufficient_funds");
    assert_eq!(d.provider_reference.as_deref(), Some("pi_1"));
}

#[test]
fn soft_decline_stays_soft() {
    let l = by_id(
        200,
        failed_pi("pi_1", "requires_payment_method", "issuer_not_available"),
    );
    let Lookup::Declined(d) = l else {
        panic!("{l:?}")
    };
    assert!(d.soft);
}

#[test]
fn requires_payment_method_without_error_is_declined_never_confirmed() {
    let l = by_id(200, pi("pi_1", "requires_payment_method", 1));
    let Lookup::Declined(d) = l else {
        panic!("{l:?}")
    };
    assert_eq!(d.decline_code.as_deref(), Some("requires_payment_method"));
}

#[test]
fn in_flight_statuses_are_pending() {
    for status in ["requires_action", "processing", "requires_confirmation"] {
        assert_eq!(
            by_id(200, pi("pi_1", status, 1)),
            Lookup::Pending {
                provider_reference: "pi_1".into()
            },
            "{status}"
        );
    }
}

#[test]
fn unknown_status_is_unknown() {
    assert_unknown(
        by_id(200, pi("pi_1", "partially_funded", 1)),
        "partially_funded",
    );
}

#[test]
fn stripe_404_is_not_found() {
    let body = json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
        "param": "intent", "message": "No such payment_intent: 'pi_x'"}});
    assert_eq!(by_id(404, body), Lookup::NotFound);
}

#[test]
fn a_404_that_is_not_stripes_proves_nothing() {
    let status = StatusCode::NOT_FOUND;
    let l = classify_lookup(status, &HeaderMap::new(), b"<html>Not Found</html>");
    assert_unknown(l, "404");
}

#[test]
fn errors_and_unreadable_replies_are_unknown() {
    let err = |t: &str| json!({"error": {"type": t, "message": "boom"}});
    assert_unknown(by_id(500, err("api_error")), "500");
    assert_unknown(by_id(429, err("invalid_request_error")), "429");
    assert_unknown(by_id(401, err("invalid_request_error")), "401");
    assert_unknown(by_id(503, json!({})), "503");
    let l = classify_lookup(StatusCode::OK, &HeaderMap::new(), b"not json");
    assert_unknown(l, "unreadable");
}

#[test]
fn search_query_is_stripes_metadata_clause() {
    assert_eq!(
        search_query("pay_01HZX3"),
        "metadata['payroute_payment_id']:'pay_01HZX3'"
    );
}

#[test]
fn search_query_escapes_quotes_and_backslashes() {
    assert_eq!(
        search_query(r"a'b\c"),
        r"metadata['payroute_payment_id']:'a\'b\\c'"
    );
}

#[test]
fn search_path_is_url_encoded_and_round_trips() {
    let path = search_path("pay_1");
    assert_eq!(
        path,
        "/v1/payment_intents/search?query=metadata%5B%27payroute_payment_id%27%5D%3A%27pay_1%27"
    );
    let (_, qs) = path.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(qs.as_bytes()).into_owned().collect();
    assert_eq!(
        pairs,
        [(
            "query".to_string(),
            "metadata['payroute_payment_id']:'pay_1'".to_string()
        )]
    );
    assert!(
        search_path("pay 1&x=y").ends_with("%27pay+1%26x%3Dy%27"),
        "{}",
        search_path("pay 1&x=y")
    );
}

#[test]
fn empty_search_is_not_found() {
    assert_eq!(search(200, page(vec![])), Lookup::NotFound);
}

#[test]
fn single_hit_is_classified_like_a_lookup() {
    assert_eq!(
        search(200, page(vec![pi("pi_1", "requires_capture", 5)])),
        found("pi_1", Effect::Authorized)
    );
    let l = search(
        200,
        page(vec![failed_pi(
            "pi_1",
            "requires_payment_method",
            "expired_card",
        )]),
    );
    assert!(
        matches!(l, Lookup::Declined(ref d) if d.code == "expired_card"),
        "{l:?}"
    );
}

#[test]
fn two_live_intents_are_multiple_most_recent_first() {
    let l = search(
        200,
        page(vec![
            pi("pi_old", "succeeded", 10),
            pi("pi_declined", "requires_payment_method", 30),
            pi("pi_new", "requires_capture", 20),
        ]),
    );
    assert_eq!(
        l,
        Lookup::Multiple(vec![
            ("pi_new".into(), Effect::Authorized),
            ("pi_old".into(), Effect::Captured),
        ])
    );
}

#[test]
fn one_live_among_dead_ones_is_found() {
    let l = search(
        200,
        page(vec![
            failed_pi("pi_a", "requires_payment_method", "generic_decline"),
            pi("pi_b", "succeeded", 2),
            pi("pi_c", "canceled", 3),
            pi("pi_d", "requires_action", 4),
        ]),
    );
    assert_eq!(l, found("pi_b", Effect::Captured));
}

#[test]
fn pending_outranks_settled_and_unknown_outranks_pending() {
    let l = search(
        200,
        page(vec![pi("pi_a", "canceled", 9), pi("pi_b", "processing", 1)]),
    );
    assert_eq!(
        l,
        Lookup::Pending {
            provider_reference: "pi_b".into()
        }
    );
    let l = search(
        200,
        page(vec![
            pi("pi_b", "processing", 9),
            pi("pi_c", "new_status", 1),
        ]),
    );
    assert_unknown(l, "new_status");
}

#[test]
fn among_settled_intents_the_most_recent_wins() {
    let l = search(
        200,
        page(vec![
            failed_pi("pi_old", "requires_payment_method", "generic_decline"),
            pi("pi_new", "canceled", 7),
        ]),
    );
    assert_eq!(l, found("pi_new", Effect::Voided));
}

#[test]
fn incomplete_page_without_live_intent_is_unknown() {
    let mut body = page(vec![pi("pi_a", "canceled", 1)]);
    body["has_more"] = json!(true);
    assert_unknown(search(200, body), "search page");
    let mut body = page(vec![pi("pi_a", "succeeded", 1)]);
    body["has_more"] = json!(true);
    assert_eq!(search(200, body), found("pi_a", Effect::Captured));
}

#[test]
fn search_errors_are_unknown_even_404() {
    let body = json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
        "message": "Unrecognized request URL"}});
    assert_unknown(search(404, body), "404");
    assert_unknown(
        search(
            400,
            json!({"error": {"type": "invalid_request_error",
        "message": "Search is not available"}}),
        ),
        "Search is not available",
    );
    assert_unknown(search(500, json!({})), "500");
}

#[test]
fn a_reply_that_is_not_a_search_result_is_unknown() {
    assert_unknown(search(200, pi("pi_1", "succeeded", 1)), "unreadable");
    assert_unknown(
        search(200, json!({"object": "list", "data": []})),
        "unreadable",
    );
}
