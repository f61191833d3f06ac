//! The SQLite [`Store`]: the embedded, single-node default. Owns the
//! connections (handed to their own threads in [`threads`]: one writer
//! committing units of work in groups, a few WAL readers, a checkpointer),
//! pragmas, migrations and the mapping of rusqlite errors to
//! [`StoreError`]. Async callers never stall a runtime thread, no lock is
//! held across an `.await`, and no call takes a blocking-pool thread.
//!
//! Every timestamp is the injected clock's (see [`SqliteStore::with_clock`]);
//! SQLite's own `'now'` is left only in the migrations' `applied_at`,
//! bookkeeping that no decision reads.

mod codec;
mod commit;
mod deliveries;
mod disputes;
mod idempotency;
mod inbound;
mod journal;
mod records;
mod schema;
#[cfg(test)]
mod tests;
mod threads;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode};

use crate::domain::clock::Clock;
use crate::domain::model::{Attempt, AttemptOutcome, Payment, PaymentStatus, Refund};
use crate::domain::store::events::{
    Commit, Delivery, DeliveryStatus, Dispute, InboundEvent, InboundStatus,
};
use crate::domain::store::{AuditEntry, IdemClaim, IdemKey, Store, StoreError};
use threads::Threads;

/// Readers only help file databases in WAL mode; two matches the small
/// hosts this runs on and still lets a `/readyz` ping pass a long read.
const READERS: usize = 2;
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);
const MEMORY: &str = ":memory:";
/// Every statement payroute runs fits, so none is parsed twice.
const STATEMENT_CACHE: usize = 128;
/// Bytes per database page; takes effect only when the file is created.
/// Every commit writes each page it changed whole into the WAL, and a
/// payment changes about twenty index and table pages of which it uses a
/// few dozen bytes each: at 4 KiB (SQLite's default) that was ~80 KB of
/// WAL per payment, 80 MB/s at 1,000 payments/s, and the checkpoint's
/// fsync of it made the latency tail. 1 KiB pages write a quarter of it.
const PAGE_SIZE: i64 = 1024;

pub struct SqliteStore {
    threads: Threads,
    /// Every timestamp the store writes or compares (claims, leases,
    /// staleness, `updated_at`, the audit log) is this clock's, never
    /// SQLite's own `'now'`: tests move it, and one payroute reads one clock.
    clock: Clock,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date. `synchronous_full` trades write latency for
    /// durability across power loss (WAL with `NORMAL` survives process
    /// crashes but may lose the last commits on power loss).
    pub async fn open(path: &str, synchronous_full: bool) -> Result<SqliteStore, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || open_blocking(&path, synchronous_full))
            .await
            .map_err(|e| StoreError::Unavailable(format!("opening the store: {e}")))?
    }

    /// The store with `clock` as its "now" (the system clock until set).
    pub fn with_clock(mut self, clock: Clock) -> SqliteStore {
        self.clock = clock;
        self
    }

    /// Runs `f` as one unit of work on the writer; answers once durable.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.threads.write(f).await
    }

    /// Runs `f` on a reader (or the writer for `:memory:`).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.threads.read(f).await
    }
}

fn open_blocking(path: &str, synchronous_full: bool) -> Result<SqliteStore, StoreError> {
    if path == MEMORY {
        let mut conn = Connection::open_in_memory()?;
        configure_writer(&conn, synchronous_full, false)?;
        schema::migrate(&mut conn)?;
        let threads = Threads::start(conn, Vec::new(), None)?;
        return Ok(SqliteStore {
            threads,
            clock: Clock::system(),
        });
    }
    create_parent_dir(path)?;
    let mut writer = Connection::open(path)?;
    configure_writer(&writer, synchronous_full, true)?;
    schema::migrate(&mut writer)?;
    let readers = (0..READERS)
        .map(|_| open_reader(path))
        .collect::<Result<Vec<_>, _>>()?;
    let checkpointer = Connection::open(path)?;
    let threads = Threads::start(writer, readers, Some(checkpointer))?;
    Ok(SqliteStore {
        threads,
        clock: Clock::system(),
    })
}

fn create_parent_dir(path: &str) -> Result<(), StoreError> {
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display()))),
        _ => Ok(()),
    }
}

