//! Schema migrations for the SQLite store: numbered SQL files compiled into
//! the binary, applied in order at open, each recorded in
//! `schema_migrations` so reopening applies nothing twice.

use rusqlite::{Connection, TransactionBehavior, params};

use crate::domain::store::StoreError;

/// `(version, sql)`, ascending. Append only: an applied file never changes.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_webhooks.sql")),
    (
        3,
        include_str!("../migrations/sqlite/0003_payment_idempotency_key.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_drop_attempts_outcome.sql"),
    ),
];

/// Applies every migration newer than the database, all in one IMMEDIATE
/// transaction so that two processes opening the same file at once cannot
/// both apply a version, and a failure leaves the schema as it was.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TEXT NOT NULL
         )",
    )?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0);
    if current > latest() {
        // An older binary must not write to a schema it does not know.
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this build's {}",
            latest()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at)
             VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}
