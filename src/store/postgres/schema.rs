//! Schema migrations for the PostgreSQL store: numbered SQL files compiled
//! into the binary, applied in order at open, each recorded in
//! `schema_migrations`. The whole run is one transaction holding an
//! advisory lock keyed on the schema, so replicas starting together apply
//! each version once, and a failure leaves the schema as it was.

use deadpool_postgres::{Client, GenericClient};

use super::codec::col;
use super::lock_key;
use crate::domain::store::StoreError;

/// `(version, sql)`, ascending. Append only: an applied file never changes.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_assert.sql")),
    (
        3,
        include_str!("../migrations/postgres/0003_drop_attempts_outcome.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgres/0004_payments_lookups_lead_with_their_key.sql"),
    ),
];

/// The schema the connection's `search_path` creates in; `Unavailable`
/// when it names no existing schema.
pub(super) async fn current_schema(c: &Client) -> Result<String, StoreError> {
    let row = c.query_one("SELECT current_schema()", &[]).await?;
    let schema: Option<String> = col(&row, 0)?;
    schema.ok_or_else(|| {
        StoreError::Unavailable("search_path names no existing schema; create it first".into())
    })
}

/// Brings `schema` up to date; refuses a schema newer than this build.
pub(super) async fn migrate(c: &mut Client, schema: &str) -> Result<(), StoreError> {
    let tx = c.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&lock_key("migrate", schema, "")],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TEXT NOT NULL
         )",
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    let current: i64 = col(&row, 0)?;
    if current > latest() {
        // An older binary must not write to a schema it does not know.
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this build's {}",
            latest()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await?;
        tx.execute(
            r#"INSERT INTO schema_migrations (version, applied_at)
               VALUES ($1, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))"#,
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}
