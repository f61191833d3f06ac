//! Connections: the cap on open ones, the TLS handshake, HTTP/1.1 and
//! HTTP/2 on one port (by ALPN, or by the HTTP/2 preface on plain TCP),
//! hyper's header read timeout, and a shutdown that closes idle and
//! half-sent connections at once while requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tower::Service;

use super::stack::EdgeService;
use super::{Limits, ListenerName};
use crate::metrics::Metrics;

/// After the last response of a connection that is shutting down, how long
/// it may take to flush before the connection is closed anyway.
const FLUSH: Duration = Duration::from_millis(250);

/// A bound socket, with the TLS acceptor when the listener speaks TLS.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub name: ListenerName,
}

pub use crate::api::ClientCert;

/// Serves `listener` until `shutdown` turns true; then closes the idle and
/// half-sent connections, lets requests in flight finish within `grace`,
/// and returns.
pub async fn serve(
    listener: Listener,
    limits: Limits,
    svc: EdgeService,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper's read buffer per connection (and so the largest header
        // block): 64 KiB instead of ~400 KiB bounds what idle or slow
        // connections hold.
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let label = listener.name.as_str();
    let mut conns = JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: give others a
                    // moment to close theirs instead of spinning.
                    tracing::warn!(listener = label, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        while conns.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics
                .refused_connections
                .with_label_values(&[label])
                .inc();
            drop(stream);
            continue;
        };
        let open = metrics.open_connections.with_label_values(&[label]);
        open.inc();
        let conn = Conn {
            builder: builder.clone(),
            svc: svc.clone(),
            shutdown: shutdown.clone(),
            handshake_timeout: limits.handshake_timeout,
        };
        let tls = listener.tls.clone();
        conns.spawn(async move {
            conn.run(stream, tls).await;
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            listener = label,
            connections = conns.len(),
            "grace period over with requests in flight; their attempts stay recorded for reconciliation"
        );
        conns.shutdown().await;
    }
}

/// Resolves once `rx` holds `true` (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// One accepted connection and what it needs.
struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    svc: EdgeService,
    shutdown: watch::Receiver<bool>,
    handshake_timeout: Duration,
}

impl Conn {
    async fn run(mut self, stream: TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = tls else {
            return self.drive(TokioIo::new(stream), false).await;
        };
        let handshake = tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream));
        // A handshake still under way at shutdown carries no request: drop it.
        let handshake = tokio::select! {
            h = handshake => h,
            _ = stopped(&mut self.shutdown) => return,
        };
        match handshake {
            Ok(Ok(tls)) => {
                let client_cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty());
                self.drive(TokioIo::new(tls), client_cert).await
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        }
    }

    async fn drive<I>(mut self, io: I, client_cert: bool)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let active = Arc::new(Active::default());
        let svc = Tracked {
            inner: self.svc.clone(),
            active: active.clone(),
            client_cert,
        };
        let conn = self
            .builder
            .serve_connection(io, TowerToHyperService::new(svc));
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stopped(&mut self.shutdown) => {}
        }
        // No new requests; a connection with nothing in flight (idle, or
        // still sending a request's head or body) is closed now, the others
        // once their last response is out.
        conn.as_mut().graceful_shutdown();
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = active.idle() => {
                let _ = tokio::time::timeout(FLUSH, conn.as_mut()).await;
            }
        }
    }
}

/// Requests of one connection whose response has not been sent whole.
#[derive(Default)]
struct Active {
    n: AtomicUsize,
    zero: Notify,
}

impl Active {
    fn enter(self: &Arc<Active>) -> ActiveGuard {
        self.n.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(self.clone())
    }

    async fn idle(&self) {
        loop {
            let notified = self.zero.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.n.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct ActiveGuard(Arc<Active>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.zero.notify_waiters();
        }
    }
}

/// Counts a request as active from its head until its body is sent (or the
/// exchange is dropped), and marks requests that came with a verified
/// client certificate.
#[derive(Clone)]
struct Tracked {
    inner: EdgeService,
    active: Arc<Active>,
    client_cert: bool,
}

type TrackedFuture =
    Pin<Box<dyn Future<Output = Result<Response<GuardedBody>, Infallible>> + Send>>;

impl Service<Request<Incoming>> for Tracked {
    type Response = Response<GuardedBody>;
    type Error = Infallible;
    type Future = TrackedFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> TrackedFuture {
        let guard = self.active.enter();
        if self.client_cert {
            req.extensions_mut().insert(ClientCert);
        }
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|inner| GuardedBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

/// A response body that keeps its request counted as active until hyper
/// has taken all of it.
pub struct GuardedBody {
    inner: Full<Bytes>,
    _guard: ActiveGuard,
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
