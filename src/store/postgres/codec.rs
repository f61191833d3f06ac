//! Column encoding for the PostgreSQL store and the mapping of driver and
//! pool errors to [`StoreError`], so that both backends fail alike: a
//! constraint is `Conflict`, a column that does not decode is `Corrupt`,
//! and anything about reaching the server is `Unavailable`.

use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};

use super::connect::{describe, describe_pool};
use super::steps;
use crate::domain::store::StoreError;

pub(super) use crate::store::columns::{capture_str, opt_json, parse_capture, to_json};

/// A statement parameter.
pub(super) type Param<'a> = &'a (dyn ToSql + Sync);

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            // Raised by `payroute_assert` inside a unit of work.
            match db.code().code() {
                steps::NOT_FOUND => return StoreError::NotFound,
                steps::CONFLICT | steps::TAKEN => {
                    return StoreError::Conflict(db.message().to_owned());
                }
                _ => {}
            }
        }
        let Some(state) = e.code() else {
            // No SQLSTATE: the socket, the protocol or a timeout.
            return StoreError::Unavailable(describe(&e));
        };
        // Class 23 is every integrity constraint: unique, foreign key,
        // check, not null, exclusion (SQLite's ConstraintViolation).
        if state.code().starts_with("23") {
            return StoreError::Conflict(describe(&e));
        }
        if *state == SqlState::DATA_CORRUPTED || *state == SqlState::INDEX_CORRUPTED {
            return StoreError::Corrupt(describe(&e));
        }
        StoreError::Unavailable(describe(&e))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(format!("postgres pool: {}", describe_pool(&e)))
    }
}

/// One column; a type the row does not hold is `Corrupt`.
pub(super) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx)
        .map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
}

pub(super) fn json<T: DeserializeOwned>(row: &Row, idx: usize) -> Result<T, StoreError> {
    let text: &str = col(row, idx)?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
}

pub(super) fn json_opt<T: DeserializeOwned>(
    row: &Row,
    idx: usize,
) -> Result<Option<T>, StoreError> {
    let text: Option<&str> = col(row, idx)?;
    text.map(|t| {
        serde_json::from_str(t).map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
    })
    .transpose()
}

/// A text column holding one of an enum's `as_str` values.
pub(super) fn text_enum<T>(
    row: &Row,
    idx: usize,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: &str = col(row, idx)?;
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("column {idx}: unknown value {text:?}")))
}

/// An integer column read into a narrower or unsigned Rust type.
pub(super) fn int<S, T>(row: &Row, idx: usize) -> Result<T, StoreError>
where
    S: for<'a> FromSql<'a>,
    T: TryFrom<S>,
    T::Error: std::fmt::Display,
{
    let v: S = col(row, idx)?;
    T::try_from(v).map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
}

pub(super) fn int_opt<S, T>(row: &Row, idx: usize) -> Result<Option<T>, StoreError>
where
    S: for<'a> FromSql<'a>,
    T: TryFrom<S>,
    T::Error: std::fmt::Display,
{
    let v: Option<S> = col(row, idx)?;
    v.map(|v| T::try_from(v).map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}"))))
        .transpose()
}

/// Counts and limits as BIGINT: no real value comes near `i64::MAX`, so
/// saturating is exact in practice.
pub(super) fn big(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
