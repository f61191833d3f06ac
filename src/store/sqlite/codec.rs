//! Column encoding for the SQLite store: JSON and text-enum columns in and
//! out. A column that does not decode surfaces as a rusqlite conversion
//! error, which maps to [`StoreError::Corrupt`].

use rusqlite::Row;
use rusqlite::types::Type;
use serde::de::DeserializeOwned;

pub(super) use crate::store::columns::{capture_str, opt_json, parse_capture, to_json};

fn bad(idx: usize, err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, err.into())
}

pub(super) fn json<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| bad(idx, e))
}

pub(super) fn json_opt<T: DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| bad(idx, e)))
        .transpose()
}

/// A text column holding one of an enum's `as_str` values.
pub(super) fn text_enum<T>(
    row: &Row<'_>,
    idx: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| bad(idx, format!("unknown value {text:?}")))
}

/// Latency as stored: SQLite integers are signed, and no real call lasts
/// 292 million years, so saturating is exact in practice.
pub(super) fn latency_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

pub(super) fn latency_from_sql(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u64>> {
    let ms: Option<i64> = row.get(idx)?;
    ms.map(|v| u64::try_from(v).map_err(|e| bad(idx, e)))
        .transpose()
}
