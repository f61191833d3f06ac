//! Gateway webhooks completing payments end to end: the sandbox sends the
//! real, signed events back to payroute, which applies them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Harness, card_payment, eventually};
use http::Method;
use serde_json::{Value, json};

async fn status_of(h: &Harness, id: &str) -> Value {
    h.get(&format!("/v1/payments/{id}")).await.json()
}

#[tokio::test]
async fn an_adyen_manual_capture_ends_captured_only_after_the_capture_webhook() {
    let h = Harness::start().await;
    let p = h
        .manual_payment(4200, "EUR", "4242424242424242", "o-adyen-wh")
        .await;
    assert_eq!(
        (p["gateway"].as_str(), p["status"].as_str()),
        (Some("adyen_sandbox"), Some("authorized"))
    );
    let id = p["id"].as_str().unwrap();
    // Everything so far applied; from here on Adyen's notifications wait
    // in the sandbox's outbox.
    h.settle().await;
    h.hold_adyen_webhooks();
    let cap = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            &json!({"amount": 4000}),
            None,
        )
        .await;
    assert_eq!(cap.json()["status"], "capture_pending");
    eventually(10, "the CAPTURE notification queued, unsent", || async {
        h.sandbox
            .state()
            .outbox()
            .iter()
            .any(|e| e.event == "CAPTURE")
    })
    .await;
    assert!(h.events("received").await.is_empty());
    let mid = status_of(&h, id).await;
    assert_eq!(
        (mid["status"].as_str(), mid["amount_captured"].as_i64()),
        (Some("capture_pending"), Some(0)),
        "not before the webhook"
    );
    h.reconnect_sandbox_webhooks();
    eventually(10, "captured by the CAPTURE webhook", || async {
        status_of(&h, id).await["status"] == "captured"
    })
    .await;
    assert_eq!(status_of(&h, id).await["amount_captured"], 4000);

    // A refund, too, completes by webhook, and counts once.
    let r = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            &json!({"amount": 1500}),
            None,
        )
        .await
        .json();
    assert_eq!(r["status"], "pending");
    let rid = r["id"].as_str().unwrap().to_string();
    eventually(10, "refund succeeded", || async {
        h.get(&format!("/v1/refunds/{rid}")).await.json()["status"] == "succeeded"
    })
    .await;
    h.settle().await;
    let p = status_of(&h, id).await;
    assert_eq!(
        (p["status"].as_str(), p["amount_refunded"].as_i64()),
        (Some("partially_refunded"), Some(1500))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn an_adyen_cancel_ends_voided_after_the_cancellation_webhook() {
    let h = Harness::start().await;
    let p = h
        .manual_payment(900, "EUR", "4242424242424242", "o-adyen-void")
        .await;
    let id = p["id"].as_str().unwrap();
    let c = h
        .post(&format!("/v1/payments/{id}/cancel"), &json!({}), None)
        .await
        .json();
    assert_eq!(c["status"], "void_pending");
    eventually(10, "voided", || async {
        status_of(&h, id).await["status"] == "voided"
    })
    .await;
    h.shutdown().await;
}

#[tokio::test]
async fn a_dispute_is_its_own_record_and_never_changes_the_payment_status() {
    let h = Harness::start().await;
    for currency in ["USD", "EUR"] {
        let p = h
            .post(
                "/v1/payments",
                &card_payment(
                    3100,
                    currency,
                    "4000000000000259",
                    &format!("o-dispute-{currency}"),
                ),
                None,
            )
            .await
            .json();
        assert_eq!(p["status"], "captured", "{p}");
        let id = p["id"].as_str().unwrap().to_string();
        eventually(10, "dispute opened", || async {
            status_of(&h, &id).await["disputes"]
                .as_array()
                .is_some_and(|d| d.len() == 1)
        })
        .await;
        let now = status_of(&h, &id).await;
        assert_eq!(now["disputes"][0]["status"], "open");
        assert_eq!(
            now["status"], "captured",
            "{currency}: a dispute does not overwrite the payment status"
        );
        let pref = now["provider_reference"].as_str().unwrap();
        let r = h
            .http
            .send(
                Method::POST,
                &format!("{}/__sandbox/disputes/{pref}/close", h.sandbox_url),
                &[],
                Some(br#"{"outcome":"lost"}"#.to_vec()),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text());
        eventually(10, "dispute lost", || async {
            status_of(&h, &id).await["disputes"][0]["status"] == "lost"
        })
        .await;
        assert_eq!(status_of(&h, &id).await["status"], "captured");
    }
    h.shutdown().await;
}

/// One payment's life, chosen by `i`: each kind makes a different series of
/// gateway events.
async fn drive(h: &Harness, i: usize) -> String {
    let currency = if i.is_multiple_of(2) { "USD" } else { "EUR" };
    let amount = 1000 + i as i64;
    let mut body = card_payment(amount, currency, "4242424242424242", &format!("storm-{i}"));
    body["customer"]["ip"] = json!(format!("198.51.{}.{}", i / 250, i % 250));
    match i % 4 {
        // Automatic capture, then a partial refund.
        0 => {
            let p = h.post("/v1/payments", &body, None).await.json();
            let id = p["id"].as_str().unwrap().to_string();
            h.post(
                &format!("/v1/payments/{id}/refunds"),
                &json!({"amount": 300}),
                None,
            )
            .await;
            id
        }
        // Manual capture, capture, full refund.
        1 => {
            body["capture"] = json!("manual");
            let p = h.post("/v1/payments", &body, None).await.json();
            let id = p["id"].as_str().unwrap().to_string();
            let cap = h
                .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
                .await;
            assert_eq!(cap.status, 200, "{}", cap.text());
            // Adyen's capture completes by webhook; refund once captured.
            eventually(30, "captured", || async {
                status_of(h, &id).await["status"] == "captured"
            })
            .await;
            h.post(&format!("/v1/payments/{id}/refunds"), &json!({}), None)
                .await;
            id
        }
        // Manual capture, cancelled.
        2 => {
            body["capture"] = json!("manual");
            let p = h.post("/v1/payments", &body, None).await.json();
            let id = p["id"].as_str().unwrap().to_string();
            h.post(&format!("/v1/payments/{id}/cancel"), &json!({}), None)
                .await;
            id
        }
        // A decline.
        _ => {
            body["payment_method"]["card"]["number"] = json!("4000000000000002");
            h.post("/v1/payments", &body, None).await.json()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_duplicated_and_reordered_webhooks_ends_with_every_payment_as_the_ledger_shows()
{
    let h = Arc::new(Harness::start().await);
    h.fault(json!({"dialect": "any", "mode": "webhook_duplicate", "rate": 0.3}))
        .await;
    h.fault(json!({"dialect": "any", "mode": "webhook_out_of_order", "rate": 0.2}))
        .await;
    const PAYMENTS: usize = 320;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (worker..PAYMENTS).step_by(8) {
                ids.push(drive(&h, i).await);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    h.settle().await;
    let stats = h
        .http
        .send(
            Method::GET,
            &format!("{}/__sandbox/webhooks", h.sandbox_url),
            &[],
            None,
        )
        .await
        .json();
    assert!(
        stats["acknowledged"].as_u64().unwrap() >= 1000,
        "a storm of at least 1,000 events: {stats}"
    );

    let ledger = h.ledger().await;
    let mut mismatches = Vec::new();
    for id in &ids {
        let p = status_of(&h, id).await;
        let Some(charge) = ledger.iter().find(|c| c["id"] == p["provider_reference"]) else {
            mismatches.push(format!("{id}: no ledger charge"));
            continue;
        };
        let expected = match charge["status"].as_str().unwrap() {
            "declined" => "failed",
            other => other,
        };
        let got = (
            p["status"].as_str().unwrap(),
            p["amount_captured"].as_i64(),
            p["amount_refunded"].as_i64(),
        );
        let want = (
            expected,
            charge["amount_captured"].as_i64(),
            charge["amount_refunded"].as_i64(),
        );
        if got != want {
            mismatches.push(format!(
                "{id} ({}): payroute {got:?} ledger {want:?}",
                p["gateway"]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        ids.len(),
        mismatches.join("\n")
    );
}

/// An Adyen notification item signed as Adyen signs it.
fn adyen_item(
    psp: &str,
    merchant_reference: &str,
    value: i64,
    event: &str,
    success: &str,
) -> Value {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let key =
        hex::decode("44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056").unwrap();
    let signing = format!("{psp}::PayrouteDemo:{merchant_reference}:{value}:EUR:{event}:{success}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(signing.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    json!({"NotificationRequestItem": {"pspReference": psp, "merchantReference": merchant_reference,
        "merchantAccountCode": "PayrouteDemo", "amount": {"currency": "EUR", "value": value},
        "eventCode": event, "success": success, "eventDate": "2026-11-24T12:00:00+01:00",
        "additionalData": {"hmacSignature": sig}}})
}

#[tokio::test]
async fn a_late_authorization_for_a_failed_payment_is_reversed_at_the_gateway() {
    let h = Harness::start().await;
    let p = h
        .post(
            "/v1/payments",
            &card_payment(4100, "EUR", "4000000000000002", "o-late-auth"),
            None,
        )
        .await
        .json();
    assert_eq!(
        (p["status"].as_str(), p["gateway"].as_str()),
        (Some("failed"), Some("adyen_sandbox"))
    );
    h.settle().await;
    // The gateway now says it authorised after all (payroute had answered "failed").
    let psp = p["provider_reference"].as_str().unwrap();
    let id = p["id"].as_str().unwrap();
    let body = json!({"live": "false", "notificationItems": [adyen_item(psp, id, 4100, "AUTHORISATION", "true")]});
    let r = h
        .http
        .send(
            Method::POST,
            &format!("{}/webhooks/adyen_sandbox", h.api),
            &[],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    h.wait_applied_with_note(&format!("{psp}:AUTHORISATION:true"), "reversal")
        .await;
    let now = h.get(&format!("/v1/payments/{id}")).await.json();
    assert_eq!(
        now["status"], "failed",
        "what the merchant was told stays true"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_late_authorization_already_captured_is_refunded_by_its_psp_reference() {
    let h = Harness::start_short_timeouts(|s| {
        s.reconcile.min_age = Duration::ZERO;
        s.reconcile.interval = Duration::from_millis(200);
        s.reconcile.reverse_after = Duration::from_millis(500);
    })
    .await;
    // Adyen charges and captures; payroute hears nothing at all, so after
    // its cancel by reference it concludes the payment failed.
    h.fault(json!({"dialect": "adyen", "mode": "timeout_after_charge", "count": 5}))
        .await;
    h.fault(json!({"dialect": "adyen", "mode": "webhook_drop"}))
        .await;
    let id = h.processing_payment(4200, "EUR", "o-late-cap").await;
    eventually(15, "concluded failed", || async {
        status_of(&h, &id).await["status"] == "failed"
    })
    .await;
    let charge = h.ledger().await[0].clone();
    assert_eq!(
        (charge["live"].as_bool(), charge["amount_captured"].as_i64()),
        (Some(true), Some(4200)),
        "the gap: Adyen holds a captured charge"
    );
    // Adyen's AUTHORISATION notification finally arrives.
    h.http
        .send(
            Method::DELETE,
            &format!("{}/__sandbox/faults", h.sandbox_url),
            &[],
            None,
        )
        .await;
    let psp = charge["id"].as_str().unwrap();
    let body = json!({"live": "false", "notificationItems": [adyen_item(psp, &id, 4200, "AUTHORISATION", "true")]});
    let r = h
        .http
        .send(
            Method::POST,
            &format!("{}/webhooks/adyen_sandbox", h.api),
            &[],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    eventually(10, "refunded at Adyen by its pspReference", || async {
        h.ledger().await[0]["amount_refunded"] == 4200
    })
    .await;
    let p = status_of(&h, &id).await;
    assert_eq!(
        p["status"], "failed",
        "what the merchant was told stays true"
    );
    assert_eq!(
        p["refunds"],
        json!([]),
        "a reversal is not the merchant's refund"
    );
    h.shutdown().await;
}

/// Two gateways of one kind on one sandbox, each its own Adyen merchant
/// account with its own HMAC key: each account's notifications reach its
/// own gateway's endpoint, signed with its own key, as Adyen sends them,
/// so both payments' captures complete.
#[tokio::test]
async fn two_gateways_of_one_kind_each_get_their_own_accounts_webhooks() {
    let h = Harness::start_with(|rules, sandbox| {
        let gateways = rules.join("gateways.yaml");
        let mut text = std::fs::read_to_string(&gateways).unwrap();
        text.push_str(&format!(
            "\n  - id: adyen_second\n    kind: adyen\n    base_url: http://{sandbox}/adyen/v71\n    \
             merchant_account: SecondAccount\n    credentials:\n      \
             api_key: ${{SECOND_ADYEN_KEY:-second_key}}\n      \
             hmac_key: ${{SECOND_ADYEN_HMAC:-00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF}}\n"
        ));
        std::fs::write(&gateways, text).unwrap();
        let routes = rules.join("routes.yaml");
        let text = std::fs::read_to_string(&routes).unwrap().replacen(
            "routes:\n",
            "routes:\n  - name: second-account\n    when: { currency: [GBP] }\n    gateways: [adyen_second]\n\n",
            1,
        );
        std::fs::write(&routes, text).unwrap();
    })
    .await;
    let mut ids = Vec::new();
    for (currency, gateway) in [("EUR", "adyen_sandbox"), ("GBP", "adyen_second")] {
        let p = h
            .manual_payment(3100, currency, "4242424242424242", &format!("o-{gateway}"))
            .await;
        assert_eq!(p["gateway"], gateway, "{p}");
        let id = p["id"].as_str().unwrap().to_string();
        let cap = h
            .post(&format!("/v1/payments/{id}/capture"), &json!({}), None)
            .await;
        assert_eq!(cap.json()["status"], "capture_pending");
        ids.push(id);
    }
    for id in &ids {
        eventually(
            10,
            "captured by its own account's CAPTURE webhook",
            || async { status_of(&h, id).await["status"] == "captured" },
        )
        .await;
    }
}
