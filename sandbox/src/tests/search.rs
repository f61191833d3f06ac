//! Stripe `GET /v1/payment_intents/search` and `GET /v1/payment_intents/{id}`
//! over HTTP.

use super::*;

/// `/v1/payment_intents/search?query=...` with the query percent-encoded.
fn search_path(query: &str, extra: &[(&str, &str)]) -> String {
    let mut params = form_urlencoded::Serializer::new(String::new());
    params.append_pair("query", query);
    for (k, v) in extra {
        params.append_pair(k, v);
    }
    format!("/v1/payment_intents/search?{}", params.finish())
}

async fn search(addr: SocketAddr, query: &str, extra: &[(&str, &str)]) -> Resp {
    stripe(addr, "GET", &search_path(query, extra), "", None)
        .await
        .unwrap()
}

/// A confirmed card intent carrying `metadata[order_id]` when given.
async fn intent_with_order(addr: SocketAddr, order: Option<&str>, manual: bool) -> String {
    let mut extra = String::new();
    if let Some(order) = order {
        extra.push_str(&format!("&metadata[order_id]={order}"));
    }
    if manual {
        extra.push_str("&capture_method=manual");
    }
    let resp = stripe_charge(addr, "4242424242424242", &extra, None)
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.json);
    resp.json["id"].as_str().unwrap().to_string()
}

fn ids(resp: &Resp) -> Vec<&str> {
    resp.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pi| pi["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_by_metadata_finds_exactly_the_intent_created_with_it() {
    let gw = gateway().await;
    intent_with_order(gw.addr, Some("o-1"), false).await;
    let wanted = intent_with_order(gw.addr, Some("o-2"), false).await;
    intent_with_order(gw.addr, None, false).await;
    for query in [
        "metadata['order_id']:'o-2'",
        r#"metadata["order_id"]:"o-2""#,
    ] {
        let resp = search(gw.addr, query, &[]).await;
        assert_eq!(resp.status, 200, "{}", resp.json);
        assert_eq!(ids(&resp), vec![wanted.as_str()], "{query}");
        assert_eq!(resp.json["object"], "search_result");
        assert_eq!(resp.json["has_more"], false);
        assert_eq!(resp.json["next_page"], Value::Null);
        assert_eq!(resp.json["url"], "/v1/payment_intents/search");
        assert_eq!(resp.json["data"][0]["object"], "payment_intent");
        assert_eq!(resp.json["data"][0]["metadata"]["order_id"], "o-2");
        assert_eq!(resp.json["data"][0]["status"], "succeeded");
    }
}

#[tokio::test]
async fn search_with_no_match_answers_an_empty_result() {
    let gw = gateway().await;
    intent_with_order(gw.addr, Some("o-1"), false).await;
    let resp = search(gw.addr, "metadata['order_id']:'missing'", &[]).await;
    assert_eq!(resp.status, 200, "{}", resp.json);
    assert_eq!(resp.json["object"], "search_result");
    assert_eq!(resp.json["data"], json!([]));
    assert_eq!(resp.json["has_more"], false);
}

#[tokio::test]
async fn search_combines_metadata_and_status_clauses() {
    let gw = gateway().await;
    let held = intent_with_order(gw.addr, Some("o-9"), true).await;
    let both = "metadata['order_id']:'o-9' AND status:'requires_capture'";
    assert_eq!(ids(&search(gw.addr, both, &[]).await), vec![held.as_str()]);
    let wrong_status = "metadata['order_id']:'o-9' AND status:'succeeded'";
    assert!(ids(&search(gw.addr, wrong_status, &[]).await).is_empty());
    let either = "metadata['order_id']:'nope' OR status:'requires_capture'";
    assert_eq!(
        ids(&search(gw.addr, either, &[]).await),
        vec![held.as_str()]
    );
}

#[tokio::test]
async fn search_pages_through_matches_with_next_page() {
    let gw = gateway().await;
    let a = intent_with_order(gw.addr, Some("same"), false).await;
    let b = intent_with_order(gw.addr, Some("same"), false).await;
    let query = "metadata['order_id']:'same'";
    let first = search(
        gw.addr,
        query,
        &[("limit", "1"), ("expand[]", "total_count")],
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["has_more"], true);
    assert_eq!(first.json["total_count"], 2);
    let cursor = first.json["next_page"].as_str().unwrap().to_string();
    let second = search(gw.addr, query, &[("limit", "1"), ("page", &cursor)]).await;
    assert_eq!(second.json["has_more"], false);
    let mut seen = vec![ids(&first)[0].to_string(), ids(&second)[0].to_string()];
    seen.sort();
    let mut created = vec![a, b];
    created.sort();
    assert_eq!(seen, created);
}

#[tokio::test]
async fn unsupported_or_missing_query_is_a_400_invalid_request_error() {
    let gw = gateway().await;
    for query in [
        "status~'succ'",
        "customer:'cus_1'",
        "status:'a' AND amount>1 OR currency:'eur'",
        "metadata['order_id':'x'",
    ] {
        let resp = search(gw.addr, query, &[]).await;
        assert_eq!(resp.status, 400, "{query}: {}", resp.json);
        assert_eq!(resp.json["error"]["type"], "invalid_request_error");
        assert_eq!(resp.json["error"]["param"], "query");
        let message = resp.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Invalid search query"), "{message}");
    }
    let missing = stripe(gw.addr, "GET", "/v1/payment_intents/search", "", None)
        .await
        .unwrap();
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json["error"]["code"], "parameter_missing");
    let bad_limit = search(gw.addr, "status:'succeeded'", &[("limit", "101")]).await;
    assert_eq!(bad_limit.status, 400);
    assert_eq!(bad_limit.json["error"]["param"], "limit");
}

#[tokio::test]
async fn search_needs_the_api_key() {
    let gw = gateway().await;
    let path = format!("/stripe{}", search_path("status:'succeeded'", &[]));
    let resp = send(gw.addr, "GET", &path, &[], "").await.unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn retrieve_returns_the_current_object_and_404_for_unknown_ids() {
    let gw = gateway().await;
    let id = intent_with_order(gw.addr, Some("o-r"), true).await;
    let path = format!("/v1/payment_intents/{id}");
    let held = stripe(gw.addr, "GET", &path, "", None).await.unwrap();
    assert_eq!(held.status, 200);
    assert_eq!(held.json["status"], "requires_capture");
    assert_eq!(held.json["amount_capturable"], 2000);
    let capture = format!("/v1/payment_intents/{id}/capture");
    let captured = stripe(gw.addr, "POST", &capture, "amount_to_capture=1500", None)
        .await
        .unwrap();
    assert_eq!(captured.status, 200, "{}", captured.json);
    let now = stripe(gw.addr, "GET", &path, "", None).await.unwrap();
    assert_eq!(now.json["status"], "succeeded");
    assert_eq!(now.json["amount_received"], 1500);
    assert_eq!(now.json["metadata"]["order_id"], "o-r");
    let missing = stripe(gw.addr, "GET", "/v1/payment_intents/pi_unknown", "", None)
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json["error"]["code"], "resource_missing");
    assert_eq!(missing.json["error"]["type"], "invalid_request_error");
}
