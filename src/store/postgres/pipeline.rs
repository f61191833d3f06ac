//! Units of work in one round trip. A [`Step`] is one statement with its
//! parameters; [`transaction`] sends `BEGIN`, every step and `COMMIT`
//! back to back on one connection, without waiting for any answer in
//! between, then collects the answers. The server runs them in order as
//! one transaction, so the unit costs one network round trip instead of
//! one per statement.
//!
//! A step that must change a row is written with [`or_raise`]: when it
//! changes none, the `payroute_assert` function (migration 0002) raises a
//! payroute SQLSTATE, which aborts the transaction on the server, so the
//! `COMMIT` already queued behind it rolls back. Checking a row count in
//! Rust after the fact would be too late: the unit would have committed.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::types::ToSql;

use crate::store::StoreError;

/// SQLSTATE of a statement that found no row to change: `NotFound`.
pub(super) const NOT_FOUND: &str = "PRNFD";
/// SQLSTATE of a row in a state that forbids the change: `Conflict`.
pub(super) const CONFLICT: &str = "PRCFL";
/// SQLSTATE of an idempotency claim that found the key live and taken.
pub(super) const TAKEN: &str = "PRTKN";

/// One statement and its parameters, owned or borrowed from the record
/// being written, so a whole unit can be built before anything is sent.
pub(super) struct Step<'a> {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send + 'a>>,
}

impl<'a> Step<'a> {
    pub(super) fn new(sql: impl Into<String>) -> Self {
        Step {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    /// Appends the next parameter (`$1`, `$2`, … in order).
    pub(super) fn arg(mut self, value: impl ToSql + Sync + Send + 'a) -> Self {
        self.params.push(Box::new(value));
        self
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// Runs the step alone (or inside a transaction the caller owns), in
    /// the usual request-and-wait way; the rows it affected.
    pub(super) async fn execute(&self, c: &impl GenericClient) -> Result<u64, StoreError> {
        let stmt = c.prepare_cached(&self.sql).await?;
        Ok(c.execute(&stmt, &self.refs()).await?)
    }
}

/// `sql`, an INSERT or UPDATE, made to raise `code` with `message` (a
/// constant without quotes) when it changes no row, so the transaction
/// around it aborts at once.
pub(super) fn or_raise(sql: &str, code: &str, message: &str) -> String {
    format!(
        "WITH changed AS ({sql} RETURNING 1)
         SELECT payroute_assert(count(*) > 0, '{code}', '{message}') FROM changed"
    )
}

/// Whether `e` is the server raising payroute's SQLSTATE `code`.
pub(super) fn raised(e: &tokio_postgres::Error, code: &str) -> bool {
    e.as_db_error().is_some_and(|db| db.code().code() == code)
}

/// Runs `steps` as one transaction in one round trip: the rows each step
/// affected, or the first error in statement order (later statements of an
/// aborted transaction only report that it is aborted). An error before
/// the `COMMIT` means nothing was written; a connection lost during the
/// `COMMIT` leaves the outcome unknown, as for any transaction. The error
/// is the driver's, for callers that look for a payroute SQLSTATE; it
/// converts into a [`StoreError`].
///
/// Statements are prepared first (from the connection's cache: no round
/// trip once warm), because a statement prepared inside the pipeline would
/// be sent after the ones behind it.
pub(super) async fn transaction(
    c: &Client,
    steps: &[Step<'_>],
) -> Result<Vec<u64>, tokio_postgres::Error> {
    let mut statements = Vec::with_capacity(steps.len());
    for s in steps {
        statements.push(c.prepare_cached(&s.sql).await?);
    }
    let params: Vec<_> = steps.iter().map(Step::refs).collect();
    let pg: &tokio_postgres::Client = c;
    let mut calls = InOrder::default();
    calls.push(Box::pin(async move {
        pg.batch_execute("BEGIN").await.map(|()| 0)
    }));
    for (stmt, p) in statements.iter().zip(&params) {
        calls.push(Box::pin(pg.execute(stmt, p)));
    }
    // The first pass sends every statement. A call that fails already on
    // it may not have been sent at all (a parameter that does not encode):
    // then the unit must not commit without it.
    poll_fn(|cx| {
        let _ = calls.poll_pass(cx);
        Poll::Ready(())
    })
    .await;
    let end = if calls.failed() { "ROLLBACK" } else { "COMMIT" };
    // The first pass's future is ready at once: nothing suspends between
    // it and the pass sending `end`, so
    // no cancellation can leave the connection inside the transaction;
    // once `end` is sent, a caller that goes away leaves the server to
    // finish the unit on its own, and the connection idles after it.
    calls.push(Box::pin(
        async move { pg.batch_execute(end).await.map(|()| 0) },
    ));
    poll_fn(|cx| calls.poll_pass(cx)).await;
    let counts = calls.into_results()?;
    Ok(counts.into_iter().skip(1).take(steps.len()).collect())
}

/// A call on the connection, answering with the rows it affected.
type Call<'f> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'f>>;

/// Calls polled in the order pushed. A call's request goes to the
/// connection on its first poll, so requests leave in that order too.
#[derive(Default)]
struct InOrder<'f> {
    calls: Vec<Call<'f>>,
    results: Vec<Option<Result<u64, tokio_postgres::Error>>>,
}

impl<'f> InOrder<'f> {
    fn push(&mut self, call: Call<'f>) {
        self.calls.push(call);
        self.results.push(None);
    }

    /// Polls every unfinished call once; ready when all have finished.
    fn poll_pass(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut pending = false;
        for (call, result) in self.calls.iter_mut().zip(&mut self.results) {
            if result.is_none() {
                match call.as_mut().poll(cx) {
                    Poll::Ready(r) => *result = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    fn failed(&self) -> bool {
        self.results.iter().any(|r| matches!(r, Some(Err(_))))
    }

    /// Every call's rows, or the first error in push order; called once
    /// [`Self::poll_pass`] is ready, when every result is in.
    fn into_results(self) -> Result<Vec<u64>, tokio_postgres::Error> {
        self.results.into_iter().flatten().collect()
    }
}
