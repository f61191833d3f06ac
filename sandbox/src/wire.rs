//! The sandbox's transport-neutral request and reply, so dialect code never
//! touches hyper types and stays testable on its own.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;

/// A fully read request.
#[derive(Debug, Clone)]
pub(crate) struct SimRequest {
    pub method: Method,
    /// Path below the dialect prefix, e.g. `/v1/payment_intents`.
    pub path: String,
    /// The path as received, for fault matching and error messages.
    pub full_path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl SimRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Query parameter value, first occurrence.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A complete HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SimReply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl SimReply {
    pub fn json(status: StatusCode, body: &Value) -> SimReply {
        // Serialising a `Value` cannot fail: its map keys are strings.
        let bytes = serde_json::to_vec_pretty(body).unwrap_or_default();
        SimReply {
            status,
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: Bytes::from(bytes),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> SimReply {
        if let Ok(value) = HeaderValue::from_str(value) {
            let name = HeaderName::from_static(name);
            self.headers.retain(|(n, _)| n != name);
            self.headers.push((name, value));
        }
        self
    }
}

/// How the connection layer should deliver an outcome.
#[derive(Debug)]
pub(crate) enum Delivery {
    Respond(SimReply),
    /// Keep the connection open with no answer until shutdown.
    Hang,
    /// Drop the TCP connection with a reset and no answer.
    Reset,
}

/// Seconds since the Unix epoch, as Stripe's `created`.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now in RFC 3339 (UTC), as Checkout.com's `processed_on` and `requested_on`.
pub(crate) fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}
