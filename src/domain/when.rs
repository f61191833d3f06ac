//! `when` conditions over [`PaymentFacts`], shared by routes and risk
//! signals: already validated by the rule-file compiler, so matching is
//! plain comparisons with no error paths.

use std::collections::BTreeMap;

use super::facts::{MethodKind, PaymentFacts};

/// An inclusive range; `None` bounds are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bounds<T> {
    pub min: Option<T>,
    pub max: Option<T>,
}

impl<T: PartialOrd + Copy> Bounds<T> {
    pub fn contains(&self, v: T) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// A validated `when`. Every present key must match; lists match if any
/// element matches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct When {
    pub method: Option<Vec<MethodKind>>,
    pub currency: Option<Vec<String>>,
    pub country: Option<Vec<String>>,
    pub amount: Option<Bounds<i64>>,
    /// Against the computed risk score (0–100).
    pub risk: Option<Bounds<u32>>,
    pub merchant: Option<Vec<String>>,
    pub card_network: Option<Vec<String>>,
    /// Prefixes of the card BIN.
    pub card_bin: Option<Vec<String>>,
    /// Metadata key → allowed string values.
    pub metadata: BTreeMap<String, Vec<String>>,
}

fn any_eq(list: &Option<Vec<String>>, value: Option<&str>) -> bool {
    match list {
        None => true,
        Some(list) => value.is_some_and(|v| list.iter().any(|x| x == v)),
    }
}

/// Metadata values are strings in the API, but a merchant may send
/// `"tier": 2`; compare numbers and booleans by their JSON text.
fn metadata_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl When {
    /// True when nothing is constrained (a catch-all route).
    pub fn is_empty(&self) -> bool {
        *self == When::default()
    }

    pub fn matches(&self, facts: &PaymentFacts, risk_score: u32) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| facts.method.is_some_and(|f| m.contains(&f)))
            && any_eq(&self.currency, Some(&facts.currency))
            && any_eq(&self.country, facts.country.as_deref())
            && self.amount.is_none_or(|b| b.contains(facts.amount))
            && self.risk.is_none_or(|b| b.contains(risk_score))
            && any_eq(&self.merchant, Some(&facts.merchant))
            && any_eq(&self.card_network, facts.card_network.as_deref())
            && self.bin_matches(facts.card_bin.as_deref())
            && self.metadata_matches(facts)
    }

    /// One-line rendering for summaries and explain: `method=card currency=EUR,GBP`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.method {
            let names: Vec<&str> = m.iter().map(|k| k.as_str()).collect();
            parts.push(format!("method={}", names.join(",")));
        }
        let lists = [
            ("currency", &self.currency),
            ("country", &self.country),
            ("merchant", &self.merchant),
            ("card_network", &self.card_network),
            ("card_bin", &self.card_bin),
        ];
        for (key, list) in lists {
            if let Some(list) = list {
                parts.push(format!("{key}={}", list.join(",")));
            }
        }
        if let Some(b) = self.amount {
            parts.push(format!("amount={}", describe_bounds(b)));
        }
        if let Some(b) = self.risk {
            parts.push(format!("risk={}", describe_bounds(b)));
        }
        for (key, values) in &self.metadata {
            parts.push(format!("metadata.{key}={}", values.join(",")));
        }
        if parts.is_empty() {
            return "all payments".to_string();
        }
        parts.join(" ")
    }

    fn bin_matches(&self, bin: Option<&str>) -> bool {
        match &self.card_bin {
            None => true,
            Some(prefixes) => bin.is_some_and(|b| prefixes.iter().any(|p| b.starts_with(p))),
        }
    }

    fn metadata_matches(&self, facts: &PaymentFacts) -> bool {
        self.metadata.iter().all(|(key, allowed)| {
            facts
                .metadata
                .get(key)
                .and_then(metadata_text)
                .is_some_and(|v| allowed.contains(&v))
        })
    }
}

