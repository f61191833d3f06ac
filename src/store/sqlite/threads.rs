//! The threads that own SQLite's connections, and how async callers reach
//! them. One writer thread owns the only write connection and commits
//! every unit of work that is waiting when it wakes in one transaction
//! (group commit); each unit runs under its own savepoint, so a failing
//! unit is rolled back alone while the others commit, and every caller is
//! answered only once the shared `COMMIT` has returned. A few reader
//! threads own read-only connections and share one queue; in WAL mode they
//! never wait for the writer. A checkpoint thread moves the WAL into the
//! database off the request path. The thread count is fixed when the store
//! opens, whatever the load: no call takes a blocking-pool thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::domain::store::{StoreError, WriteStats};

/// Most units one transaction commits: enough to amortise a commit under a
/// burst, few enough that one batch's latency stays small.
const MAX_BATCH: usize = 64;
/// Units waiting for the writer (or reads for the readers) before callers
/// wait to enqueue: bounds memory under overload, and the wait pushes back
/// on the callers instead of growing a queue.
const QUEUE: usize = 1024;
/// How often the checkpoint thread copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Tells the caller how its unit ended once the batch holding it has
/// committed (or failed to).
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A unit of work: runs against the write connection inside its savepoint
/// and says whether it succeeded (so the writer keeps or rolls back its
/// savepoint) with the reply to send after the commit. Given no
/// connection (the batch's transaction is already broken) it runs nothing
/// and its reply carries the batch's error.
type WriteJob = Box<dyn FnOnce(Option<&Connection>) -> (bool, Reply) + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// The async side: cheap to clone, and dropping the last clone ends the
/// threads once they have drained their queues.
#[derive(Clone)]
pub(super) struct Threads {
    writer: mpsc::Sender<WriteJob>,
    /// `None` for `:memory:`, where reads go to the writer.
    readers: Option<mpsc::Sender<ReadJob>>,
    /// Dropped with the store, which wakes and ends the checkpoint thread.
    _checkpoint: Option<Arc<std::sync::mpsc::Sender<()>>>,
    stats: Arc<Counters>,
}

/// What the writer has done, for metrics and tests.
#[derive(Default)]
struct Counters {
    units: AtomicU64,
    commits: AtomicU64,
}

