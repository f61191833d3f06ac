//! Inbound webhook hot path: verify + parse + normalize of a ~2 KB Stripe
//! event and of an Adyen batch of 10 items.

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use payroute::connectors::{adyen, stripe};
use serde_json::json;
use std::hint::black_box;

const STRIPE_SECRET: &str = "whsec_bench_secret";
const ADYEN_KEY: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";

fn stripe_event() -> (Vec<u8>, String, i64) {
    let mut metadata = serde_json::Map::new();
    for i in 0..24 {
        metadata.insert(
            format!("key_{i}"),
            json!(format!("value-{i}-{}", "x".repeat(30))),
        );
    }
    let body = serde_json::to_string_pretty(&json!({
        "id": "evt_3OJ0bench000000000000001", "object": "event", "api_version": "2024-06-20", "created": 1_700_000_000,
        "data": {"object": {"id": "pi_3OJ0bench0000000000001", "object": "payment_intent", "amount": 2000,
            "amount_received": 2000, "currency": "usd", "status": "succeeded", "capture_method": "automatic",
            "latest_charge": "ch_3OJ0bench00000000001", "metadata": metadata}},
        "livemode": false, "pending_webhooks": 1,
        "request": {"id": "req_bench", "idempotency_key": "9d4c2f3a-2b1e-4c8f-9a7d-1e2f3a4b5c6d"},
        "type": "payment_intent.succeeded"
    }))
    .unwrap();
    let t = 1_700_000_000;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let header = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    (body.into_bytes(), header, t)
}

fn adyen_batch(n: usize) -> Vec<u8> {
    use base64::Engine;
    let key = hex::decode(ADYEN_KEY).unwrap();
    let items: Vec<_> = (0..n)
        .map(|i| {
            let psp = format!("{:016}", 7914073381342284u64 + i as u64);
            let signing = format!("{psp}::TestMerchant:pay_{i}:1130:EUR:AUTHORISATION:true");
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
            mac.update(signing.as_bytes());
            let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            json!({"NotificationRequestItem": {"pspReference": psp, "merchantReference": format!("pay_{i}"),
                "merchantAccountCode": "TestMerchant", "amount": {"currency": "EUR", "value": 1130},
                "eventCode": "AUTHORISATION", "success": "true", "eventDate": "2019-05-06T17:15:34.121+02:00",
                "operations": ["CANCEL", "CAPTURE", "REFUND"], "paymentMethod": "visa",
                "additionalData": {"hmacSignature": sig}}})
        })
        .collect();
    serde_json::to_vec(&json!({"live": "false", "notificationItems": items})).unwrap()
}

fn bench(c: &mut Criterion) {
    let (body, header, t) = stripe_event();
    assert!(body.len() >= 2000, "a ~2 KB event, got {}", body.len());
    c.bench_function("webhook/stripe_2kb_verify_parse_normalize", |b| {
        b.iter(|| {
            stripe::verify_stripe(black_box(&body), Some(&header), STRIPE_SECRET, 300, t + 1)
                .unwrap();
            black_box(stripe::normalize_stripe(&body).unwrap())
        })
    });
    let batch = adyen_batch(10);
    c.bench_function("webhook/adyen_batch10_verify_parse_normalize", |b| {
        b.iter(|| {
            let items =
                adyen::verify_adyen_notification(black_box(&batch), None, None, &[ADYEN_KEY])
                    .unwrap();
            let events: Vec<_> = items.iter().map(adyen::normalize_adyen).collect();
            black_box(events)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