fn configure_writer(
    conn: &Connection,
    synchronous_full: bool,
    wal: bool,
) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    if wal {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        // Readers on separate connections rely on WAL; a file system that
        // refuses it would make them block writers, so fail loudly.
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "journal_mode=WAL refused (got {mode})"
            )));
        }
        // The checkpoint thread does this off the request path; left on,
        // whichever commit crossed the threshold would pay for it.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    let sync = if synchronous_full { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn open_reader(path: &str) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Guards against a read path ever writing outside the writer.
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Runs `sql` through the connection's statement cache, so that it is
/// parsed once per connection rather than once per call.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match &e {
            E::QueryReturnedNoRows => StoreError::NotFound,
            E::SqliteFailure(err, _) => match err.code {
                ErrorCode::ConstraintViolation => StoreError::Conflict(e.to_string()),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                    StoreError::Corrupt(e.to_string())
                }
                _ => StoreError::Unavailable(e.to_string()),
            },
            E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(..)
            | E::InvalidColumnType(..) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn claim_idempotency(&self, key: IdemKey<'_>) -> Result<IdemClaim, StoreError> {
        let key = idempotency::OwnedKey::from(&key);
        let now = self.clock.now_unix();
        self.write(move |c| idempotency::claim(c, &key, now)).await
    }

    async fn peek_idempotency(&self, key: IdemKey<'_>) -> Result<IdemClaim, StoreError> {
        let key = idempotency::OwnedKey::from(&key);
        let now = self.clock.now_unix();
        self.read(move |c| idempotency::peek(c, &key, now)).await
    }

    async fn complete_idempotency(
        &self,
        merchant_id: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let (m, k, body) = (merchant_id.to_owned(), key.to_owned(), body.to_vec());
        self.write(move |c| idempotency::complete(c, &m, &k, status, &body))
            .await
    }

    async fn release_idempotency(&self, merchant_id: &str, key: &str) -> Result<(), StoreError> {
        let (m, k) = (merchant_id.to_owned(), key.to_owned());
        self.write(move |c| idempotency::release(c, &m, &k)).await
    }

    async fn insert_payment(&self, payment: &Payment) -> Result<(), StoreError> {
        let p = payment.clone();
        self.write(move |c| records::insert_payment(c, &p)).await
    }

    async fn update_payment(&self, payment: &Payment) -> Result<(), StoreError> {
        let p = payment.clone();
        self.write(move |c| records::update_payment(c, &p)).await
    }

    async fn get_payment(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let (m, id) = (merchant_id.to_owned(), id.to_owned());
        self.read(move |c| records::get_payment(c, &m, &id)).await
    }

    async fn find_payments_by_reference(
        &self,
        merchant_id: &str,
        reference: &str,
    ) -> Result<Vec<Payment>, StoreError> {
        let (m, r) = (merchant_id.to_owned(), reference.to_owned());
        self.read(move |c| records::find_by_reference(c, &m, &r))
            .await
    }

    async fn retake_idempotency(
        &self,
        merchant_id: &str,
        key: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let (m, k) = (merchant_id.to_owned(), key.to_owned());
        let now = self.clock.now_unix();
        self.write(move |c| idempotency::retake(c, &m, &k, since, now))
            .await
    }

    async fn find_payment_by_idempotency_key(
        &self,
        merchant_id: &str,
        key: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let (m, k) = (merchant_id.to_owned(), key.to_owned());
        self.read(move |c| records::find_by_idempotency_key(c, &m, &k))
            .await
    }

    async fn list_stale_payments(
        &self,
        statuses: &[PaymentStatus],
        updated_before: &str,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        let before = updated_before.to_owned();
        self.read(move |c| {
            let mut all = Vec::new();
            for s in statuses {
                all.extend(records::stale_by_status(c, s, &before, limit)?);
            }
            Ok(all)
        })
        .await
    }

    async fn find_payment_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let (g, r) = (gateway.to_owned(), provider_reference.to_owned());
        self.read(move |c| records::find_by_provider_reference(c, &g, &r))
            .await
    }

    async fn insert_attempt(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let a = attempt.clone();
        self.write(move |c| journal::insert_attempt(c, &a)).await
    }

    async fn finish_attempt(
        &self,
        attempt_id: &str,
        outcome: AttemptOutcome,
        provider_reference: Option<&str>,
        error_code: Option<&str>,
        latency_ms: u64,
    ) -> Result<(), StoreError> {
        let finish = crate::domain::store::AttemptFinish {
            id: attempt_id.to_owned(),
            outcome,
            provider_reference: provider_reference.map(str::to_owned),
            error_code: error_code.map(str::to_owned),
            latency_ms,
        };
        let at = self.clock.now_rfc3339();
        self.write(move |c| journal::finish_attempt(c, &finish, &at))
            .await
    }

    async fn list_attempts(&self, payment_id: &str) -> Result<Vec<Attempt>, StoreError> {
        let id = payment_id.to_owned();
        self.read(move |c| journal::list_attempts(c, &id)).await
    }

    async fn insert_refund(&self, refund: &Refund) -> Result<(), StoreError> {
        let r = refund.clone();
        self.write(move |c| records::insert_refund(c, &r)).await
    }

    async fn update_refund(&self, refund: &Refund) -> Result<(), StoreError> {
        let r = refund.clone();
        self.write(move |c| records::update_refund(c, &r)).await
    }

    async fn get_refund(&self, merchant_id: &str, id: &str) -> Result<Option<Refund>, StoreError> {
        let (m, id) = (merchant_id.to_owned(), id.to_owned());
        self.read(move |c| records::get_refund(c, &m, &id)).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let e = entry.clone();
        let at = self.clock.now_rfc3339();
        self.write(move |c| journal::append_audit(c, &e, &at)).await
    }

    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| journal::list_audit(c, limit)).await
    }

    async fn insert_inbound_events(
        &self,
        events: &[InboundEvent],
        lease_secs: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let events = events.to_vec();
        self.write(move |c| inbound::insert(c, &events, lease_secs))
            .await
    }

    async fn claim_inbound_events(
        &self,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<InboundEvent>, StoreError> {
        let now = self.clock.now_unix();
        // Idle loops call this every tick: with nothing to take, a reader
        // says so and the writer is not asked.
        if !self.read(move |c| inbound::any_claimable(c, now)).await? {
            return Ok(Vec::new());
        }
        self.write(move |c| inbound::claim(c, now, limit, lease_secs))
            .await
    }

    async fn list_inbound_events(
        &self,
        status: InboundStatus,
        limit: usize,
    ) -> Result<Vec<InboundEvent>, StoreError> {
        self.read(move |c| inbound::list(c, status, limit)).await
    }

    async fn release_inbound_leases(&self) -> Result<usize, StoreError> {
        // Usually there are none: then a read says so and nothing is written.
        if !self.read(inbound::any_leased).await? {
            return Ok(0);
        }
        self.write(inbound::release_leases).await
    }

    async fn requeue_orphans(&self, older_than_unix: i64) -> Result<usize, StoreError> {
        if !self
            .read(move |c| inbound::any_orphans(c, older_than_unix))
            .await?
        {
            return Ok(0);
        }
        self.write(move |c| inbound::requeue_orphans(c, older_than_unix))
            .await
    }

    async fn commit(&self, c: &Commit) -> Result<(), StoreError> {
        let commit = c.clone();
        let now = self.clock.now();
        self.write(move |conn| commit::apply(conn, &commit, now))
            .await
    }

    async fn claim_and_commit(
        &self,
        key: IdemKey<'_>,
        c: &Commit,
    ) -> Result<IdemClaim, StoreError> {
        let key = idempotency::OwnedKey::from(&key);
        let commit = c.clone();
        let now = self.clock.now();
        self.write(move |conn| commit::claim_and_apply(conn, &key, &commit, now))
            .await
    }

    async fn get_payment_by_id(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| records::get_payment_by_id(c, &id)).await
    }

    async fn find_refund_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Refund>, StoreError> {
        let (g, r) = (gateway.to_owned(), provider_reference.to_owned());
        self.read(move |c| records::find_refund_by_provider_reference(c, &g, &r))
            .await
    }

    async fn get_refund_by_id(&self, id: &str) -> Result<Option<Refund>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| records::get_refund_by_id(c, &id)).await
    }

    async fn list_disputes(&self, payment_id: &str) -> Result<Vec<Dispute>, StoreError> {
        let id = payment_id.to_owned();
        self.read(move |c| disputes::list(c, &id)).await
    }

    async fn find_dispute_by_provider_reference(
        &self,
        gateway: &str,
        provider_reference: &str,
    ) -> Result<Option<Dispute>, StoreError> {
        let (g, r) = (gateway.to_owned(), provider_reference.to_owned());
        self.read(move |c| disputes::find_by_provider_reference(c, &g, &r))
            .await
    }

    async fn claim_due_deliveries(
        &self,
        now: i64,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        if !self.read(move |c| deliveries::any_due(c, now)).await? {
            return Ok(Vec::new());
        }
        self.write(move |c| deliveries::claim_due(c, now, limit, lease_secs))
            .await
    }

    async fn update_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        let d = d.clone();
        self.write(move |c| deliveries::update(c, &d)).await
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| deliveries::get(c, &id)).await
    }

    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(move |c| deliveries::list(c, status, limit)).await
    }

    fn write_stats(&self) -> Option<crate::domain::store::WriteStats> {
        Some(self.threads.stats())
    }

    /// A SQLite file serves one payroute process, never a set of replicas,
    /// so that process leads every role.
    async fn try_lead(&self, _role: &str) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Always granted: a SQLite file serves one process, whose in-process
    /// payment guard (the engine's busy set) already serializes work on
    /// one payment.
    fn shared_by_replicas(&self) -> bool {
        false
    }

    async fn lock_payment(
        &self,
        _payment_id: &str,
        _holder: &str,
        _now: i64,
        _ttl_secs: i64,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn unlock_payment(&self, _payment_id: &str, _holder: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
