//! Circuit breakers: a gateway that keeps failing is ejected and skipped
//! without a network call; declines never eject a gateway.

mod common;

use common::{Harness, card_payment, metric};
use http::Method;

#[tokio::test]
async fn a_gateway_that_keeps_refusing_connections_is_ejected_and_skipped() {
    let dead = common::dead_addr();
    let h = Harness::start_with(|dir, sandbox| {
        let p = dir.join("gateways.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            &p,
            text.replace(
                &format!("http://{sandbox}/adyen"),
                &format!("http://{dead}/adyen"),
            ),
        )
        .unwrap();
    })
    .await;
    for i in 0..5 {
        let p = h
            .post(
                "/v1/payments",
                &card_payment(100, "EUR", "4242424242424242", &format!("o-b{i}")),
                None,
            )
            .await
            .json();
        assert_eq!(
            p["route"]["attempts"].as_array().unwrap().len(),
            2,
            "adyen tried, then stripe"
        );
    }
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_gateway_circuit_open",
            &[("gateway", "adyen_sandbox")]
        ),
        1.0
    );
    let gw = h
        .http
        .send(Method::GET, &format!("{}/admin/gateways", h.ops), &[], None)
        .await
        .json();
    let adyen = gw["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gateway"] == "adyen_sandbox")
        .unwrap()
        .clone();
    assert_eq!(adyen["state"], "open", "{gw}");
    // Ejected: the next payment goes straight to Stripe, no attempt on Adyen.
    let p = h
        .post(
            "/v1/payments",
            &card_payment(100, "EUR", "4242424242424242", "o-b-after"),
            None,
        )
        .await;
    assert_eq!(p.status, 201);
    let attempts = p.json()["route"]["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["gateway"], "stripe_sandbox");
    h.shutdown().await;
}

#[tokio::test]
async fn declines_never_eject_a_gateway() {
    let h = Harness::start().await;
    for i in 0..8 {
        let r = h
            .post(
                "/v1/payments",
                &card_payment(100, "EUR", "4000000000000002", &format!("o-d{i}")),
                None,
            )
            .await;
        assert_eq!(r.status, 402);
    }
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "payroute_gateway_circuit_open",
            &[("gateway", "adyen_sandbox")]
        ),
        0.0
    );
    let p = h
        .post(
            "/v1/payments",
            &card_payment(100, "EUR", "4242424242424242", "o-d-ok"),
            None,
        )
        .await
        .json();
    assert_eq!(p["gateway"], "adyen_sandbox");
    h.shutdown().await;
}
