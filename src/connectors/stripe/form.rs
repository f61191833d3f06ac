//! Stripe's v1 form encoding: nested maps become `key[sub]=v`, lists become
//! indexed `key[0]=v`, booleans `true`/`false`, absent values are omitted
//! (as stripe-python's `_api_encode` does). Field order is kept as given.

/// One value in a Stripe form body.
#[derive(Clone, PartialEq, Eq)]
pub enum FormValue {
    Str(String),
    Int(i64),
    Bool(bool),
    Map(Vec<(String, FormValue)>),
    List(Vec<FormValue>),
    /// Omitted from the output, like the SDK's `None`.
    Absent,
}

impl FormValue {
    pub fn str(s: impl Into<String>) -> FormValue {
        FormValue::Str(s.into())
    }

    pub fn opt(s: Option<impl Into<String>>) -> FormValue {
        s.map_or(FormValue::Absent, |s| FormValue::Str(s.into()))
    }

    pub fn map<K: Into<String>>(fields: impl IntoIterator<Item = (K, FormValue)>) -> FormValue {
        FormValue::Map(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// Encodes top-level fields in order into an `application/x-www-form-urlencoded` body.
pub fn encode(fields: &[(&str, FormValue)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        push(&mut out, key, value);
    }
    out.finish()
}

fn push(out: &mut form_urlencoded::Serializer<'_, String>, key: &str, value: &FormValue) {
    match value {
        FormValue::Str(s) => {
            out.append_pair(key, s);
        }
        FormValue::Int(n) => {
            out.append_pair(key, &n.to_string());
        }
        FormValue::Bool(b) => {
            out.append_pair(key, if *b { "true" } else { "false" });
        }
        FormValue::Map(fields) => {
            for (sub, v) in fields {
                push(out, &format!("{key}[{sub}]"), v);
            }
        }
        FormValue::List(items) => {
            for (i, v) in items.iter().enumerate() {
                push(out, &format!("{key}[{i}]"), v);
            }
        }
        FormValue::Absent => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_stripe_python_sdk_output() {
        let body = encode(&[
            ("amount", FormValue::Int(2000)),
            ("currency", FormValue::str("usd")),
            (
                "payment_method_types",
                FormValue::List(vec![FormValue::str("card")]),
            ),
            (
                "metadata",
                FormValue::map([("order_id", FormValue::str("ord:1"))]),
            ),
            ("confirm", FormValue::Bool(true)),
            (
                "expand",
                FormValue::List(vec![FormValue::str("latest_charge")]),
            ),
            (
                "payment_method_options",
                FormValue::map([(
                    "card",
                    FormValue::map([("capture_method", FormValue::str("manual"))]),
                )]),
            ),
        ]);
        assert_eq!(
            body,
            "amount=2000&currency=usd&payment_method_types%5B0%5D=card&metadata%5Border_id%5D=ord%3A1&confirm=true&expand%5B0%5D=latest_charge&payment_method_options%5Bcard%5D%5Bcapture_method%5D=manual"
        );
    }

    #[test]
    fn list_of_maps_is_indexed_then_nested() {
        let item = |p: &str, q| {
            FormValue::map([
                ("price", FormValue::str(p)),
                ("quantity", FormValue::Int(q)),
            ])
        };
        let body = encode(&[("items", FormValue::List(vec![item("p1", 2), item("p2", 1)]))]);
        assert_eq!(
            body,
            "items%5B0%5D%5Bprice%5D=p1&items%5B0%5D%5Bquantity%5D=2&items%5B1%5D%5Bprice%5D=p2&items%5B1%5D%5Bquantity%5D=1"
        );
    }

    #[test]
    fn absent_values_and_false_bools() {
        let body = encode(&[
            ("a", FormValue::Absent),
            ("b", FormValue::Bool(false)),
            ("c", FormValue::opt(None::<String>)),
            ("d", FormValue::map([("x", FormValue::Absent)])),
            ("e", FormValue::str("a b&c=d")),
        ]);
        assert_eq!(body, "b=false&e=a+b%26c%3Dd");
    }
}
