//! The hop scenario's gateway: a bare hyper HTTP/1.1 server on loopback, on
//! a thread and current-thread runtime of its own, that answers at once with
//! a fixed reply the connectors accept: Adyen `POST /v71/payments` →
//! `Authorised` with a `pspReference`; Stripe `POST /v1/payment_methods` →
//! a `pm_` id, `POST /v1/payment_intents` → `succeeded`. So whatever a
//! payment costs beyond the direct calls is the proxy's. It counts the calls
//! it answered, so that the report can show each target made the same ones.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::calls::{ADYEN_KEY, STRIPE_KEY};
use super::{LoadError, setup};

/// The Adyen dialect's path prefix, as in the gateway's `base_url`.
pub const ADYEN_PREFIX: &str = "/v71";
/// Pause after a failed accept before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Calls answered with a payment reply, calls refused (unknown path or
/// wrong credentials), and failed accepts; `seq` numbers the replies' ids.
#[derive(Default)]
pub struct Counts {
    seq: AtomicU64,
    answered: AtomicU64,
    refused: AtomicU64,
    accept_errors: AtomicU64,
}

pub struct Upstream {
    pub addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    pub fn start() -> Result<Upstream, LoadError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup("upstream"))?;
        let addr = listener.local_addr().map_err(setup("upstream"))?;
        listener.set_nonblocking(true).map_err(setup("upstream"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(setup("upstream runtime"))?;
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = oneshot::channel();
        let served = counts.clone();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => {
                        tokio::select! {
                            () = serve(listener, served) => {}
                            _ = stopped => {}
                        }
                    }
                    Err(e) => eprintln!("load: upstream listener: {e}"),
                }
            });
        });
        Ok(Upstream {
            addr,
            counts,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The live counts, readable from any thread.
    pub fn counts(&self) -> Arc<Counts> {
        self.counts.clone()
    }
}

impl Counts {
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Ordering::Relaxed)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Dropping the runtime at the end of the thread closes every
            // connection task, so this join does not wait on clients.
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, counts: Arc<Counts>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: it passes once
            // connections close, and a gateway that stopped accepting would
            // fail every later target of the run.
            Err(_) => {
                counts.accept_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let counts = counts.clone();
        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let counts = counts.clone();
            async move { Ok::<_, Infallible>(answer(req, &counts).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    counts: &Counts,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // Read to the end, so that the connection can carry the next request.
    let _ = body.collect().await;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let adyen_ok = header("x-api-key") == Some(ADYEN_KEY);
    let stripe_ok = header("authorization") == Some(&format!("Bearer {STRIPE_KEY}"));
    let n = counts.seq.fetch_add(1, Ordering::Relaxed);
    let reply = match (parts.method, parts.uri.path()) {
        (Method::POST, p) if adyen_ok && p == format!("{ADYEN_PREFIX}/payments") => Some(json!({
            "pspReference": format!("{n:016}"),
            "resultCode": "Authorised",
            "amount": {"currency": "EUR", "value": 2000},
        })),
        (Method::POST, "/v1/payment_methods") if stripe_ok => Some(json!({
            "id": format!("pm_hop{n}"), "object": "payment_method", "type": "card",
        })),
        (Method::POST, "/v1/payment_intents") if stripe_ok => Some(json!({
            "id": format!("pi_hop{n}"), "object": "payment_intent", "status": "succeeded",
            "amount": 2000, "currency": "usd", "capture_method": "automatic",
        })),
        _ => None,
    };
    let (status, body) = match reply {
        Some(v) => {
            counts.answered.fetch_add(1, Ordering::Relaxed);
            (StatusCode::OK, v.to_string())
        }
        None => {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            (
                StatusCode::NOT_FOUND,
                r#"{"error":"not a payment call"}"#.into(),
            )
        }
    };
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
