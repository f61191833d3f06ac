//! Units of work as one statement. A [`Step`] is one INSERT, UPDATE or
//! DELETE with its parameters and, when it must change a row, the check
//! that says so. [`run`] joins a unit's steps into a single statement, each
//! step a data-modifying `WITH` query and every check in the final
//! `SELECT`: one message on the wire, one answer, one implicit transaction
//! that commits all of it or none. A check that fails raises a payroute
//! SQLSTATE through `payroute_assert` (migration 0002), which aborts the
//! statement and so every step of it.
//!
//! Why one statement rather than `BEGIN`, the steps and `COMMIT` sent back
//! to back: the driver ends every statement with its own Sync, which the
//! server answers with a flush of its own, so a unit of n statements cost
//! the server n + 2 wake-ups and sends. Measured with pgbench on a 2-core
//! machine, the same create (claim, lease, payment, attempt; then outcome,
//! response, lease end) took the server ~940 µs of CPU per payment as
//! statements each followed by a Sync and ~450 µs as one statement per unit.
//!
//! The price is that the steps of one unit run on one snapshot and cannot
//! see each other's rows: a unit never touches one row twice (the callers
//! in `commit.rs` fold such pairs into one step), and a step never reads
//! a row another step of its unit writes, except for foreign keys, which
//! are checked at the end of the statement.

use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::types::ToSql;

use crate::domain::store::StoreError;

/// SQLSTATE of a statement that found no row to change: `NotFound`.
pub(super) const NOT_FOUND: &str = "PRNFD";
/// SQLSTATE of a row in a state that forbids the change: `Conflict`.
pub(super) const CONFLICT: &str = "PRCFL";
/// SQLSTATE of an idempotency claim that found the key live and taken.
pub(super) const TAKEN: &str = "PRTKN";

/// Stands for the number of rows the step changed in a check's SQL.
const CHANGED: &str = "{changed}";

/// One statement and its parameters, owned or borrowed from the record
/// being written, so a whole unit can be built before anything is sent.
pub(super) struct Step<'a> {
    /// INSERT, UPDATE or DELETE, without `RETURNING`; its parameters are
    /// `$1`, `$2`, … in the order of `params`, each used.
    dml: String,
    /// A boolean SQL expression over [`CHANGED`] and the step's parameters
    /// that raises when the step's outcome is wrong.
    check: Option<String>,
    params: Vec<Box<dyn ToSql + Sync + Send + 'a>>,
}

impl<'a> Step<'a> {
    pub(super) fn new(dml: impl Into<String>) -> Self {
        Step {
            dml: dml.into(),
            check: None,
            params: Vec::new(),
        }
    }

    /// Appends the next parameter (`$1`, `$2`, … in order).
    pub(super) fn arg(mut self, value: impl ToSql + Sync + Send + 'a) -> Self {
        self.params.push(Box::new(value));
        self
    }

    /// Raises `code` with `message` (a constant without quotes) when the
    /// step changes no row.
    pub(super) fn or_raise(self, code: &str, message: &str) -> Self {
        self.checked(format!(
            "payroute_assert({CHANGED} > 0, '{code}', '{message}')"
        ))
    }

    /// Raises as `check` says: a `payroute_assert(…)` call over
    /// `{changed}` (the rows the step changed) and its parameters.
    pub(super) fn checked(mut self, check: String) -> Self {
        self.check = Some(check);
        self
    }

    fn refs(&self) -> impl Iterator<Item = &(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
    }

    /// The step as a statement of its own.
    fn alone(&self) -> String {
        match &self.check {
            None => self.dml.clone(),
            Some(check) => format!(
                "WITH changed AS ({} RETURNING 1) SELECT {}",
                self.dml,
                check.replace(CHANGED, "(SELECT count(*) FROM changed)")
            ),
        }
    }

