//! The state machine of one gateway's circuit breaker: closed → open →
//! half-open → closed/open, with a bucketed failure window and the ejection
//! back-off. [`super::Breakers`] keeps one per gateway; everything
//! here takes `now` explicitly so that tests control time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Admission, BreakerConfig, CircuitState, Signal};

/// The failure window is kept in this many buckets: memory stays constant
/// however many calls a gateway takes, at the cost of the window edge being
/// accurate to a tenth of its length.
const WINDOW_BUCKETS: u32 = 10;

/// Upper bound on any ejection, so that an absurd configuration cannot
/// overflow `Instant` arithmetic.
const EJECTION_CEILING: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug)]
enum Phase {
    /// Taking traffic; `since` is when it closed (or last forgave an
    /// ejection), the start of the healthy period that decays `ejections`.
    Closed { since: Instant },
    /// Ejected until `until`.
    Open { until: Instant },
    /// Cool-off over; `probes` are the admission times of probes in flight.
    HalfOpen { probes: Vec<Instant> },
}

#[derive(Debug)]
struct Bucket {
    start: Instant,
    ok: u32,
    failed: u32,
}

#[derive(Debug)]
pub(super) struct Circuit {
    phase: Phase,
    consecutive_failures: u32,
    ejections: u32,
    buckets: VecDeque<Bucket>,
}

impl Circuit {
    pub(super) fn new(now: Instant) -> Circuit {
        Circuit {
            phase: Phase::Closed { since: now },
            consecutive_failures: 0,
            ejections: 0,
            buckets: VecDeque::new(),
        }
    }

    pub(super) fn admit(&mut self, cfg: &BreakerConfig, now: Instant) -> Admission {
        self.refresh(cfg, now);
        match &mut self.phase {
            Phase::Closed { .. } => Admission::Allowed,
            Phase::Open { until } => Admission::Rejected {
                retry_in: until.saturating_duration_since(now),
            },
            Phase::HalfOpen { probes } => {
                if probes.len() < cfg.half_open_probes.max(1) as usize {
                    probes.push(now);
                    return Admission::Probe;
                }
                // The earliest another probe can go is when the oldest probe's
                // lease runs out (sooner if a result arrives first).
                let oldest = probes.iter().min().copied().unwrap_or(now);
                Admission::Rejected {
                    retry_in: (oldest + cfg.probe_timeout).saturating_duration_since(now),
                }
            }
        }
    }

