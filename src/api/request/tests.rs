use serde_json::{Value, json};

use super::validate::luhn_ok;
use super::*;
use crate::domain::facts::MethodKind;
use crate::payments::engine::MethodInput;

fn body() -> Value {
    json!({"amount": 1999, "currency": "EUR", "reference": "o-1",
           "payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}})
}

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn create(v: &Value) -> Result<NewPayment, ApiError> {
    parse_create(v.to_string().as_bytes())
}

fn refusal(e: ApiError) -> (&'static str, String) {
    assert_eq!(e.status, http::StatusCode::BAD_REQUEST, "{e}");
    (e.code, e.param.unwrap_or_default())
}

fn refused(raw: &str) -> (&'static str, String) {
    refusal(parse_create(raw.as_bytes()).unwrap_err())
}

#[test]
fn a_valid_card_payment_parses() {
    let p = create(&body()).unwrap();
    assert_eq!(p.amount, 1999);
    assert_eq!(p.currency.code(), "EUR");
    let MethodInput::Card(card) = p.method else {
        panic!("a card payment")
    };
    assert_eq!((card.exp_month, card.exp_year), (12, 2030));
}

#[test]
fn bad_inputs_name_their_param() {
    let cases = [
        ("/amount", json!(-1), "amount_invalid", "amount"),
        ("/amount", json!(19.99), "parameter_invalid", "amount"),
        (
            "/amount",
            json!(1_000_000_000_000i64),
            "amount_too_large",
            "amount",
        ),
        ("/currency", json!("EURO"), "currency_invalid", "currency"),
        ("/currency", json!("eur"), "currency_invalid", "currency"),
        (
            "/payment_method/card/number",
            json!("4242424242424241"),
            "card_number_invalid",
            "payment_method.card.number",
        ),
        (
            "/payment_method/type",
            json!("cash"),
            "parameter_invalid",
            "payment_method.type",
        ),
    ];
    for (ptr, val, code, param) in cases {
        let mut b = body();
        *b.pointer_mut(ptr).unwrap() = val;
        let e = create(&b).unwrap_err();
        assert_eq!((e.code, e.param.as_deref()), (code, Some(param)), "{ptr}");
    }
}

#[test]
fn wrong_types_are_parameter_invalid_naming_the_dotted_param() {
    let cases = [
        ("/amount", json!("100"), "amount"),
        ("/amount", json!(10_000_000_000_000_000_000u64), "amount"),
        ("/amount", json!([1]), "amount"),
        ("/reference", json!(true), "reference"),
        ("/payment_method", json!("card"), "payment_method"),
        ("/payment_method/card", json!([]), "payment_method.card"),
        (
            "/payment_method/card/exp_month",
            json!(12.0),
            "payment_method.card.exp_month",
        ),
        (
            "/payment_method/card/cvc",
            json!(123),
            "payment_method.card.cvc",
        ),
    ];
    for (ptr, val, param) in cases {
        let mut b = body();
        *b.pointer_mut(ptr).unwrap() = val.clone();
        let e = create(&b).unwrap_err();
        assert_eq!(
            refusal(e),
            ("parameter_invalid", param.into()),
            "{ptr}={val}"
        );
    }
    let extra = [
        (json!({"customer": {"email": 5}}), "customer.email"),
        (json!({"customer": 5}), "customer"),
        (json!({"metadata": {"a": 1}}), "metadata"),
        (json!({"metadata": ["a"]}), "metadata"),
        (json!({"risk_score": 1.5}), "risk_score"),
    ];
    for (add, param) in extra {
        let mut b = body();
        b.as_object_mut()
            .unwrap()
            .extend(add.as_object().unwrap().clone());
        let e = create(&b).unwrap_err();
        assert_eq!(refusal(e), ("parameter_invalid", param.into()), "{add}");
    }
}

#[test]
fn duplicate_keys_are_refused_at_the_top_and_inside_objects_and_maps() {
    let pm = r#""payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}}"#;
    let cases = [
        (
            format!(r#"{{"amount": 1, "amount": 2, "currency": "EUR", {pm}}}"#),
            "amount",
        ),
        (
            r#"{"payment_method": {"type": "card", "card": {"number": "4242424242424242", "number": "4000000000000002"}}}"#.to_string(),
            "payment_method.card.number",
        ),
        (
            format!(r#"{{"amount": 1, "am\u006funt": 2, "currency": "EUR", {pm}}}"#),
            "amount",
        ),
        (
            format!(r#"{{"metadata": {{"cart": "a", "cart": "b"}}, {pm}}}"#),
            "metadata.cart",
        ),
        (
            r#"{"payment_method": {"type": "gateway_token", "tokens": {"stripe_sandbox": "pm_1", "stripe_sandbox": "pm_2"}}}"#.to_string(),
            "payment_method.tokens.stripe_sandbox",
        ),
    ];
    for (raw, param) in cases {
        assert_eq!(refused(&raw), ("duplicate_key", param.into()), "{raw}");
    }
    let capture = parse_capture(br#"{"amount": 1, "amount": 1}"#, eur()).unwrap_err();
    assert_eq!(refusal(capture), ("duplicate_key", "amount".into()));
}

#[test]
fn unknown_parameters_are_refused_naming_their_path() {
    let cases = [
        (json!({"captur": "manual"}), "captur"),
        (json!({"customer": {"phone": "1"}}), "customer.phone"),
        (
            json!({"payment_method": {"kind": "card"}}),
            "payment_method.kind",
        ),
    ];
    for (add, param) in cases {
        let mut b = body();
        b.as_object_mut()
            .unwrap()
            .extend(add.as_object().unwrap().clone());
        assert_eq!(
            refusal(create(&b).unwrap_err()),
            ("parameter_unknown", param.into())
        );
    }
    let mut b = body();
    b["payment_method"]["card"]["numbr"] = json!("4242");
    let e = create(&b).unwrap_err();
    assert_eq!(
        refusal(e),
        ("parameter_unknown", "payment_method.card.numbr".into())
    );
    let e = parse_capture(br#"{"amout": 5}"#, eur()).unwrap_err();
    assert_eq!(refusal(e), ("parameter_unknown", "amout".into()));
    let e = parse_refund(br#"{"reson": "x"}"#, eur()).unwrap_err();
    assert_eq!(refusal(e), ("parameter_unknown", "reson".into()));
    let e = parse_cancel(br#"{"amount": 5}"#).unwrap_err();
    assert_eq!(refusal(e), ("parameter_unknown", "amount".into()));
}

fn nested(depth: usize) -> String {
    // The body is level 1 and `metadata` level 2.
    let inner = depth - 2;
    format!(
        r#"{{"metadata": {}{}}}"#,
        "[".repeat(inner + 1),
        "]".repeat(inner + 1)
    )
}

#[test]
fn nesting_beyond_the_bound_is_refused_before_reading() {
    assert_eq!(
        refused(&nested(MAX_DEPTH + 1)),
        ("nesting_too_deep", "body".into())
    );
    assert_eq!(
        refused(&"[".repeat(10_000)),
        ("nesting_too_deep", "body".into())
    );
    // At the bound the reader runs and names the real problem.
    assert_eq!(
        refused(&nested(MAX_DEPTH)),
        ("parameter_invalid", "metadata".into())
    );
}

#[test]
fn brackets_inside_strings_do_not_count_as_nesting() {
    let mut b = body();
    b["metadata"] = json!({"note": format!("\\\"{}", "[{".repeat(40))});
    assert!(create(&b).is_ok());
}

#[test]
fn malformed_or_non_object_bodies_are_invalid_json() {
    for raw in [
        r#"{"amount": 12,"#,
        "[1]",
        "null",
        r#""x""#,
        "{} x",
        "{'a': 1}",
    ] {
        assert_eq!(refused(raw), ("invalid_json", "body".into()), "{raw}");
    }
}

#[test]
fn blank_bodies_read_as_empty_objects() {
    assert_eq!(parse_capture(b"", eur()).unwrap(), None);
    assert_eq!(parse_cancel(b" \n").unwrap(), None);
    let r = parse_refund(b"", eur()).unwrap();
    assert_eq!((r.amount, r.reason), (None, None));
    assert_eq!(refused(""), ("parameter_missing", "currency".into()));
}

#[test]
fn null_parameters_are_absent() {
    let mut b = body();
    for k in [
        "customer",
        "metadata",
        "risk_score",
        "capture",
        "return_url",
    ] {
        b[k] = Value::Null;
    }
    let p = create(&b).unwrap();
    assert_eq!(p.risk_score, None);
    assert!(p.metadata.is_empty());
}

#[test]
fn capture_and_refund_amounts_follow_the_payment_currency() {
    assert_eq!(
        parse_capture(br#"{"amount": 10}"#, eur()).unwrap(),
        Some(10)
    );
    let e = parse_capture(br#"{"amount": -1}"#, eur()).unwrap_err();
    assert_eq!(refusal(e), ("amount_invalid", "amount".into()));
    let jpy = Currency::from_code("JPY").unwrap();
    let e = parse_refund(br#"{"amount": 100000000}"#, jpy).unwrap_err();
    assert_eq!(refusal(e), ("amount_too_large", "amount".into()));
    let r = parse_refund(br#"{"amount": 5, "reason": "requested"}"#, eur()).unwrap();
    assert_eq!(
        (r.amount, r.reason.as_deref()),
        (Some(5), Some("requested"))
    );
}

#[test]
fn sepa_details_may_sit_in_payment_method_or_in_sepa_debit() {
    let flat =
        json!({"type": "sepa_debit", "iban": "DE89 3704 0044 0532 0130 00", "name": "A. Buyer"});
    let nested = json!({"type": "sepa_debit", "sepa_debit": {"iban": "DE89370400440532013000", "name": "A. Buyer"}});
    for pm in [flat, nested] {
        let mut b = body();
        b["payment_method"] = pm;
        let MethodInput::Sepa { iban, owner_name } = create(&b).unwrap().method else {
            panic!("a SEPA payment")
        };
        assert_eq!(
            (iban.expose(), owner_name.as_str()),
            ("DE89370400440532013000", "A. Buyer")
        );
    }
}

#[test]
fn card_numbers_stay_out_of_debug_output_and_errors() {
    let pan = "4242424242424242";
    let parsed = CreateBody::parse(body().to_string().as_bytes()).unwrap();
    assert!(!format!("{parsed:?}").contains(pan));
    assert!(!format!("{:?}", create(&body()).unwrap()).contains(pan));
    let mut b = body();
    b["payment_method"]["card"]["number"] = json!("4242424242424241");
    let e = create(&b).unwrap_err();
    assert!(!format!("{e:?}").contains("4242424242424241"));
}

#[test]
fn explain_validates_like_create_but_needs_no_reference() {
    let mut b = body();
    b.as_object_mut().unwrap().remove("reference");
    let f = parse_explain("acme", b.to_string().as_bytes()).unwrap();
    assert_eq!((f.amount, f.currency.as_str()), (1999, "EUR"));
    let cases = [
        ("/amount", json!(-5), "amount_invalid", "amount"),
        ("/currency", json!("eur"), "currency_invalid", "currency"),
        (
            "/payment_method/card/number",
            json!("4242x"),
            "card_number_invalid",
            "payment_method.card.number",
        ),
    ];
    for (ptr, val, code, param) in cases {
        let mut b = body();
        *b.pointer_mut(ptr).unwrap() = val;
        let e = parse_explain("m", b.to_string().as_bytes()).unwrap_err();
        assert_eq!(refusal(e), (code, param.into()), "{ptr}");
    }
}

#[test]
fn explain_fills_every_fact_and_drops_the_pan() {
    let b = json!({
        "amount": 1999, "currency": "EUR",
        "payment_method": {"type": "card", "card": {"number": "4242 4242 4242 4242",
            "exp_month": 12, "exp_year": 2030, "cvc": "123"}},
        "customer": {"id": "cus_1", "email": "a@example.com", "country": "DE", "ip": "203.0.113.7"},
        "risk_score": 12,
        "metadata": {"cart": "abc"}
    });
    let f = parse_explain("acme", b.to_string().as_bytes()).unwrap();
    assert_eq!(f.merchant, "acme");
    assert_eq!(f.method, Some(MethodKind::Card));
    assert_eq!(f.card_bin.as_deref(), Some("424242"));
    assert_eq!(f.card_network.as_deref(), Some("visa"));
    assert_eq!(f.card_fingerprint, None);
    assert_eq!(f.customer_id.as_deref(), Some("cus_1"));
    assert_eq!(f.customer_email.as_deref(), Some("a@example.com"));
    assert_eq!(f.country.as_deref(), Some("DE"));
    assert_eq!(f.customer_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(f.risk_score, Some(12));
    assert_eq!(f.metadata.get("cart"), Some(&json!("abc")));
    assert!(!format!("{f:?}").contains("4242424242424242"));
    assert!(!format!("{f:?}").contains("4242 4242 4242 4242"));
}

#[test]
fn explain_of_gateway_tokens_lists_the_gateways_holding_one() {
    let b = json!({"amount": 5, "currency": "USD",
        "payment_method": {"type": "gateway_token", "tokens": {"stripe_main": "pm_1", "adyen_eu": "x"}}});
    let f = parse_explain("m", b.to_string().as_bytes()).unwrap();
    assert_eq!(
        f.token_gateways.unwrap(),
        vec!["adyen_eu".to_string(), "stripe_main".to_string()]
    );
}

#[test]
fn luhn_accepts_test_cards_only_when_valid() {
    assert!(luhn_ok("4242424242424242"));
    assert!(luhn_ok("4000000000000002"));
    assert!(!luhn_ok("4242424242424243"));
}
