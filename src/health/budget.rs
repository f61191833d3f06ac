//! The retry budget (design §5, reference B9: Finagle's `RetryBudget`):
//! retries and failover attempts may add at most `ratio` of the first
//! attempts seen in the last `ttl`, plus a reserve of `min_per_sec` retries
//! per second so that a quiet proxy can still retry. During an outage this
//! caps the extra load payroute puts on the remaining gateways at ~1.2×.
//!
//! Counts live in a few time buckets behind a std `Mutex` held only for the
//! bucket arithmetic, never across an `.await`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Deposits and withdrawals expire per bucket: the `ttl` edge is accurate
/// to a tenth of its length.
const BUCKETS: u32 = 10;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error("retry budget ratio must be a finite number >= 0, got {0}")]
    Ratio(f64),
    #[error("retry budget ttl must be greater than zero")]
    ZeroTtl,
}

#[derive(Debug)]
struct Bucket {
    start: Instant,
    requests: u64,
    retries: u64,
}

#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: u32,
    ttl: Duration,
    buckets: Mutex<VecDeque<Bucket>>,
}

/// The budget as of one instant, for the ops listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetStats {
    /// First attempts deposited in the last ttl.
    pub requests: u64,
    /// Retries withdrawn in the last ttl.
    pub retries: u64,
    /// Retries the budget allows in the last ttl.
    pub allowance: u64,
    pub remaining: u64,
    pub ratio: f64,
    pub min_per_sec: u32,
    pub ttl_secs: f64,
}

impl Default for RetryBudget {
    /// Finagle's defaults: 20 % plus 10 retries/s, over 10 s.
    fn default() -> RetryBudget {
        RetryBudget::new(0.2, 10, Duration::from_secs(10))
    }
}

impl RetryBudget {
    /// Never panics; a negative or NaN `ratio` allows only the reserve, a
    /// zero `ttl` allows nothing. Use [`RetryBudget::try_new`] to refuse them.
    pub fn new(ratio: f64, min_per_sec: u32, ttl: Duration) -> RetryBudget {
        RetryBudget {
            ratio,
            min_per_sec,
            ttl,
            buckets: Mutex::new(VecDeque::new()),
        }
    }

    pub fn try_new(
        ratio: f64,
        min_per_sec: u32,
        ttl: Duration,
    ) -> Result<RetryBudget, BudgetError> {
        if !(ratio.is_finite() && ratio >= 0.0) {
            return Err(BudgetError::Ratio(ratio));
        }
        if ttl.is_zero() {
            return Err(BudgetError::ZeroTtl);
        }
        Ok(RetryBudget::new(ratio, min_per_sec, ttl))
    }

    /// Call on every first attempt of a payment.
    pub fn deposit(&self) {
        self.deposit_at(Instant::now());
    }

    pub fn deposit_at(&self, now: Instant) {
        let mut buckets = self.lock();
        self.current(&mut buckets, now).requests += 1;
    }

    /// Call before every retry or failover attempt; `false` means do not
    /// make it. A `true` counts the retry.
    pub fn try_withdraw(&self) -> bool {
        self.try_withdraw_at(Instant::now())
    }

    pub fn try_withdraw_at(&self, now: Instant) -> bool {
        let mut buckets = self.lock();
        self.prune(&mut buckets, now);
        let (requests, retries) = totals(&buckets);
        if retries >= self.allowance(requests) {
            return false;
        }
        self.current(&mut buckets, now).retries += 1;
        true
    }

    pub fn snapshot(&self) -> BudgetStats {
        self.snapshot_at(Instant::now())
    }

    pub fn snapshot_at(&self, now: Instant) -> BudgetStats {
        let mut buckets = self.lock();
        self.prune(&mut buckets, now);
        let (requests, retries) = totals(&buckets);
        let allowance = self.allowance(requests);
        BudgetStats {
            requests,
            retries,
            allowance,
            remaining: allowance.saturating_sub(retries),
            ratio: self.ratio,
            min_per_sec: self.min_per_sec,
            ttl_secs: self.ttl.as_secs_f64(),
        }
    }