    pub(super) fn record(
        &mut self,
        cfg: &BreakerConfig,
        signal: Signal,
        now: Instant,
    ) -> CircuitState {
        self.refresh(cfg, now);
        match (&self.phase, signal) {
            // Results of calls admitted before the ejection say nothing new.
            (Phase::Open { .. }, _) => {}
            // Any result in half-open decides, including a straggler from
            // before the ejection: it is as recent as a probe's would be.
            (Phase::HalfOpen { .. }, Signal::Success) => self.close(now),
            (Phase::HalfOpen { .. }, Signal::Failure) => self.eject(cfg, now),
            (Phase::Closed { .. }, Signal::Success) => {
                self.consecutive_failures = 0;
                self.count(cfg, now, true);
            }
            (Phase::Closed { .. }, Signal::Failure) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.count(cfg, now, false);
                if self.consecutive_failures >= cfg.consecutive_failures.max(1)
                    || self.ratio_tripped(cfg, now)
                {
                    self.eject(cfg, now);
                }
            }
        }
        self.state(now)
    }

    /// The state as of `now`, without mutating: an open circuit whose
    /// ejection is over reports half-open.
    pub(super) fn state(&self, now: Instant) -> CircuitState {
        match self.phase {
            Phase::Closed { .. } => CircuitState::Closed,
            Phase::Open { until } if now < until => CircuitState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    pub(super) fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Ejections so far, less those forgiven by the healthy time up to `now`.
    pub(super) fn ejections(&self, cfg: &BreakerConfig, now: Instant) -> u32 {
        match self.phase {
            Phase::Closed { since } => decay(self.ejections, since, cfg.decay_after, now).0,
            _ => self.ejections,
        }
    }

    /// Time left in the ejection, if open.
    pub(super) fn open_for(&self, now: Instant) -> Option<Duration> {
        match self.phase {
            Phase::Open { until } if now < until => Some(until - now),
            _ => None,
        }
    }

    /// (failed / total, total) over the window as of `now`.
    pub(super) fn failure_ratio(&self, cfg: &BreakerConfig, now: Instant) -> (Option<f64>, u64) {
        let (ok, failed) = self
            .buckets
            .iter()
            .filter(|b| now.saturating_duration_since(b.start) < cfg.window)
            .fold((0u64, 0u64), |(o, f), b| {
                (o + u64::from(b.ok), f + u64::from(b.failed))
            });
        let total = ok + failed;
        ((total > 0).then(|| failed as f64 / total as f64), total)
    }

    /// Applies what the passage of time alone changes: the end of an
    /// ejection, expired probe leases, and forgiveness of old ejections.
    fn refresh(&mut self, cfg: &BreakerConfig, now: Instant) {
        match &mut self.phase {
            Phase::Open { until } if now >= *until => {
                self.phase = Phase::HalfOpen { probes: Vec::new() };
            }
            Phase::Open { .. } => {}
            // A probe whose caller never reported (cancelled, crashed) must
            // not hold the circuit half-open forever.
            Phase::HalfOpen { probes } => {
                probes.retain(|t| now.saturating_duration_since(*t) < cfg.probe_timeout);
            }
            Phase::Closed { since } => {
                let (ejections, new_since) = decay(self.ejections, *since, cfg.decay_after, now);
                self.ejections = ejections;
                *since = new_since;
            }
        }
    }

    fn count(&mut self, cfg: &BreakerConfig, now: Instant, ok: bool) {
        self.buckets
            .retain(|b| now.saturating_duration_since(b.start) < cfg.window);
        let bucket_len = cfg.window / WINDOW_BUCKETS;
        let fresh = self
            .buckets
            .back()
            .is_some_and(|b| now.saturating_duration_since(b.start) < bucket_len);
        if !fresh {
            self.buckets.push_back(Bucket {
                start: now,
                ok: 0,
                failed: 0,
            });
        }
        if let Some(b) = self.buckets.back_mut() {
            if ok {
                b.ok = b.ok.saturating_add(1);
            } else {
                b.failed = b.failed.saturating_add(1);
            }
        }
    }

    fn ratio_tripped(&self, cfg: &BreakerConfig, now: Instant) -> bool {
        let (ratio, total) = self.failure_ratio(cfg, now);
        total >= u64::from(cfg.min_requests.max(1)) && ratio.is_some_and(|r| r > cfg.failure_ratio)
    }

    /// Opens for base × (ejections so far, this one included), capped.
    fn eject(&mut self, cfg: &BreakerConfig, now: Instant) {
        self.ejections = self.ejections.saturating_add(1);
        let cap = cfg.max_ejection.min(EJECTION_CEILING);
        let time = cfg
            .base_ejection
            .checked_mul(self.ejections)
            .unwrap_or(cap)
            .min(cap);
        // Cannot overflow: `time` is at most a week and `now` is a real clock
        // reading (or a test's offset from one).
        let until = now.checked_add(time).unwrap_or(now);
        self.phase = Phase::Open { until };
        // The half-open verdict must rest on fresh calls only.
        self.buckets.clear();
    }

    fn close(&mut self, now: Instant) {
        self.phase = Phase::Closed { since: now };
        self.consecutive_failures = 0;
        self.buckets.clear();
    }
}

/// Forgives one ejection per full `every` of healthy time since `since`;
/// returns the new count and the start of the partial period left over.
fn decay(ejections: u32, since: Instant, every: Duration, now: Instant) -> (u32, Instant) {
    let elapsed = now.saturating_duration_since(since);
    if ejections == 0 || every.is_zero() || elapsed < every {
        return (ejections, since);
    }
    let steps = u32::try_from(elapsed.as_nanos() / every.as_nanos()).unwrap_or(u32::MAX);
    let leftover = Duration::from_nanos(
        u64::try_from(elapsed.as_nanos() % every.as_nanos()).unwrap_or(u64::MAX),
    );
    let new_since = now.checked_sub(leftover).unwrap_or(now);
    (ejections.saturating_sub(steps), new_since)
}
