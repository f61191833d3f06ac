//! Stripe's nested form encoding (`a[b][c]=v`, `a[0]=v`, `a[]=v`) decoded
//! into a tree, written from Stripe's documented encoding rather than shared
//! with the connectors' encoder.

use std::collections::BTreeMap;

/// One node of a decoded form. Lists are maps with decimal keys, because
/// Stripe's indexed arrays (`a[0]`) and hashes (`a[k]`) share one syntax.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FormValue {
    Str(String),
    Map(BTreeMap<String, FormValue>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FormError {
    #[error("Invalid parameter name: {0}")]
    BadKey(String),
    #[error("Invalid hash or array for {0}: the parameter is given both as a value and as a hash")]
    Conflict(String),
}

/// The decoded top-level form plus the raw pairs (for idempotency fingerprints).
#[derive(Debug, Clone, Default)]
pub(crate) struct Form {
    root: BTreeMap<String, FormValue>,
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut form = Form::default();
        for (key, value) in form_urlencoded::parse(body) {
            let segments = split_key(&key)?;
            insert(&mut form.root, &segments, value.to_string(), &key)?;
            form.pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok(form)
    }

    /// Top-level parameter names.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.root.keys().map(String::as_str)
    }

    /// Sorted raw pairs: two requests with the same parameters compare equal.
    pub fn fingerprint(&self) -> Vec<(String, String)> {
        let mut pairs = self.pairs.clone();
        pairs.sort();
        pairs
    }

    pub fn get(&self, path: &[&str]) -> Option<&FormValue> {
        let (first, rest) = path.split_first()?;
        let mut node = self.root.get(*first)?;
        for segment in rest {
            match node {
                FormValue::Map(map) => node = map.get(*segment)?,
                FormValue::Str(_) => return None,
            }
        }
        Some(node)
    }

    /// A scalar at `path`; an empty string counts as absent (Stripe's "unset").
    pub fn str(&self, path: &[&str]) -> Option<&str> {
        match self.get(path)? {
            FormValue::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// The scalar children of a hash, e.g. `metadata[...]`.
    pub fn string_map(&self, name: &str) -> BTreeMap<String, String> {
        match self.get(&[name]) {
            Some(FormValue::Map(map)) => map
                .iter()
                .filter_map(|(k, v)| match v {
                    FormValue::Str(s) => Some((k.clone(), s.clone())),
                    FormValue::Map(_) => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// An array's scalar items in index order, e.g. `expand[0]`, `expand[]`.
    pub fn string_list(&self, name: &str) -> Vec<String> {
        match self.get(&[name]) {
            Some(FormValue::Map(map)) => {
                let mut items: Vec<(u64, &String)> = map
                    .iter()
                    .filter_map(|(k, v)| match v {
                        FormValue::Str(s) => Some((k.parse().ok()?, s)),
                        FormValue::Map(_) => None,
                    })
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                items.into_iter().map(|(_, s)| s.clone()).collect()
            }
            Some(FormValue::Str(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

/// `a[b][]` → `["a", "b", ""]`; an empty segment means "append".
fn split_key(key: &str) -> Result<Vec<String>, FormError> {
    let bad = || FormError::BadKey(key.to_string());
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(bad());
    }
    let mut segments = vec![head.to_string()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let close = inner.find(']').ok_or_else(bad)?;
        segments.push(inner[..close].to_string());
        rest = &inner[close + 1..];
    }
    Ok(segments)
}

fn insert(
    map: &mut BTreeMap<String, FormValue>,
    segments: &[String],
    value: String,
    key: &str,
) -> Result<(), FormError> {
    let Some((first, rest)) = segments.split_first() else {
        return Err(FormError::BadKey(key.to_string()));
    };
    let name = if first.is_empty() {
        map.len().to_string()
    } else {
        first.clone()
    };
    if rest.is_empty() {
        if matches!(map.get(&name), Some(FormValue::Map(_))) {
            return Err(FormError::Conflict(key.to_string()));
        }
        map.insert(name, FormValue::Str(value));
        return Ok(());
    }
    let child = map
        .entry(name)
        .or_insert_with(|| FormValue::Map(BTreeMap::new()));
    match child {
        FormValue::Map(inner) => insert(inner, rest, value, key),
        FormValue::Str(_) => Err(FormError::Conflict(key.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_hashes_and_indexed_arrays_decode() {
        let form = Form::parse(
            b"amount=2000&metadata%5Border_id%5D=ord%3A1&payment_method_types%5B0%5D=card\
              &payment_method_options%5Bcard%5D%5Bcapture_method%5D=manual",
        )
        .unwrap();
        assert_eq!(form.str(&["amount"]), Some("2000"));
        assert_eq!(form.string_map("metadata")["order_id"], "ord:1");
        assert_eq!(form.string_list("payment_method_types"), vec!["card"]);
        assert_eq!(
            form.str(&["payment_method_options", "card", "capture_method"]),
            Some("manual")
        );
    }

    #[test]
    fn empty_brackets_append_in_order() {
        let form = Form::parse(b"expand[]=a&expand[]=b&expand[]=c").unwrap();
        assert_eq!(form.string_list("expand"), vec!["a", "b", "c"]);
    }

    #[test]
    fn indexed_arrays_sort_numerically_not_lexically() {
        let mut body = String::new();
        for i in 0..12 {
            body.push_str(&format!("x[{i}]=v{i}&"));
        }
        let form = Form::parse(body.as_bytes()).unwrap();
        assert_eq!(form.string_list("x")[10], "v10");
        assert_eq!(form.string_list("x")[2], "v2");
    }

    #[test]
    fn scalar_and_hash_for_one_name_conflict() {
        assert!(matches!(
            Form::parse(b"card=1&card[number]=42"),
            Err(FormError::Conflict(_))
        ));
        assert!(matches!(
            Form::parse(b"card[number]=42&card=1"),
            Err(FormError::Conflict(_))
        ));
    }

    #[test]
    fn malformed_brackets_are_rejected() {
        assert!(Form::parse(b"a[b=1").is_err());
        assert!(Form::parse(b"[a]=1").is_err());
        assert!(Form::parse(b"a[b]x=1").is_err());
    }

    #[test]
    fn fingerprint_ignores_parameter_order() {
        let a = Form::parse(b"amount=1&currency=eur").unwrap();
        let b = Form::parse(b"currency=eur&amount=1").unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
    }
}
