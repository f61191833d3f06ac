//! The two backends of the domain's [`Store`] trait
//! (`domain::store`): payments, attempts, refunds, disputes, idempotency
//! keys, the webhook queues, the audit log and the coordination of
//! replicas, kept durably. Callers never see SQL and never name a backend:
//! they hold an `Arc<dyn Store>` that [`open`] returns.
//!
//! Two backends fill the trait with the same observable behaviour, checked
//! by one contract test suite run against each: SQLite ([`sqlite`]), the
//! embedded single-process default, and PostgreSQL ([`postgres`]), for
//! several replicas sharing one database. [`open`] picks one by URL.
//!
//! Time: a store reads "now" from the [`Clock`] it is opened with, for
//! every timestamp it writes or compares itself (claims and their expiry,
//! leases, `processed_at`, attempt `updated_at`, audit entries); times its
//! callers pass (`now`, `updated_before`, a record's own fields) come from
//! the same clock upstream. Neither database's own clock decides anything.

mod columns;
#[cfg(test)]
mod contract;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use crate::domain::clock::Clock;
use crate::domain::store::{Store, StoreError};

/// Opens the store named by a URL: `sqlite://path/to/file.db` (or
/// `sqlite://:memory:`), or a PostgreSQL URL, `postgres://` or
/// `postgresql://` (`postgres://user:pass@host:5432/db?sslmode=require&
/// options=-c%20search_path%3Dpayroute`). `synchronous_full` applies to
/// SQLite only; PostgreSQL's durability is the server's own setting.
/// `clock` is the store's "now" (see the module docs).
pub async fn open(
    url: &str,
    synchronous_full: bool,
    clock: Clock,
) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = sqlite::SqliteStore::open(path, synchronous_full).await?;
        return Ok(Arc::new(store.with_clock(clock)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PostgresStore::open(url).await?;
        return Ok(Arc::new(store.with_clock(clock)));
    }
    let scheme = url.split_once("://").map_or(url, |(scheme, _)| scheme);
    Err(StoreError::BadUrl(format!(
        "{scheme}://…: expected sqlite://PATH or postgres://…"
    )))
}