fn describe_bounds<T: std::fmt::Display>(b: Bounds<T>) -> String {
    let min = b.min.map(|v| v.to_string()).unwrap_or_default();
    let max = b.max.map(|v| v.to_string()).unwrap_or_default();
    format!("{min}..{max}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PaymentFacts {
        let mut metadata = serde_json::Map::new();
        metadata.insert("channel".into(), "web".into());
        metadata.insert("tier".into(), 2.into());
        PaymentFacts {
            merchant: "acme".into(),
            amount: 5000,
            currency: "EUR".into(),
            method: Some(MethodKind::Card),
            country: Some("DE".into()),
            card_network: Some("visa".into()),
            card_bin: Some("424242".into()),
            metadata,
            ..PaymentFacts::default()
        }
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn empty_when_matches_everything() {
        assert!(When::default().is_empty());
        assert!(When::default().matches(&PaymentFacts::default(), 0));
    }

    #[test]
    fn each_key_can_reject_a_payment() {
        let f = facts();
        let cases: Vec<(When, When)> = vec![
            (
                When {
                    method: Some(vec![MethodKind::Card]),
                    ..When::default()
                },
                When {
                    method: Some(vec![MethodKind::SepaDebit]),
                    ..When::default()
                },
            ),
            (
                When {
                    currency: strings(&["EUR"]),
                    ..When::default()
                },
                When {
                    currency: strings(&["USD"]),
                    ..When::default()
                },
            ),
            (
                When {
                    country: strings(&["DE", "FR"]),
                    ..When::default()
                },
                When {
                    country: strings(&["US"]),
                    ..When::default()
                },
            ),
            (
                When {
                    amount: Some(Bounds {
                        min: Some(5000),
                        max: Some(5000),
                    }),
                    ..When::default()
                },
                When {
                    amount: Some(Bounds {
                        min: Some(5001),
                        max: None,
                    }),
                    ..When::default()
                },
            ),
            (
                When {
                    risk: Some(Bounds {
                        min: None,
                        max: Some(30),
                    }),
                    ..When::default()
                },
                When {
                    risk: Some(Bounds {
                        min: Some(31),
                        max: None,
                    }),
                    ..When::default()
                },
            ),
            (
                When {
                    merchant: strings(&["acme"]),
                    ..When::default()
                },
                When {
                    merchant: strings(&["other"]),
                    ..When::default()
                },
            ),
            (
                When {
                    card_network: strings(&["visa"]),
                    ..When::default()
                },
                When {
                    card_network: strings(&["amex"]),
                    ..When::default()
                },
            ),
            (
                When {
                    card_bin: strings(&["4242"]),
                    ..When::default()
                },
                When {
                    card_bin: strings(&["5555"]),
                    ..When::default()
                },
            ),
            (
                When {
                    metadata: [
                        ("channel".to_string(), vec!["web".to_string()]),
                        ("tier".to_string(), vec!["2".to_string()]),
                    ]
                    .into_iter()
                    .collect(),
                    ..When::default()
                },
                When {
                    metadata: [("channel".to_string(), vec!["pos".to_string()])]
                        .into_iter()
                        .collect(),
                    ..When::default()
                },
            ),
        ];
        for (yes, no) in cases {
            assert!(yes.matches(&f, 30), "should match: {yes:?}");
            assert!(!no.matches(&f, 30), "should not match: {no:?}");
        }
    }

    #[test]
    fn absent_fact_never_matches_a_constraint_on_it() {
        let f = PaymentFacts::default();
        let w = When {
            country: strings(&["DE"]),
            ..When::default()
        };
        assert!(!w.matches(&f, 0));
        let w = When {
            card_bin: strings(&["4"]),
            ..When::default()
        };
        assert!(!w.matches(&f, 0));
        let w = When {
            metadata: [("k".to_string(), vec!["v".to_string()])]
                .into_iter()
                .collect(),
            ..When::default()
        };
        assert!(!w.matches(&f, 0));
    }
}
