//! `LOAD_SCENARIO=edge`: what the tower stack in front of the listeners
//! costs. The same merchant API handler is served two ways in one run:
//! through payroute's API listener (request id, sensitive headers, request
//! span, body read against the deadline and budget, in-flight limit, the
//! per-connection shutdown tracking) and through a bare hyper HTTP/1.1
//! connection with `service_fn`, the body collected with `Limited`, and the
//! handler spawned on its own task: the shape the server had before the
//! stack. The request is `GET /v1/payments/pay_missing` without
//! credentials (routing, the bearer check, a 401), so that the edge is most
//! of what it costs. Requests alternate between the two within one phase, so
//! that drift in the machine's load falls on both alike.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use payroute::app::AppState;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{LoadError, setup};

/// The path every edge-scenario request asks for.
pub const PATH: &str = "/v1/payments/pay_missing";

/// Serves `payroute::api::handle` on a bare hyper connection per accepted
/// socket, without the edge stack.
pub async fn bare(state: Arc<AppState>) -> Result<(SocketAddr, JoinHandle<()>), LoadError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(setup("bare listener"))?;
    let addr = listener.local_addr().map_err(setup("bare listener"))?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let state = state.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = Limited::new(body, payroute::api::MAX_BODY)
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    let req = hyper::Request::from_parts(parts, body);
                    let task = tokio::spawn(payroute::api::handle(state, req));
                    let resp = task.await.unwrap_or_else(|_| {
                        hyper::Response::new(Full::new(Bytes::from_static(b"panic")))
                    });
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}
