//! The tower stack every request goes through, outermost first:
//! credentials and signatures marked sensitive (so no `Debug` of a header
//! map can print them), a request id accepted when sane or made, and echoed,
//! the request span that every log line of the request carries, the body
//! read whole (`body.rs`), then the in-flight limit and the handler on a
//! task of its own.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, header};
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tracing::Instrument;

use super::body::{self, BodyBudget};
use super::{Limits, ListenerName};
use crate::api::error::ApiError;
use crate::api::{HttpResponse, error_response};
use crate::metrics::Metrics;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers whose values must never reach a log line.
const SENSITIVE: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("stripe-signature"),
    HeaderName::from_static("payroute-signature"),
];

/// Largest body per route: gateway webhooks (Adyen batches) may be larger
/// than merchant requests.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub default: usize,
    pub webhooks: usize,
}

impl BodyLimits {
    fn for_path(&self, path: &str) -> usize {
        if path.starts_with("/webhooks/") {
            self.webhooks
        } else {
            self.default
        }
    }
}

/// The service a listener serves: the whole stack around `handler`.
pub type EdgeService = BoxCloneService<Request<Incoming>, HttpResponse, Infallible>;

/// Everything the stack needs besides the handler.
#[derive(Clone)]
pub struct StackConfig {
    pub name: ListenerName,
    pub limits: Limits,
    pub body_limits: BodyLimits,
    pub budget: BodyBudget,
    pub metrics: Metrics,
}

impl StackConfig {
    /// Counts a request the edge answered itself; `reason` is one of the
    /// closed set documented on `Metrics::edge_shed`.
    fn count_shed(&self, reason: &'static str) {
        self.metrics
            .edge_shed
            .with_label_values(&[self.name.as_str(), reason])
            .inc();
    }
}

/// Builds the stack around `handler`.
pub fn build_stack<H, Fut>(config: StackConfig, handler: H) -> EdgeService
where
    H: Fn(Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    // Shared, not cloned: the services below are cloned per connection and
    // per request, and the config holds every metric handle.
    let config = Arc::new(config);
    let work = Work {
        handler,
        permits: Arc::new(Semaphore::new(config.limits.max_in_flight)),
        config: config.clone(),
    };
    let read = ReadBody {
        inner: work,
        config,
    };
    let svc = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new(SENSITIVE))
        .map_request(drop_unusable_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .service(read);
    BoxCloneService::new(svc)
}

/// Makes `req_…` ids for requests that came without a usable one.
#[derive(Clone, Copy)]
struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = crate::domain::ids::new_id("req");
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// A caller's id is kept only when it is short and plain, so that it can
/// neither bloat nor garble the log lines it is written into.
fn drop_unusable_request_id<B>(mut req: Request<B>) -> Request<B> {
    let usable = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:/+=".contains(c))
    });
    if !usable {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

/// Opens the request span and reads the body whole before calling `inner`.
#[derive(Clone)]
struct ReadBody<S> {
    inner: S,
    config: Arc<StackConfig>,
}

impl<S> Service<Request<Incoming>> for ReadBody<S>
where
    S: Service<Request<Bytes>, Response = HttpResponse, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> BoxFuture {
        let inner = self.inner.clone();
        let config = self.config.clone();
        let id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            listener = config.name.as_str(),
            method = %req.method(),
            path = %req.uri().path(),
        );
        Box::pin(read_then_call(inner, config, req).instrument(span))
    }
}

async fn read_then_call<S>(
    inner: S,
    config: Arc<StackConfig>,
    req: Request<Incoming>,
) -> Result<HttpResponse, Infallible>
where
    S: Service<Request<Bytes>, Response = HttpResponse, Error = Infallible>,
{
    let (mut parts, incoming) = req.into_parts();
    let max = config.body_limits.for_path(parts.uri.path());
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let timeout = config.limits.body_timeout;
    match body::read(incoming, declared, max, timeout, &config.budget).await {
        Ok((bytes, held)) => {
            if let Some(held) = held {
                parts.extensions.insert(held);
            }
            inner.oneshot(Request::from_parts(parts, bytes)).await
        }
        Err(refusal) => {
            tracing::info!(reason = refusal.reason(), "request body refused");
            config.count_shed(refusal.reason());
            let mut resp = error_response(&refusal.to_error());
            // The rest of the body may still be on its way: end the
            // connection rather than read or trust what follows.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(resp)
        }
    }
}

/// The in-flight limit and the handler. The handler runs on a task of its
/// own, holding its in-flight permit: a client that hangs up must not cancel
/// a gateway call that may already be charging, and that call still counts
/// against the limit until it ends.
#[derive(Clone)]
struct Work<H> {
    handler: H,
    permits: Arc<Semaphore>,
    config: Arc<StackConfig>,
}

impl<H, Fut> Service<Request<Bytes>> for Work<H>
where
    H: Fn(Request<Bytes>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> BoxFuture {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.config.count_shed("in_flight");
            tracing::info!("overloaded: request shed");
            return Box::pin(std::future::ready(Ok(overloaded())));
        };
        let fut = (self.handler)(req);
        let task = tokio::spawn(
            async move {
                let resp = fut.await;
                drop(permit);
                resp
            }
            .in_current_span(),
        );
        Box::pin(async move {
            Ok(task.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "handler panicked");
                error_response(&ApiError::internal("internal error"))
            }))
        })
    }
}

/// 503 `overloaded` with `Retry-After` (set by `error_response` for 503s).
pub fn overloaded() -> HttpResponse {
    error_response(&ApiError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "api_error",
        "overloaded",
        "payroute is handling as many requests as it is allowed to; retry shortly",
    ))
}