impl Threads {
    /// Starts the writer on `writer`, a reader per connection in `readers`
    /// and, when `checkpointer` is given, the checkpoint thread on it.
    pub(super) fn start(
        writer: Connection,
        readers: Vec<Connection>,
        checkpointer: Option<Connection>,
    ) -> Result<Threads, StoreError> {
        let (wtx, wrx) = mpsc::channel(QUEUE);
        let stats = Arc::new(Counters::default());
        let counters = Arc::clone(&stats);
        spawn("payroute-sqlite-writer", move || {
            write_loop(&writer, wrx, &counters);
        })?;
        let readers = if readers.is_empty() {
            None
        } else {
            let (rtx, rrx) = mpsc::channel(QUEUE);
            let shared = Arc::new(Mutex::new(rrx));
            for conn in readers {
                let rx = Arc::clone(&shared);
                spawn("payroute-sqlite-reader", move || read_loop(conn, &rx))?;
            }
            Some(rtx)
        };
        let checkpoint = match checkpointer {
            Some(conn) => {
                let (stop, wait) = std::sync::mpsc::channel::<()>();
                spawn("payroute-sqlite-checkpoint", move || {
                    checkpoint_loop(&conn, &wait);
                })?;
                Some(Arc::new(stop))
            }
            None => None,
        };
        Ok(Threads {
            writer: wtx,
            readers,
            _checkpoint: checkpoint,
            stats,
        })
    }

    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            units: self.stats.units.load(Ordering::Relaxed),
            commits: self.stats.commits.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` as one unit of work; answers once it is durable. An `Err`
    /// from `f` rolls back everything `f` wrote and nothing else.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                // Replaced by the batch's error in the reply.
                None => Err(StoreError::Unavailable(String::new())),
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed| {
                let answer = match committed {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Unavailable(e)),
                };
                // The caller may have gone (a cancelled request); the unit
                // is committed either way, as it would be had it waited.
                let _ = tx.send(answer);
            });
            (ok, reply)
        });
        if self.writer.send(job).await.is_err() {
            return Err(stopped("writer"));
        }
        rx.await.map_err(|_| lost("writer"))?
    }

    /// Runs `f` on a free read-only connection (the writer's for
    /// `:memory:`, inside a unit that writes nothing).
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(readers) = &self.readers else {
            return self.write(f).await;
        };
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        if readers.send(job).await.is_err() {
            return Err(stopped("reader"));
        }
        rx.await.map_err(|_| lost("reader"))?
    }
}

fn stopped(which: &str) -> StoreError {
    StoreError::Unavailable(format!("the SQLite {which} thread has stopped"))
}

/// The job panicked (its reply was dropped unsent); the writer rolled its
/// savepoint back and goes on.
fn lost(which: &str) -> StoreError {
    StoreError::Unavailable(format!("a SQLite {which} job failed without an answer"))
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
        .map_err(|e| StoreError::Unavailable(format!("starting {name}: {e}")))
}

fn write_loop(conn: &Connection, mut rx: mpsc::Receiver<WriteJob>, stats: &Counters) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(conn, batch.drain(..), stats);
    }
}

/// One transaction for every job in `batch`, each under a savepoint. The
/// replies wait for the `COMMIT`, so no caller hears of a write that a
/// crash could still take back.
fn commit_batch(conn: &Connection, batch: impl Iterator<Item = WriteJob>, stats: &Counters) {
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    let mut failed = sql(conn, "BEGIN IMMEDIATE").err();
    for job in batch {
        if failed.is_some() {
            // Run nothing more once the transaction is broken.
            replies.push(job(None).1);
            continue;
        }
        match run_job(conn, job) {
            Ok(reply) => replies.push(reply),
            Err(e) => failed = Some(e),
        }
    }
    let outcome = match failed {
        None => sql(conn, "COMMIT"),
        Some(e) => Err(e),
    };
    if outcome.is_err() && !conn.is_autocommit() {
        // Nothing of the batch may stay half-applied on the connection.
        let _ = sql(conn, "ROLLBACK");
    }
    if outcome.is_ok() {
        // Counted before anyone is answered, so an answer implies the count.
        stats
            .units
            .fetch_add(replies.len() as u64, Ordering::Relaxed);
        stats.commits.fetch_add(1, Ordering::Relaxed);
    }
    for reply in replies {
        reply(outcome.clone());
    }
}

/// Runs one job under its own savepoint. `Err` only when the savepoint
/// itself could not be kept or undone, which breaks the whole batch.
fn run_job(conn: &Connection, job: WriteJob) -> Result<Reply, String> {
    sql(conn, "SAVEPOINT unit")?;
    let ran = catch_unwind(AssertUnwindSafe(|| job(Some(conn))));
    let (ok, reply) = match ran {
        Ok(done) => done,
        // The job's reply went down with it, so its caller hears `lost`.
        Err(_) => (false, Box::new(drop) as Reply),
    };
    if !ok {
        sql(conn, "ROLLBACK TO unit")?;
    }
    sql(conn, "RELEASE unit")?;
    Ok(reply)
}

fn sql(conn: &Connection, statement: &str) -> Result<(), String> {
    conn.prepare_cached(statement)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(|e| format!("{statement}: {e}"))
}

fn read_loop(conn: Connection, rx: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        // Holding the lock while waiting is the point: the idle readers
        // queue on it and the next job goes to whichever is first.
        let next = match rx.lock() {
            Ok(mut guard) => guard.blocking_recv(),
            Err(poisoned) => poisoned.into_inner().blocking_recv(),
        };
        let Some(job) = next else { return };
        // A panicking read loses only its own answer.
        let _ = catch_unwind(AssertUnwindSafe(|| job(&conn)));
    }
}

/// PASSIVE never blocks the writer or the readers; it copies what it can
/// and the next round goes on from there.
fn checkpoint_loop(conn: &Connection, stop: &std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;

    use super::*;

    fn table(conn: &Connection) {
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
    }

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
    }

    /// Parks the writer inside a unit until the returned sender fires, so
    /// that the units sent meanwhile wait and go into one batch.
    async fn park(threads: &Threads) -> (std_mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, wait) = std_mpsc::channel::<()>();
        let (entered, is_in) = oneshot::channel();
        let t = threads.clone();
        let parked = tokio::spawn(async move {
            t.write(move |_| {
                let _ = entered.send(());
                let _ = wait.recv();
                Ok(())
            })
            .await
            .unwrap();
        });
        is_in.await.unwrap();
        (release, parked)
    }

    #[tokio::test]
    async fn a_failing_unit_rolls_back_alone_and_its_batch_commits() {
        let conn = Connection::open_in_memory().unwrap();
        table(&conn);
        let threads = Threads::start(conn, Vec::new(), None).unwrap();
        let (release, parked) = park(&threads).await;
        let units: Vec<_> = (0..20)
            .map(|n| {
                let t = threads.clone();
                tokio::spawn(async move {
                    t.write(move |c| {
                        c.execute("INSERT INTO t VALUES (?1)", [n])?;
                        if n % 5 == 0 {
                            return Err(StoreError::Conflict(format!("unit {n}")));
                        }
                        Ok(n)
                    })
                    .await
                })
            })
            .collect();
        // Every unit is queued behind the parked one before it goes on.
        while threads.writer.capacity() > QUEUE - 20 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        parked.await.unwrap();
        for (n, unit) in units.into_iter().enumerate() {
            match unit.await.unwrap() {
                Ok(got) => assert_eq!(usize::try_from(got).unwrap(), n),
                Err(StoreError::Conflict(m)) => assert_eq!(m, format!("unit {n}")),
                Err(e) => panic!("unit {n}: {e:?}"),
            }
        }
        assert_eq!(threads.read(count).await.unwrap(), 16);
        // The parked unit alone, the twenty together, then the read (which
        // goes through the writer for `:memory:`).
        let stats = threads.stats();
        assert_eq!((stats.units, stats.commits), (22, 3));
    }

    #[tokio::test]
    async fn a_panicking_unit_loses_only_its_own_answer() {
        let conn = Connection::open_in_memory().unwrap();
        table(&conn);
        let threads = Threads::start(conn, Vec::new(), None).unwrap();
        let panicked = threads
            .write(|c| -> Result<(), StoreError> {
                c.execute("INSERT INTO t VALUES (1)", [])?;
                panic!("a bug in a unit");
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Unavailable(_))));
        threads
            .write(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?))
            .await
            .unwrap();
        // The panicking unit's row was rolled back with its savepoint.
        assert_eq!(threads.read(count).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn reads_do_not_wait_for_a_writer_in_the_middle_of_a_unit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        table(&writer);
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let reader = Connection::open(&path).unwrap();
        let threads = Threads::start(writer, vec![reader], None).unwrap();
        let (release, parked) = park(&threads).await;
        // The writer holds its IMMEDIATE transaction open right now.
        assert_eq!(threads.read(count).await.unwrap(), 1);
        release.send(()).unwrap();
        parked.await.unwrap();
    }
}
