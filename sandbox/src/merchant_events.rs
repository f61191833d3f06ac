//! A stand-in merchant backend: `POST /__sandbox/merchant-events` records
//! whatever is delivered to it (headers and the raw body, kept byte for
//! byte so a signature over it can still be checked) and answers 200;
//! `GET` lists what arrived, `DELETE` forgets it. The shipped demo
//! merchant's `webhook_url` points here, so a first run with
//! `serve --sandbox` shows its payment events delivered instead of
//! retrying against a port nothing serves.
//!
//! Like the rest of the sandbox it knows nothing of payroute's event
//! format: it records any request, checks no signature and keeps only the
//! newest [`KEPT`] deliveries, so a long demo cannot grow it without bound.

use std::collections::VecDeque;

use http::HeaderMap;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::wire::now_unix;

/// How many deliveries are kept; older ones are forgotten first.
pub(crate) const KEPT: usize = 1000;

/// One request to the receiver, as it arrived.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MerchantEvent {
    /// Unix seconds when it arrived.
    pub received_at: i64,
    /// Every header, by lower-case name (repeated ones joined by `, `).
    pub headers: Map<String, Value>,
    /// The body exactly as received, lossily decoded as UTF-8.
    pub body: String,
    /// The body parsed as JSON, or null when it is not JSON.
    pub event: Value,
}

#[derive(Debug, Default)]
pub(crate) struct MerchantEvents {
    kept: VecDeque<MerchantEvent>,
    /// Every delivery since start (or the last clear), forgotten ones too.
    received: u64,
}

impl MerchantEvents {
    pub(crate) fn record(&mut self, headers: &HeaderMap, body: &[u8]) {
        let mut named = Map::new();
        for name in headers.keys() {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or("<not UTF-8>"))
                .collect();
            named.insert(name.as_str().to_string(), json!(values.join(", ")));
        }
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(MerchantEvent {
            received_at: now_unix(),
            headers: named,
            body: String::from_utf8_lossy(body).into_owned(),
            event: serde_json::from_slice(body).unwrap_or(Value::Null),
        });
        self.received += 1;
    }

    /// `{"received": N, "events": [...]}`, oldest first.
    pub(crate) fn report(&self) -> Value {
        json!({"received": self.received, "events": self.kept})
    }

    pub(crate) fn clear(&mut self) {
        *self = MerchantEvents::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_deliveries_are_kept_but_all_are_counted() {
        let mut events = MerchantEvents::default();
        for i in 0..KEPT + 5 {
            events.record(&HeaderMap::new(), format!("{{\"n\":{i}}}").as_bytes());
        }
        let report = events.report();
        assert_eq!(report["received"], KEPT + 5);
        let kept = report["events"].as_array().unwrap();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0]["event"]["n"], 5, "the oldest are dropped first");
        assert_eq!(kept[KEPT - 1]["event"]["n"], KEPT + 4);
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_as_text() {
        let mut events = MerchantEvents::default();
        events.record(&HeaderMap::new(), b"not json");
        let report = events.report();
        assert_eq!(report["events"][0]["body"], "not json");
        assert_eq!(report["events"][0]["event"], Value::Null);
    }
}
