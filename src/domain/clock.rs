//! The one source of "now" for the product: every timestamp payroute writes
//! or compares (record times and ids, leases, idempotency staleness,
//! delivery schedules, reconciliation ages, webhook signature ages) is read
//! from a [`Clock`] handed in where the service is built. Production runs
//! on the system clock; tests run on a manual one they set and advance, so
//! "an hour later" takes no hour and no sleep.
//!
//! Timers that only *wake* a loop (tokio sleeps, request deadlines,
//! latency measurements) are not "now" and stay on tokio's and the
//! monotonic clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where "now" comes from. Cloning shares it: a manual clock advanced
/// through one clone is advanced for every holder. A read neither locks
/// nor allocates.
#[derive(Debug, Clone, Default)]
pub struct Clock(Source);

#[derive(Debug, Clone, Default)]
enum Source {
    #[default]
    System,
    /// Unix milliseconds.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock that stands at `unix_secs` until set or advanced.
    pub fn manual(unix_secs: i64) -> Clock {
        Clock(Source::Manual(Arc::new(AtomicI64::new(
            unix_secs.saturating_mul(1000),
        ))))
    }

    /// A manual clock at the system's present time (tests whose records
    /// must still look recent to the system clock elsewhere, such as a
    /// gateway simulator's).
    pub fn manual_at_system_time() -> Clock {
        let clock = Clock::manual(0);
        clock.set_unix_ms(system_unix_ms());
        clock
    }

    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        Timestamp(match &self.0 {
            Source::System => system_unix_ms(),
            Source::Manual(ms) => ms.load(Ordering::SeqCst),
        })
    }

    /// Now, in unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.now().unix()
    }

    /// Now, as `YYYY-MM-DDTHH:MM:SS.mmmZ` (see [`Timestamp::rfc3339`]).
    pub fn now_rfc3339(&self) -> String {
        self.now().rfc3339()
    }

    /// A time-ordered id for a record made now (see [`Timestamp::record_id`]).
    pub fn record_id(&self, prefix: &str) -> String {
        self.now().record_id(prefix)
    }

    /// Sets a manual clock to `unix_secs`; the system clock cannot be set,
    /// so this does nothing to it.
    pub fn set_unix(&self, unix_secs: i64) {
        self.set_unix_ms(unix_secs.saturating_mul(1000));
    }

    fn set_unix_ms(&self, ms: i64) {
        if let Source::Manual(t) = &self.0 {
            t.store(ms, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward by `by`; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(t) = &self.0 {
            let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

fn system_unix_ms() -> i64 {
    // Before 1970 only on a badly broken host: read it as the epoch.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// One reading of a [`Clock`], in unix milliseconds: read once, used for
/// every field a write stamps, so they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_unix_ms(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    pub fn unix_ms(self) -> i64 {
        self.0
    }

    /// Whole unix seconds (rounded down, also before 1970).
    pub fn unix(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn datetime(self) -> time::OffsetDateTime {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// As RFC 3339 UTC with milliseconds, always one width (see
    /// [`super::ids::rfc3339_millis`]).
    pub fn rfc3339(self) -> String {
        super::ids::rfc3339_millis(self.datetime())
    }

    /// A time-ordered id for a record made at this time (see
    /// [`super::ids::record_id_at`]).
    pub fn record_id(self, prefix: &str) -> String {
        // Ids of times before 1970 (a manual clock set there) start at zero.
        super::ids::record_id_at(prefix, i128::from(self.0.max(0)))
    }

    /// `by` earlier.
    pub fn minus(self, by: Duration) -> Timestamp {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_advanced_and_clones_share_it() {
        let clock = Clock::manual(1_764_641_672);
        let other = clock.clone();
        assert_eq!(clock.now_unix(), 1_764_641_672);
        assert_eq!(clock.now_rfc3339(), "2025-12-02T02:14:32.000Z");
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now().unix_ms(), 1_764_641_673_500);
        assert_eq!(clock.now_unix(), 1_764_641_673);
        assert_eq!(clock.now_rfc3339(), "2025-12-02T02:14:33.500Z");
        other.set_unix(10);
        assert_eq!(clock.now_unix(), 10);
    }

    #[test]
    fn record_ids_follow_the_clock() {
        let clock = Clock::manual(1_764_641_672);
        let a = clock.record_id("pay");
        clock.advance(Duration::from_millis(1));
        let b = clock.record_id("pay");
        assert!(a < b, "{a} sorts after {b}");
        clock.set_unix(0);
        assert!(clock.record_id("pay").starts_with("pay_00000000"));
    }

    #[test]
    fn the_system_clock_is_now_and_cannot_be_moved() {
        let clock = Clock::system();
        let before = system_unix_ms();
        clock.advance(Duration::from_secs(3600));
        clock.set_unix(0);
        let read = clock.now().unix_ms();
        assert!(
            read >= before && read - before < 60_000,
            "{read} vs {before}"
        );
        assert!(!clock.is_manual());
    }

    #[test]
    fn seconds_round_down_before_the_epoch_too() {
        assert_eq!(Timestamp::from_unix_ms(-1).unix(), -1);
        assert_eq!(Timestamp::from_unix_ms(1999).unix(), 1);
        let t = Timestamp::from_unix_ms(1_000_000);
        assert_eq!(t.minus(Duration::from_secs(1)).unix_ms(), 999_000);
    }
}
