//! The SQLite [`Store`]: the embedded, single-node default. Owns the
//! connections (one writer behind a mutex, a few WAL readers), pragmas,
//! migrations and the mapping of rusqlite errors to [`StoreError`]. Every
//! database call runs on the blocking pool, so async callers never stall a
//! runtime thread and no lock is ever held across an `.await`.

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

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode};

use super::events::{Commit, Delivery, DeliveryStatus, Dispute, InboundEvent, InboundStatus};
use super::{AuditEntry, IdemClaim, IdemKey, Store, StoreError};
use crate::payments::model::{Attempt, AttemptOutcome, Payment, PaymentStatus, Refund};

/// Readers only help file databases in WAL mode; two matches the small
/// hosts this runs on and still lets a `/readyz` ping pass a long read.
const READERS: usize = 2;
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);
const MEMORY: &str = ":memory:";

pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    /// Empty for `:memory:`, where every connection would be its own
    /// database: reads then go to the writer.
    readers: Arc<[Mutex<Connection>]>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date. `synchronous_full` trades write latency for
    /// durability across power loss (WAL with `NORMAL` survives process
    /// crashes but may lose the last commits on power loss).
    pub async fn open(path: &str, synchronous_full: bool) -> Result<SqliteStore, StoreError> {
        let path = path.to_owned();
        blocking(move || open_blocking(&path, synchronous_full)).await
    }

    /// Runs `f` with the writer connection on the blocking pool.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        blocking(move || f(&mut lock(&writer))).await
    }

    /// Runs `f` with a free reader (or the writer for `:memory:`).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if self.readers.is_empty() {
            return self.write(f).await;
        }
        let readers = Arc::clone(&self.readers);
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        blocking(move || with_reader(&readers, start, f)).await
    }
}

fn open_blocking(path: &str, synchronous_full: bool) -> Result<SqliteStore, StoreError> {
    if path == MEMORY {
        let mut conn = Connection::open_in_memory()?;
        configure_writer(&conn, synchronous_full, false)?;
        schema::migrate(&mut conn)?;
        return Ok(SqliteStore {
            writer: Arc::new(Mutex::new(conn)),
            readers: Arc::from(Vec::new()),
            next_reader: AtomicUsize::new(0),
        });
    }
    create_parent_dir(path)?;
    let mut writer = Connection::open(path)?;
    configure_writer(&writer, synchronous_full, true)?;
    schema::migrate(&mut writer)?;
    let readers = (0..READERS)
        .map(|_| open_reader(path).map(Mutex::new))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SqliteStore {
        writer: Arc::new(Mutex::new(writer)),
        readers: Arc::from(readers),
        next_reader: AtomicUsize::new(0),
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
    }
    let sync = if synchronous_full { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn open_reader(path: &str) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Guards against a read path ever writing outside the writer's mutex.
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Locks a connection, recovering from poisoning: a panic while the lock was
/// held unwound through any open rusqlite `Transaction`, whose `Drop` rolled
/// it back, so the connection is still consistent.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Takes the first idle reader from `start` round-robin, else waits on one.
fn with_reader<T>(
    readers: &[Mutex<Connection>],
    start: usize,
    f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let n = readers.len();
    for i in 0..n {
        match readers[(start + i) % n].try_lock() {
            Ok(mut conn) => return f(&mut conn),
            Err(TryLockError::Poisoned(p)) => return f(&mut p.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
    }
    f(&mut lock(&readers[start % n]))
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
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
        self.write(move |c| idempotency::claim(c, &key, idempotency::now_unix()))
            .await
    }

    async fn peek_idempotency(&self, key: IdemKey<'_>) -> Result<IdemClaim, StoreError> {
        let key = idempotency::OwnedKey::from(&key);
        self.read(move |c| idempotency::peek(c, &key, idempotency::now_unix()))
            .await
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
        let now = idempotency::now_unix();
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
        let finish = super::AttemptFinish {
            id: attempt_id.to_owned(),
            outcome,
            provider_reference: provider_reference.map(str::to_owned),
            error_code: error_code.map(str::to_owned),
            latency_ms,
        };
        self.write(move |c| journal::finish_attempt(c, &finish))
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
        self.write(move |c| journal::append_audit(c, &e)).await
    }

    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| journal::list_audit(c, limit)).await
    }

    async fn insert_inbound_events(
        &self,
        events: &[InboundEvent],
    ) -> Result<Vec<bool>, StoreError> {
        let events = events.to_vec();
        self.write(move |c| inbound::insert(c, &events)).await
    }

    async fn claim_inbound_events(
        &self,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<InboundEvent>, StoreError> {
        self.write(move |c| inbound::claim(c, idempotency::now_unix(), limit, lease_secs))
            .await
    }

    async fn list_inbound_events(
        &self,
        status: InboundStatus,
        limit: usize,
    ) -> Result<Vec<InboundEvent>, StoreError> {
        self.read(move |c| inbound::list(c, status, limit)).await
    }

    async fn requeue_orphans(&self, older_than_unix: i64) -> Result<usize, StoreError> {
        self.write(move |c| inbound::requeue_orphans(c, older_than_unix))
            .await
    }

    async fn commit(&self, c: &Commit) -> Result<(), StoreError> {
        let commit = c.clone();
        self.write(move |conn| commit::apply(conn, &commit, idempotency::now_unix()))
            .await
    }

    async fn claim_and_commit(
        &self,
        key: IdemKey<'_>,
        c: &Commit,
    ) -> Result<IdemClaim, StoreError> {
        let key = idempotency::OwnedKey::from(&key);
        let commit = c.clone();
        self.write(move |conn| {
            commit::claim_and_apply(conn, &key, &commit, idempotency::now_unix())
        })
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
