//! Serving the sandbox: hyper 1 HTTP/1.1, one tokio task per connection,
//! graceful shutdown, and the two connection-level faults (hang, reset).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::pipeline;
use super::state::Sandbox;
use super::webhook;
use super::wire::{Delivery, SimReply, SimRequest};
use super::{SandboxConfig, SandboxError};

/// Bodies above this are refused; the gateways' own limits are far lower.
const MAX_BODY: usize = 1 << 20;
/// How long shutdown waits for open connections before aborting them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running sandbox. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct SandboxHandle {
    pub addr: SocketAddr,
    sandbox: Arc<Sandbox>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// The webhook senders, one per dialect.
    senders: Vec<JoinHandle<()>>,
}

impl SandboxHandle {
    /// The shared state, for in-process assertions and fault scripting.
    pub fn state(&self) -> Arc<Sandbox> {
        self.sandbox.clone()
    }

    /// `http://127.0.0.1:PORT`, the base for both dialect prefixes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open requests finish (hung ones are dropped),
    /// stops the webhook senders (undelivered events stay in the outbox) and
    /// waits for every task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        for sender in std::mem::take(&mut self.senders) {
            let _ = sender.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Serves the sandbox on `listener` until the handle is shut down or dropped.
pub async fn start(
    listener: TcpListener,
    config: SandboxConfig,
) -> Result<SandboxHandle, SandboxError> {
    let addr = listener.local_addr().map_err(SandboxError::Listener)?;
    let sandbox = Arc::new(Sandbox::new(config));
    let (shutdown, rx) = watch::channel(false);
    let senders = webhook::spawn(sandbox.clone(), rx.clone());
    let task = tokio::spawn(accept_loop(listener, sandbox.clone(), rx));
    Ok(SandboxHandle {
        addr,
        sandbox,
        shutdown,
        task: Some(task),
        senders,
    })
}

async fn accept_loop(listener: TcpListener, sb: Arc<Sandbox>, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let for_connections = shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_connection(stream, sb.clone(), for_connections.clone()));
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "sandbox accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    sb: Arc<Sandbox>,
    mut shutdown: watch::Receiver<bool>,
) {
    // A second handle on the socket lets a reset fault set SO_LINGER=0 after
    // hyper has taken ownership of the stream.
    let (stream, control) = match split_control(stream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "sandbox connection setup failed");
            return;
        }
    };
    let reset = Arc::new(Notify::new());
    let service = {
        let (sb, reset, shutdown) = (sb.clone(), reset.clone(), shutdown.clone());
        service_fn(move |req| serve_request(sb.clone(), req, reset.clone(), shutdown.clone()))
    };
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "sandbox connection ended");
                }
                return;
            }
            _ = reset.notified() => {
                abort_with_reset(control);
                return;
            }
            _ = stopped(&mut shutdown), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

fn split_control(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let control = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, control))
}

/// With zero linger, closing the last descriptor sends RST instead of FIN.
fn abort_with_reset(control: std::net::TcpStream) {
    match TcpStream::from_std(control) {
        Ok(socket) => {
            if let Err(e) = socket.set_zero_linger() {
                tracing::debug!(error = %e, "sandbox could not set zero linger");
            }
        }
        Err(e) => tracing::debug!(error = %e, "sandbox reset fell back to close"),
    }
}

async fn serve_request(
    sb: Arc<Sandbox>,
    req: Request<Incoming>,
    reset: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Response<Full<Bytes>>, SandboxError> {
    let sim = match read_request(req).await {
        Ok(sim) => sim,
        Err(reply) => return Ok(to_response(reply)),
    };
    match pipeline::handle(sb, sim).await {
        Delivery::Respond(reply) => Ok(to_response(reply)),
        Delivery::Hang => {
            stopped(&mut shutdown).await;
            Err(SandboxError::ShuttingDown)
        }
        Delivery::Reset => {
            reset.notify_one();
            // The connection task drops this future together with the socket.
            let never = std::future::pending::<Infallible>().await;
            match never {}
        }
    }
}

async fn read_request(req: Request<Incoming>) -> Result<SimRequest, SimReply> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(SimReply::json(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": "request body too large or unreadable"}),
            ));
        }
    };
    let path = parts.uri.path().to_string();
    Ok(SimRequest {
        method: parts.method,
        path: path.clone(),
        full_path: path,
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    })
}

fn to_response(reply: SimReply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    for (name, value) in reply.headers {
        response.headers_mut().append(name, value);
    }
    response
}

/// Resolves once shutdown is requested (or the handle is gone); the watch
/// guard is dropped inside, so callers' futures stay `Send`.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
