//! The outbound HTTP client every connector shares: one pooled hyper-util
//! client over hyper-rustls (ring provider, webpki roots), with a per-call
//! deadline, and an error type that separates "never sent" from "maybe sent"
//! (design §5, reliability B7).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::domain::outcome::Outcome;

/// Replies larger than this are not gateway API replies; reading stops there.
const MAX_REPLY_BYTES: usize = 1 << 20;
/// Default TCP+TLS connect budget; a call's own timeout caps it further.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call produced no HTTP reply.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The request was provably never delivered in full: connect, DNS or TLS
    /// failure, or the deadline passed before hyper read a byte of the body.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The deadline passed after the request body was handed to the wire.
    #[error("timed out after the request was sent")]
    Timeout,
    /// The connection failed after the request body was handed to the wire.
    #[error("i/o error after the request was sent: {0}")]
    Io(String),
}

impl TransportError {
    /// True when the gateway cannot have acted on the request.
    pub fn never_sent(&self) -> bool {
        matches!(self, TransportError::Connect(_))
    }

    /// Only a never-sent request may fail over; anything after the send may
    /// have been processed.
    pub fn outcome(&self) -> Outcome {
        let reason = self.to_string();
        if self.never_sent() {
            Outcome::Unavailable { reason }
        } else {
            Outcome::Ambiguous { reason }
        }
    }
}

/// A whole gateway reply, body included.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type Inner = Client<HttpsConnector<HttpConnector>, TrackedBody>;

/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Inner,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClient")
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with a 2 s connect timeout.
    pub fn new() -> HttpClient {
        Self::with_connect_timeout(DEFAULT_CONNECT_TIMEOUT)
    }

    /// A client whose TCP connect phase gives up after `connect_timeout`
    /// (reported as a connect error, hence as "never sent").
    pub fn with_connect_timeout(connect_timeout: Duration) -> HttpClient {
        // Another module may have installed the provider first; either way
        // the process default is then ring, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        HttpClient { inner }
    }

    /// Sends one request and reads the whole reply, all within `timeout`.
    pub async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let (parts, body) = req.into_parts();
        let (body, started) = TrackedBody::new(body);
        let req = http::Request::from_parts(parts, body);
        match tokio::time::timeout(timeout, self.exchange(req, &started)).await {
            Ok(result) => result,
            Err(_) if started.load(Ordering::Acquire) => Err(TransportError::Timeout),
            Err(_) => Err(TransportError::Connect(
                "deadline passed before the request was sent".into(),
            )),
        }
    }

    async fn exchange(
        &self,
        req: http::Request<TrackedBody>,
        started: &AtomicBool,
    ) -> Result<Reply, TransportError> {
        let resp = self.inner.request(req).await.map_err(|e| {
            if e.is_connect() || !started.load(Ordering::Acquire) {
                TransportError::Connect(error_chain(&e))
            } else {
                TransportError::Io(error_chain(&e))
            }
        })?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| TransportError::Io(format!("reading reply: {e}")))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Fits a gateway-side idempotency key into `max` characters of visible
/// ASCII. Longer or unusual keys become their SHA-256 in hex (64 chars, cut
/// to `max` if smaller): still stable across retries, still distinct, where
/// plain truncation could merge two attempts that share a long prefix.
pub fn bounded_idempotency_key(key: &str, max: usize) -> String {
    let plain = !key.is_empty() && key.len() <= max && key.bytes().all(|b| b.is_ascii_graphic());
    if plain {
        return key.to_string();
    }
    use sha2::Digest;
    let mut hashed = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    hashed.truncate(max);
    hashed
}

/// hyper's top-level error says little ("client error (Connect)"); the cause
/// chain says why. None of these messages carry request bytes.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        cur = cause.source();
    }
    out
}

/// A request body that records whether hyper has started reading it.
///
/// Until hyper polls the body, the gateway cannot hold a complete request
/// (every call we make has a non-empty body with a Content-Length), so a
/// deadline or error that strikes before then is provably "not processed":
/// still connecting, waiting for a pooled connection, or failing before the
/// write. An empty body cannot prove this, so it counts as started at once.
pub struct TrackedBody {
    inner: Full<Bytes>,
    started: Arc<AtomicBool>,
}

impl TrackedBody {
    fn new(inner: Full<Bytes>) -> (TrackedBody, Arc<AtomicBool>) {
        let empty = inner.is_end_stream();
        let started = Arc::new(AtomicBool::new(empty));
        let body = TrackedBody {
            inner,
            started: Arc::clone(&started),
        };
        (body, started)
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.started.store(true, Ordering::Release);
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn post(url: &str) -> http::Request<Full<Bytes>> {
        http::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"a\":1}")))
            .expect("static request is valid")
    }

    #[test]
    fn idempotency_keys_fit_the_limit_and_stay_distinct() {
        assert_eq!(
            bounded_idempotency_key("att_1-adyen_eu", 64),
            "att_1-adyen_eu"
        );
        let long_a = format!("{}a", "x".repeat(80));
        let long_b = format!("{}b", "x".repeat(80));
        let a = bounded_idempotency_key(&long_a, 64);
        assert_eq!(a.len(), 64);
        assert_eq!(
            a,
            bounded_idempotency_key(&long_a, 64),
            "stable across retries"
        );
        assert_ne!(
            a,
            bounded_idempotency_key(&long_b, 64),
            "no prefix collisions"
        );
        assert_eq!(bounded_idempotency_key(&"k".repeat(64), 64), "k".repeat(64));
        assert_eq!(bounded_idempotency_key(&"k".repeat(65), 64).len(), 64);
        assert_ne!(bounded_idempotency_key("has space", 64), "has space");
    }

    #[tokio::test]
    async fn refused_connection_is_never_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = HttpClient::new();
        let err = client
            .send(post(&format!("http://{addr}/x")), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.never_sent(), "{err:?}");
    }

    #[tokio::test]
    async fn timeout_after_request_read_is_ambiguous() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = HttpClient::new();
        let err = client
            .send(
                post(&format!("http://{addr}/x")),
                Duration::from_millis(300),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Timeout), "{err:?}");
    }

    #[tokio::test]
    async fn reset_after_request_read_is_ambiguous() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        });
        let client = HttpClient::new();
        let err = client
            .send(post(&format!("http://{addr}/x")), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Io(_)), "{err:?}");
    }

    #[tokio::test]
    async fn reads_status_headers_and_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            let reply =
                "HTTP/1.1 402 Payment Required\r\nx-test: yes\r\ncontent-length: 2\r\n\r\nok";
            sock.write_all(reply.as_bytes()).await.unwrap();
        });
        let client = HttpClient::new();
        let reply = client
            .send(post(&format!("http://{addr}/x")), Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(reply.headers["x-test"], "yes");
        assert_eq!(&reply.body[..], b"ok");
    }

    /// A peer that accepts TCP but never answers the TLS handshake keeps the
    /// call in its connect phase, so the overall deadline strikes before
    /// hyper reads the body.
    #[tokio::test]
    async fn deadline_during_tls_handshake_is_never_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (_sock, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = HttpClient::with_connect_timeout(Duration::from_secs(10));
        let err = client
            .send(
                post(&format!("https://{addr}/x")),
                Duration::from_millis(300),
            )
            .await
            .unwrap_err();
        assert!(err.never_sent(), "{err:?}");
    }

    #[tokio::test]
    async fn failed_tls_handshake_is_never_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let client = HttpClient::new();
        let err = client
            .send(post(&format!("https://{addr}/x")), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.never_sent(), "{err:?}");
    }
}