    /// Runs the step alone (or inside a transaction the caller owns), in
    /// the usual request-and-wait way; the rows it affected.
    pub(super) async fn execute(&self, c: &impl GenericClient) -> Result<u64, StoreError> {
        let stmt = c.prepare_cached(&self.alone()).await?;
        let params: Vec<_> = self.refs().collect();
        Ok(c.execute(&stmt, &params).await?)
    }
}

/// Whether `e` is the server raising payroute's SQLSTATE `code`.
pub(super) fn raised(e: &tokio_postgres::Error, code: &str) -> bool {
    e.as_db_error().is_some_and(|db| db.code().code() == code)
}

/// Runs `steps` as one statement: the rows each step changed, or the error
/// of the first failing check in step order (or of the statement). An
/// error means nothing was written, except a connection lost after the
/// statement was sent, which leaves the outcome unknown, as for any
/// transaction. The error is the driver's, for callers that look for a
/// payroute SQLSTATE; it converts into a [`StoreError`].
///
/// The statement is prepared once per connection and shape (from the
/// connection's statement cache), so a warm unit is one round trip.
pub(super) async fn run(c: &Client, steps: &[Step<'_>]) -> Result<Vec<u64>, tokio_postgres::Error> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = c.prepare_cached(&joined(steps)).await?;
    let params: Vec<_> = steps.iter().flat_map(Step::refs).collect();
    let row = c.query_one(&stmt, &params).await?;
    (0..steps.len())
        .map(|i| {
            row.try_get::<_, i64>(i)
                .map(|n| u64::try_from(n).unwrap_or(0))
        })
        .collect()
}

/// `WITH s0 AS (… RETURNING 1), s1 AS (…) SELECT <rows of s0>, …`, each
/// step's parameters numbered after the previous steps'. A step's check
/// wraps its column, so the target list, evaluated in order, raises for
/// the first failing step.
fn joined(steps: &[Step<'_>]) -> String {
    let mut ctes = Vec::with_capacity(steps.len());
    let mut cols = Vec::with_capacity(steps.len());
    let mut offset = 0;
    for (i, s) in steps.iter().enumerate() {
        ctes.push(format!(
            "s{i} AS ({} RETURNING 1)",
            renumber(&s.dml, offset)
        ));
        let changed = format!("(SELECT count(*) FROM s{i})");
        cols.push(match &s.check {
            None => changed,
            Some(check) => format!(
                "CASE WHEN {} THEN {changed} END",
                renumber(check, offset).replace(CHANGED, &changed)
            ),
        });
        offset += s.params.len();
    }
    format!("WITH {} SELECT {}", ctes.join(", "), cols.join(", "))
}

/// `sql` with every parameter `$n` made `$(n + offset)`. Steps hold no
/// `$` of their own outside parameters (no dollar quoting, no `$` in
/// their string constants).
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        out.push(ch);
        if ch != '$' {
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = j + 1;
            chars.next();
        }
        match sql[start..end].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&sql[start..end]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_after_the_previous_steps() {
        assert_eq!(
            renumber("a = $1 AND b = $12::bigint", 3),
            "a = $4 AND b = $15::bigint"
        );
        assert_eq!(renumber("x = $1", 0), "x = $1");
        assert_eq!(renumber("cost $ 5", 2), "cost $ 5");
    }

    #[test]
    fn a_unit_is_one_statement_with_each_check_on_its_own_step() {
        let steps = [
            Step::new("INSERT INTO t VALUES ($1)").arg(1_i64),
            Step::new("UPDATE u SET a = $2 WHERE id = $1")
                .arg(2_i64)
                .arg(3_i64)
                .or_raise(NOT_FOUND, "no such u"),
        ];
        assert_eq!(
            joined(&steps),
            "WITH s0 AS (INSERT INTO t VALUES ($1) RETURNING 1), \
             s1 AS (UPDATE u SET a = $3 WHERE id = $2 RETURNING 1) \
             SELECT (SELECT count(*) FROM s0), \
             CASE WHEN payroute_assert((SELECT count(*) FROM s1) > 0, 'PRNFD', 'no such u') \
             THEN (SELECT count(*) FROM s1) END"
        );
    }
}
