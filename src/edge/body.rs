//! Reading a request body whole before any handler runs: within its route's
//! size limit, within the body deadline, and within a budget of bytes shared
//! by every connection, so that many clients each sending part of a large
//! body can neither hold memory without bound nor hold it for long.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::error::ApiError;

/// Bytes that bodies still being read may hold at once, over all
/// connections of the process. Clones share the budget.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> BodyBudget {
        BodyBudget {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// Bytes left in the budget now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    fn take(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.bytes.clone().try_acquire_many_owned(n).ok()
    }
}

/// Budget held by a body that was read; it goes back when the request is
/// dropped (the permit rides in the request's extensions).
#[derive(Debug, Clone)]
pub struct HeldBytes(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    TooLarge(usize),
    Budget,
    Timeout,
    Unreadable,
}

impl BodyRefusal {
    /// The metric reason, from a closed set.
    pub fn reason(self) -> &'static str {
        match self {
            BodyRefusal::TooLarge(_) => "body_too_large",
            BodyRefusal::Budget => "body_budget",
            BodyRefusal::Timeout => "body_timeout",
            BodyRefusal::Unreadable => "body_unreadable",
        }
    }

    pub fn to_error(self) -> ApiError {
        match self {
            BodyRefusal::TooLarge(max) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "body_too_large",
                format!("request body exceeds {max} bytes"),
            ),
            BodyRefusal::Budget => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "overloaded",
                "payroute is reading too many request bodies at once; retry shortly",
            ),
            BodyRefusal::Timeout => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "body_timeout",
                "the request body did not arrive in time",
            ),
            BodyRefusal::Unreadable => ApiError::invalid(
                "body_unreadable",
                "body",
                "the request body could not be read",
            ),
        }
    }
}

/// Reads `body` whole: at most `max` bytes, before `timeout`, taking each
/// chunk from `budget` as it arrives. An empty body holds no budget.
pub async fn read<B>(
    body: B,
    declared: Option<u64>,
    max: usize,
    timeout: Duration,
    budget: &BodyBudget,
) -> Result<(Bytes, Option<HeldBytes>), BodyRefusal>
where
    B: hyper::body::Body<Data = Bytes>,
{
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyRefusal::TooLarge(max));
    }
    tokio::time::timeout(timeout, collect(body, declared, max, budget))
        .await
        .unwrap_or(Err(BodyRefusal::Timeout))
}

/// Copies each chunk into one buffer of our own instead of keeping hyper's
/// chunks: a chunk is a slice of hyper's read buffer and keeps all of that
/// allocation alive (up to hundreds of KiB for a 64 KiB chunk), which would
/// make the budget count a fraction of the memory really held. The budget
/// is taken for the buffer's capacity, which is what it holds.
async fn collect<B>(
    body: B,
    declared: Option<u64>,
    max: usize,
    budget: &BodyBudget,
) -> Result<(Bytes, Option<HeldBytes>), BodyRefusal>
where
    B: hyper::body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut buf: Vec<u8> = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut grow = |buf: &mut Vec<u8>, to: usize| -> Result<(), BodyRefusal> {
        let permit = budget
            .take(to - buf.capacity())
            .ok_or(BodyRefusal::Budget)?;
        match &mut held {
            Some(h) => h.merge(permit),
            None => held = Some(permit),
        }
        buf.reserve_exact(to - buf.len());
        Ok(())
    };
    // A Content-Length sizes the buffer once; only up to 64 KiB, so that
    // a head announcing a large body cannot take budget it never fills.
    if let Some(n) = declared
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
    {
        grow(&mut buf, n.min(64 * 1024))?;
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyRefusal::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing we read
        };
        let need = buf.len() + data.len();
        if need > max {
            return Err(BodyRefusal::TooLarge(max));
        }
        if need > buf.capacity() {
            let to = need.max(buf.capacity() * 2).max(1024).min(max);
            grow(&mut buf, to)?;
        }
        buf.extend_from_slice(&data);
    }
    Ok((Bytes::from(buf), held.map(|h| HeldBytes(Arc::new(h)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn a_body_within_limits_is_read_and_its_budget_returned_when_dropped() {
        let budget = BodyBudget::new(100);
        let (bytes, held) = read(
            Full::new(Bytes::from_static(b"hello")),
            Some(5),
            10,
            Duration::from_secs(1),
            &budget,
        )
        .await
        .unwrap();
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(
            budget.available(),
            95,
            "the declared length sized the buffer"
        );
        drop(held);
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn a_declared_or_actual_oversize_body_is_refused() {
        let budget = BodyBudget::new(100);
        let r = read(
            Full::new(Bytes::from_static(b"0123456789ab")),
            None,
            10,
            Duration::from_secs(1),
            &budget,
        )
        .await;
        assert_eq!(r.unwrap_err(), BodyRefusal::TooLarge(10));
        let r = read(
            Full::new(Bytes::new()),
            Some(11),
            10,
            Duration::from_secs(1),
            &budget,
        )
        .await;
        assert_eq!(r.unwrap_err(), BodyRefusal::TooLarge(10));
        assert_eq!(
            budget.available(),
            100,
            "a refused body gives its bytes back"
        );
    }

    #[tokio::test]
    async fn a_body_past_the_shared_budget_is_refused() {
        let budget = BodyBudget::new(100);
        let (_, held) = read(
            Full::new(Bytes::from_static(b"123456")),
            None,
            64,
            Duration::from_secs(1),
            &budget,
        )
        .await
        .unwrap();
        let r = read(
            Full::new(Bytes::from_static(b"abcdef")),
            None,
            64,
            Duration::from_secs(1),
            &budget,
        )
        .await;
        assert_eq!(r.unwrap_err(), BodyRefusal::Budget);
        drop(held);
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_is_refused_at_the_deadline() {
        let budget = BodyBudget::new(100);
        let (tx, body) = http_body_util::channel::Channel::<Bytes>::new(1);
        let mut tx = tx;
        tx.send_data(Bytes::from_static(b"part")).await.unwrap();
        let r = read(body, None, 64, Duration::from_secs(5), &budget).await;
        assert_eq!(r.unwrap_err(), BodyRefusal::Timeout);
        assert_eq!(budget.available(), 100);
        drop(tx);
    }
}
