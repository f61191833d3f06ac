//! The PostgreSQL [`Store`](crate::domain::store::Store): for several payroute replicas
//! sharing one database. Owns the connection pool, the URL and TLS set-up,
//! migrations, the per-operation deadline and the mapping of driver errors
//! to [`StoreError`]; its observable behaviour is the SQLite store's, with
//! every write path made safe across replicas by the database itself
//! (unique keys and `ON CONFLICT`, compare-and-set updates, `FOR UPDATE
//! SKIP LOCKED` claims, one transaction per commit), plus leadership and
//! payment leases for coordination the SQLite store never needs.
//!
//! The URL is a libpq-style `postgres://` or `postgresql://` URL. Its
//! `options=-c search_path=NAME` (URL-encoded: `-c%20search_path%3DNAME`)
//! picks the schema, which must exist; the `connect` module tells how
//! `sslmode` is read.
//!
//! Every timestamp the store writes or compares (idempotency claims and
//! their staleness, inbound and delivery leases, payment leases, attempt
//! `updated_at`, the audit log's `at`) is the injected [`Clock`]'s, as in
//! SQLite, never the server's `now()`: replicas' clocks are kept in step by
//! NTP anyway, and tests move the clock instead of waiting. What is still
//! the server's: the time a migration was applied (`schema_migrations`,
//! bookkeeping no decision reads) and the session lifetime behind
//! leadership (an advisory lock ends with its session, no clock involved).

mod codec;
mod commit;
mod connect;
mod deliveries;
mod disputes;
mod idempotency;
mod inbound;
mod journal;
mod leases;
mod records;
mod refunds;
mod schema;
mod steps;
mod store_impl;
mod test_schema;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_replicas;
#[cfg(test)]
mod tests_steps;

use std::time::Duration;

use deadpool_postgres::{Client, Object, Pool};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout, timeout_at};

use crate::domain::clock::Clock;
use crate::domain::store::StoreError;

pub use test_schema::{DEFAULT_TEST_URL, TEST_URL_ENV, create_test_schema, drop_test_schema};

/// Every store operation, pool wait included, answers within this or fails
/// `Unavailable`: a dead or stuck server must not hang requests.
pub(super) const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per store (per replica); well under a default server's 100.
const POOL_SIZE: usize = 16;
/// Opening may wait for another replica's migration.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct PostgresStore {
    pool: Pool,
    target: connect::Target,
    /// The schema the URL's search_path resolved to; scopes advisory keys.
    schema: String,
    leadership: Mutex<leases::Leadership>,
    clock: Clock,
}

impl PostgresStore {
    /// Connects to the database named by `url` and brings its schema up to
    /// date. A server that cannot be reached is `Unavailable`; a URL that
    /// does not parse is `BadUrl`.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        Self::open_sized(url, POOL_SIZE).await
    }

    /// [`Self::open`] with a pool of `pool_size` connections (tests keep
    /// theirs small so that many run at once against one server).
    pub(crate) async fn open_sized(
        url: &str,
        pool_size: usize,
    ) -> Result<PostgresStore, StoreError> {
        let target = connect::parse(url)?;
        let pool = connect::pool(&target, pool_size, OP_TIMEOUT)?;
        let schema = timeout(OPEN_TIMEOUT, prepare(&pool))
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!("opening: no answer in {OPEN_TIMEOUT:?}"))
            })?
            .map_err(|e| match e {
                StoreError::Unavailable(m) => {
                    StoreError::Unavailable(format!("opening {}: {m}", connect::redact(url)))
                }
                other => other,
            })?;
        Ok(PostgresStore {
            pool,
            target,
            schema,
            leadership: Mutex::new(leases::Leadership::default()),
            clock: Clock::system(),
        })
    }

    /// The store with `clock` as its "now" (the system clock until set).
    pub fn with_clock(mut self, clock: Clock) -> PostgresStore {
        self.clock = clock;
        self
    }

    /// Runs `op` on a pooled connection within [`OP_TIMEOUT`]. A connection
    /// whose operation timed out may hold a half-read answer or a stuck
    /// server, so it is closed rather than returned to the pool.
    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + OP_TIMEOUT;
        let mut conn = timeout_at(deadline, self.pool.get())
            .await
            .map_err(|_| timed_out())??;
        match timeout_at(deadline, op(&mut conn)).await {
            Ok(result) => result,
            Err(_) => {
                drop(Object::take(conn));
                Err(timed_out())
            }
        }
    }

    /// The advisory-lock key of a leadership role in this store's schema.
    fn role_key(&self, role: &str) -> i64 {
        lock_key("lead", &self.schema, role)
    }
}

/// Resolves the schema and migrates it, on one pooled connection.
async fn prepare(pool: &Pool) -> Result<String, StoreError> {
    let mut conn = pool.get().await?;
    let schema = schema::current_schema(&conn).await?;
    schema::migrate(&mut conn, &schema).await?;
    Ok(schema)
}

pub(super) fn timed_out() -> StoreError {
    StoreError::Unavailable(format!("postgres did not answer within {OP_TIMEOUT:?}"))
}

/// A 64-bit advisory-lock key for `purpose` and `name` within `schema`.
/// Advisory locks are database-wide; keying them on the schema keeps two
/// deployments (or two tests) in one database from blocking each other.
pub(super) fn lock_key(purpose: &str, schema: &str, name: &str) -> i64 {
    let digest = Sha256::digest(format!("payroute\0{purpose}\0{schema}\0{name}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}
