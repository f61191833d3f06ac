//! The network edge in front of both listeners: what a connection and a
//! request must get through before a handler sees them. It owns the limits
//! (open connections, header and body deadlines, a global budget for bytes
//! held in bodies still being read, requests in flight), request ids and the
//! request span, the TLS acceptor (rustls, with certificate reload and
//! optional client certificates), and a shutdown that closes idle and
//! half-sent connections at once while requests in flight finish.
//!
//! Handlers downstream get a `Request<Bytes>` whose body is complete and
//! within its route's size limit; they never touch the socket.

mod body;
mod conn;
mod stack;
pub mod tls;

use std::time::Duration;

pub use body::BodyBudget;
pub use conn::{ClientCert, Listener, serve};
pub use stack::{BodyLimits, EdgeService, REQUEST_ID, StackConfig, build_stack, overloaded};

/// Limits of one listener. The defaults suit the API listener of one
/// replica; each is a `serve` flag (see the README's Operations), the
/// handshake deadline following `--header-read-timeout-s`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A client must send a request's whole header block within this,
    /// from the moment the connection waits for one (idle keep-alive
    /// connections included).
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this after its headers.
    pub body_timeout: Duration,
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// Open connections beyond this are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Requests being handled beyond this are answered 503 `overloaded` at
    /// once, before their handler runs.
    pub max_in_flight: usize,
}

impl Limits {
    /// The ops listener's defaults: scrapes, probes and admin calls.
    pub fn ops() -> Limits {
        Limits {
            max_connections: 256,
            max_in_flight: 64,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_in_flight: 512,
        }
    }
}

/// The edge's settings shared by both listeners.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub api: Limits,
    pub ops: Limits,
    /// Bytes held at once, over all connections, in request bodies still
    /// being read. A body that would go past it is refused with 503.
    pub body_budget: usize,
}

impl Default for EdgeConfig {
    fn default() -> EdgeConfig {
        EdgeConfig {
            api: Limits::default(),
            ops: Limits::ops(),
            body_budget: 16 * 1024 * 1024,
        }
    }
}

/// The name of a listener, a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerName {
    Api,
    Ops,
}

impl ListenerName {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerName::Api => "api",
            ListenerName::Ops => "ops",
        }
    }
}
