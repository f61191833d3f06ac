//! The stand-in merchant backend over HTTP: what is POSTed is listed back
//! with its headers and exact body, and can be forgotten.

use super::{gateway, send};

#[tokio::test]
async fn a_delivered_event_is_listed_with_its_headers_and_exact_body() {
    let gw = gateway().await;
    let body = "{\"id\": \"evt_1\",  \"type\": \"payment.captured\"}";
    let headers = [
        ("content-type", "application/json"),
        ("payroute-signature", "t=1700000000,v1=abc"),
    ];
    let r = send(
        gw.addr,
        "POST",
        "/__sandbox/merchant-events",
        &headers,
        body,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "any 2xx acknowledges a merchant event");

    let listed = send(gw.addr, "GET", "/__sandbox/merchant-events", &[], "")
        .await
        .unwrap()
        .json;
    assert_eq!(listed["received"], 1);
    let event = &listed["events"][0];
    assert_eq!(
        event["body"], body,
        "kept byte for byte, for signature checks"
    );
    assert_eq!(event["event"]["type"], "payment.captured");
    assert_eq!(
        event["headers"]["payroute-signature"],
        "t=1700000000,v1=abc"
    );

    let cleared = send(gw.addr, "DELETE", "/__sandbox/merchant-events", &[], "")
        .await
        .unwrap();
    assert_eq!(cleared.status, 200);
    let listed = send(gw.addr, "GET", "/__sandbox/merchant-events", &[], "")
        .await
        .unwrap()
        .json;
    assert_eq!(listed["received"], 0);
    assert_eq!(listed["events"], serde_json::json!([]));
    gw.shutdown().await;
}
