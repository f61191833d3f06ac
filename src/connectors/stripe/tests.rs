//! Request-shape tests for the Stripe connector (no network).

use super::*;
use crate::connectors::GatewayKind;
use crate::domain::sensitive::Sensitive;
use std::time::Duration;

pub(crate) fn card() -> CardData {
    CardData {
        number: Sensitive("4242424242424242".into()),
        exp_month: 3,
        exp_year: 2030,
        cvc: Some(Sensitive("123".into())),
        holder_name: Some("A. Buyer".into()),
    }
}

pub(crate) fn authorize(method: MethodData, manual: bool) -> AuthorizeRequest {
    AuthorizeRequest {
        payment_id: "pay_1".into(),
        reference: "order-1234".into(),
        amount: 1999,
        currency: "EUR".into(),
        manual_capture: manual,
        method,
        customer_email: Some("a@example.com".into()),
        customer_country: Some("DE".into()),
        customer_ip: Some("203.0.113.7".into()),
        customer_id: Some("cus_1".into()),
        idempotency_key: "att_1-stripe_main".into(),
        return_url: "https://merchant.example/return".into(),
        credential: crate::domain::vault::CredentialUse::OneOff,
    }
}

fn decoded(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn card_payment_method_body_has_card_fields() {
    let pairs = decoded(&payment_method_body(&card()));
    assert_eq!(get(&pairs, "type"), Some("card"));
    assert_eq!(get(&pairs, "card[number]"), Some("4242424242424242"));
    assert_eq!(get(&pairs, "card[exp_month]"), Some("3"));
    assert_eq!(get(&pairs, "card[exp_year]"), Some("2030"));
    assert_eq!(get(&pairs, "card[cvc]"), Some("123"));
    assert_eq!(get(&pairs, "billing_details[name]"), Some("A. Buyer"));
}

#[test]
fn payment_intent_body_confirms_with_capture_method_and_metadata() {
    let req = authorize(MethodData::Card(card()), true);
    let pairs = decoded(&payment_intent_body(&req, &PaymentMethodRef::Id("pm_1".into())).unwrap());
    assert_eq!(get(&pairs, "amount"), Some("1999"));
    assert_eq!(get(&pairs, "currency"), Some("eur"));
    assert_eq!(get(&pairs, "confirm"), Some("true"));
    assert_eq!(get(&pairs, "capture_method"), Some("manual"));
    assert_eq!(get(&pairs, "payment_method"), Some("pm_1"));
    assert_eq!(get(&pairs, "payment_method_types[0]"), Some("card"));
    assert_eq!(get(&pairs, "metadata[payroute_payment_id]"), Some("pay_1"));
    assert_eq!(get(&pairs, "metadata[reference]"), Some("order-1234"));
    assert!(get(&pairs, "card[number]").is_none());

    let auto = authorize(MethodData::Card(card()), false);
    let pairs = decoded(&payment_intent_body(&auto, &PaymentMethodRef::Id("pm_1".into())).unwrap());
    assert_eq!(get(&pairs, "capture_method"), Some("automatic"));
}

#[test]
fn sepa_intent_body_is_inline_with_mandate() {
    let method = MethodData::SepaDebit {
        iban: Sensitive("DE89370400440532013000".into()),
        owner_name: "A B".into(),
    };
    let req = authorize(method, false);
    let pm = PaymentMethodRef::Sepa {
        iban: "DE89370400440532013000".into(),
        owner_name: "A B".into(),
    };
    let pairs = decoded(&payment_intent_body(&req, &pm).unwrap());
    assert_eq!(get(&pairs, "payment_method_types[0]"), Some("sepa_debit"));
    assert_eq!(get(&pairs, "payment_method_data[type]"), Some("sepa_debit"));
    assert_eq!(
        get(&pairs, "payment_method_data[sepa_debit][iban]"),
        Some("DE89370400440532013000")
    );
    assert_eq!(
        get(&pairs, "payment_method_data[billing_details][name]"),
        Some("A B")
    );
    assert_eq!(
        get(&pairs, "payment_method_data[billing_details][email]"),
        Some("a@example.com")
    );
    assert_eq!(
        get(&pairs, "mandate_data[customer_acceptance][type]"),
        Some("online")
    );
    assert_eq!(
        get(
            &pairs,
            "mandate_data[customer_acceptance][online][ip_address]"
        ),
        Some("203.0.113.7")
    );
}

#[test]
fn refund_reason_passes_only_stripe_values() {
    let mut req = RefundRequest {
        provider_reference: "pi_1".into(),
        amount: 500,
        currency: "EUR".into(),
        refund_id: "ref_1".into(),
        reason: Some("requested_by_customer".into()),
        idempotency_key: "k".into(),
    };
    let pairs = decoded(&refund_body(&req).unwrap());
    assert_eq!(get(&pairs, "payment_intent"), Some("pi_1"));
    assert_eq!(get(&pairs, "amount"), Some("500"));
    assert_eq!(get(&pairs, "reason"), Some("requested_by_customer"));
    assert_eq!(get(&pairs, "metadata[payroute_refund_id]"), Some("ref_1"));
    req.reason = Some("changed mind".into());
    let pairs = decoded(&refund_body(&req).unwrap());
    assert_eq!(get(&pairs, "reason"), None);
    assert_eq!(
        get(&pairs, "metadata[payroute_reason]"),
        Some("changed mind")
    );
}

#[test]
fn capture_and_cancel_bodies() {
    let cap = CaptureRequest {
        provider_reference: "pi_1".into(),
        amount: 700,
        currency: "EUR".into(),
        payment_id: "pay_1".into(),
        idempotency_key: "k".into(),
    };
    assert_eq!(capture_body(&cap).unwrap(), "amount_to_capture=700");
    let cancel = CancelRequest {
        provider_reference: "pi_1".into(),
        payment_id: "pay_1".into(),
        idempotency_key: "k".into(),
    };
    assert_eq!(
        cancel_body(&cancel),
        "cancellation_reason=requested_by_customer"
    );
}

#[test]
fn path_ids_cannot_escape_the_path() {
    assert_eq!(
        pi_path("pi_123", "capture").unwrap(),
        "/v1/payment_intents/pi_123/capture"
    );
    assert!(pi_path("pi_1/../../v1/refunds", "capture").is_err());
    assert!(pi_path("", "cancel").is_err());
}

#[test]
fn request_headers_and_debug_do_not_leak_secrets() {
    let settings = ConnectorSettings {
        id: "stripe_main".into(),
        kind: GatewayKind::Stripe,
        base_url: "http://127.0.0.1:4010/stripe/".into(),
        timeout: Duration::from_secs(5),
        api_key: Sensitive("sk_test_secret".into()),
        merchant_account: None,
    };
    let connector = StripeConnector::new(settings, HttpClient::new());
    let req = connector
        .request("/v1/payment_intents", "a=1".into(), "att_1")
        .unwrap();
    assert_eq!(req.uri(), "http://127.0.0.1:4010/stripe/v1/payment_intents");
    assert_eq!(req.headers()["authorization"], "Bearer sk_test_secret");
    assert_eq!(req.headers()["stripe-version"], STRIPE_VERSION);
    assert_eq!(req.headers()["idempotency-key"], "att_1");
    assert!(!format!("{:?}", req.headers()).contains("sk_test_secret"));
    assert!(!format!("{connector:?}").contains("sk_test_secret"));

    let auth = authorize(MethodData::Card(card()), false);
    let shown = format!("{auth:?}");
    assert!(!shown.contains("4242424242424242"), "{shown}");
    assert!(!shown.contains("\"123\""), "{shown}");
}