    /// ratio × requests plus the reserve, both over one ttl. The float
    /// cast saturates, and NaN becomes 0.
    fn allowance(&self, requests: u64) -> u64 {
        let reserve = f64::from(self.min_per_sec) * self.ttl.as_secs_f64();
        (self.ratio * requests as f64 + reserve).floor() as u64
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Bucket>> {
        // The counters stay consistent even if a holder panicked: every
        // update is a single increment.
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn prune(&self, buckets: &mut VecDeque<Bucket>, now: Instant) {
        buckets.retain(|b| now.saturating_duration_since(b.start) < self.ttl);
    }

    /// The bucket that `now` falls in, created if needed.
    fn current<'a>(&self, buckets: &'a mut VecDeque<Bucket>, now: Instant) -> &'a mut Bucket {
        self.prune(buckets, now);
        let bucket_len = self.ttl / BUCKETS;
        let fresh = buckets
            .back()
            .is_some_and(|b| now.saturating_duration_since(b.start) < bucket_len);
        if !fresh {
            buckets.push_back(Bucket {
                start: now,
                requests: 0,
                retries: 0,
            });
        }
        // Non-empty: a bucket was just pushed if the last one was stale.
        let last = buckets.len() - 1;
        &mut buckets[last]
    }
}

fn totals(buckets: &VecDeque<Bucket>) -> (u64, u64) {
    buckets
        .iter()
        .fold((0, 0), |(q, r), b| (q + b.requests, r + b.retries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const S: Duration = Duration::from_secs(1);

    fn withdrawals(b: &RetryBudget, at: Instant, tries: u32) -> u32 {
        (0..tries).filter(|_| b.try_withdraw_at(at)).count() as u32
    }

    #[test]
    fn reserve_alone_allows_min_per_sec_times_ttl() {
        let b = RetryBudget::new(0.2, 10, S * 10);
        let t = Instant::now();
        assert_eq!(withdrawals(&b, t, 500), 100);
    }

    #[test]
    fn allows_ratio_of_requests_plus_reserve_and_refuses_beyond() {
        let b = RetryBudget::new(0.2, 1, S * 10);
        let t = Instant::now();
        for _ in 0..1000 {
            b.deposit_at(t);
        }
        // 0.2 × 1000 + 1/s × 10 s.
        assert_eq!(withdrawals(&b, t + S, 1000), 210);
        assert!(!b.try_withdraw_at(t + S * 2));
        let stats = b.snapshot_at(t + S * 2);
        assert_eq!(
            (
                stats.requests,
                stats.retries,
                stats.allowance,
                stats.remaining
            ),
            (1000, 210, 210, 0)
        );
        // More first attempts earn more retries.
        for _ in 0..10 {
            b.deposit_at(t + S * 2);
        }
        assert_eq!(withdrawals(&b, t + S * 2, 10), 2);
    }

    #[test]
    fn recovers_once_the_ttl_has_passed() {
        let b = RetryBudget::new(0.2, 0, S * 10);
        let t = Instant::now();
        for _ in 0..100 {
            b.deposit_at(t);
        }
        assert_eq!(withdrawals(&b, t, 100), 20);
        // Deposits expire too: without new traffic there is nothing to spend.
        assert_eq!(withdrawals(&b, t + S * 10, 100), 0);
        for _ in 0..100 {
            b.deposit_at(t + S * 10);
        }
        assert_eq!(withdrawals(&b, t + S * 10, 100), 20);
        let stats = b.snapshot_at(t + S * 21);
        assert_eq!((stats.requests, stats.retries), (0, 0));
    }

    #[test]
    fn retries_expire_before_the_deposits_made_after_them() {
        let b = RetryBudget::new(0.5, 0, S * 10);
        let t = Instant::now();
        for _ in 0..10 {
            b.deposit_at(t);
        }
        assert_eq!(withdrawals(&b, t, 10), 5);
        for _ in 0..10 {
            b.deposit_at(t + S * 5);
        }
        // At t+10 the first deposits and retries are gone; 10 deposits remain.
        assert_eq!(withdrawals(&b, t + S * 10, 10), 5);
    }

    #[test]
    fn try_new_refuses_bad_parameters() {
        assert!(RetryBudget::try_new(0.2, 10, S * 10).is_ok());
        assert!(matches!(
            RetryBudget::try_new(f64::NAN, 10, S),
            Err(BudgetError::Ratio(_))
        ));
        assert!(matches!(
            RetryBudget::try_new(-0.1, 10, S),
            Err(BudgetError::Ratio(_))
        ));
        assert!(matches!(
            RetryBudget::try_new(0.2, 10, Duration::ZERO),
            Err(BudgetError::ZeroTtl)
        ));
    }

    #[test]
    fn concurrent_withdrawals_never_exceed_the_allowance() {
        let b = Arc::new(RetryBudget::new(0.1, 0, S * 3600));
        for _ in 0..1000 {
            b.deposit();
        }
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || (0..1000).filter(|_| b.try_withdraw()).count())
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(granted, 100);
        assert_eq!(b.snapshot().retries, 100);
    }
}
