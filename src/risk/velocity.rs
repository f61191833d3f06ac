//! Sliding-window velocity counters: how many payments a card, customer,
//! email or IP made recently. In memory, per process; sync (DashMap shard
//! locks are held only inside these calls, never across an `.await`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::Serialize;

use crate::domain::facts::PaymentFacts;

/// Which payment attribute a velocity counter is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VelocityKey {
    /// The keyed card fingerprint (never the number).
    Card,
    Customer,
    Email,
    Ip,
}

impl VelocityKey {
    pub const ALL: [VelocityKey; 4] = [
        VelocityKey::Card,
        VelocityKey::Customer,
        VelocityKey::Email,
        VelocityKey::Ip,
    ];

    pub fn parse(s: &str) -> Option<VelocityKey> {
        VelocityKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VelocityKey::Card => "card",
            VelocityKey::Customer => "customer",
            VelocityKey::Email => "email",
            VelocityKey::Ip => "ip",
        }
    }

    /// The payment's value for this key, normalized so that trivially
    /// different spellings count together.
    pub fn value_of(self, facts: &PaymentFacts) -> Option<String> {
        let raw = match self {
            VelocityKey::Card => facts.card_fingerprint.as_deref(),
            VelocityKey::Customer => facts.customer_id.as_deref(),
            VelocityKey::Email => facts.customer_email.as_deref(),
            VelocityKey::Ip => facts.customer_ip.as_deref(),
        }?;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return None;
        }
        Some(match self {
            VelocityKey::Email => trimmed.to_ascii_lowercase(),
            _ => trimmed.to_string(),
        })
    }
}

/// Timestamps kept per key at most: a velocity rule only needs to know that
/// `max` was reached, and validation caps `max` well below this.
pub const MAX_EVENTS_PER_KEY: usize = 10_000;
/// How often (in records) stale keys are swept from the whole map.
const SWEEP_EVERY: u64 = 1024;

/// Per-key recent-payment timestamps.
#[derive(Debug)]
pub struct Velocity {
    events: DashMap<(VelocityKey, String), VecDeque<Instant>>,
    retention: Duration,
    records: AtomicU64,
}

impl Default for Velocity {
    fn default() -> Self {
        Velocity::new(Duration::from_secs(24 * 3600))
    }
}

impl Velocity {
    /// `retention` should be at least the longest velocity window of the
    /// rules (see `RiskRules::longest_window`); older events are forgotten.
    pub fn new(retention: Duration) -> Velocity {
        Velocity {
            events: DashMap::new(),
            retention,
            records: AtomicU64::new(0),
        }
    }

    /// Prior payments for `value` within `window` before now.
    pub fn count(&self, kind: VelocityKey, value: &str, window: Duration) -> u32 {
        self.count_at(kind, value, window, Instant::now())
    }

    pub fn count_at(&self, kind: VelocityKey, value: &str, window: Duration, now: Instant) -> u32 {
        let Some(events) = self.events.get(&(kind, value.to_string())) else {
            return 0;
        };
        let Some(cutoff) = now.checked_sub(window) else {
            return u32::try_from(events.len()).unwrap_or(u32::MAX);
        };
        // Timestamps are pushed in clock order, so the ones inside the
        // window are a suffix: a binary search finds it in O(log n) where a
        // walk would cost up to MAX_EVENTS_PER_KEY steps for a busy key.
        let n = events.len() - events.partition_point(|t| *t <= cutoff);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Records one payment under every key kind the payment has.
    pub fn record(&self, facts: &PaymentFacts) {
        self.record_at(facts, Instant::now());
    }

    pub fn record_at(&self, facts: &PaymentFacts, now: Instant) {
        for kind in VelocityKey::ALL {
            let Some(value) = kind.value_of(facts) else {
                continue;
            };
            let mut events = self.events.entry((kind, value)).or_default();
            self.prune_one(&mut events, now);
            // Two records racing for the entry may arrive a hair out of
            // clock order; keeping the deque sorted is what lets
            // `count_at` binary-search it.
            let at = events.back().map_or(now, |last| (*last).max(now));
            events.push_back(at);
            if events.len() > MAX_EVENTS_PER_KEY {
                events.pop_front();
            }
        }
        if self.records.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.prune(now);
        }
    }

    fn prune_one(&self, events: &mut VecDeque<Instant>, now: Instant) {
        let Some(cutoff) = now.checked_sub(self.retention) else {
            return;
        };
        while events.front().is_some_and(|t| *t <= cutoff) {
            events.pop_front();
        }
    }

    /// Drops events older than the retention and keys left empty.
    pub fn prune(&self, now: Instant) {
        self.events.retain(|_, events| {
            self.prune_one(events, now);
            !events.is_empty()
        });
    }

    /// Number of keys currently tracked (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PaymentFacts {
        PaymentFacts {
            card_fingerprint: Some("fp_1".into()),
            customer_email: Some(" A@Example.com".into()),
            customer_ip: Some("203.0.113.7".into()),
            ..PaymentFacts::default()
        }
    }

    #[test]
    fn counts_only_events_inside_the_window() {
        let v = Velocity::default();
        let t0 = Instant::now();
        v.record_at(&facts(), t0);
        v.record_at(&facts(), t0 + Duration::from_secs(60));
        v.record_at(&facts(), t0 + Duration::from_secs(120));
        let now = t0 + Duration::from_secs(150);
        let w = Duration::from_secs(100);
        assert_eq!(v.count_at(VelocityKey::Card, "fp_1", w, now), 2);
        assert_eq!(
            v.count_at(VelocityKey::Card, "fp_1", Duration::from_secs(3600), now),
            3
        );
        assert_eq!(v.count_at(VelocityKey::Card, "fp_other", w, now), 0);
    }

    #[test]
    fn records_every_present_key_and_skips_absent_ones() {
        let v = Velocity::default();
        let now = Instant::now();
        v.record_at(&facts(), now);
        let w = Duration::from_secs(10);
        assert_eq!(v.count_at(VelocityKey::Email, "a@example.com", w, now), 1);
        assert_eq!(v.count_at(VelocityKey::Ip, "203.0.113.7", w, now), 1);
        assert_eq!(v.tracked_keys(), 3, "customer id absent, so not tracked");
    }

    #[test]
    fn prune_forgets_events_older_than_retention() {
        let v = Velocity::new(Duration::from_secs(60));
        let t0 = Instant::now();
        v.record_at(&facts(), t0);
        v.prune(t0 + Duration::from_secs(61));
        assert_eq!(v.tracked_keys(), 0);
    }

    #[test]
    fn per_key_history_is_bounded() {
        let v = Velocity::default();
        let now = Instant::now();
        let f = PaymentFacts {
            customer_ip: Some("198.51.100.1".into()),
            ..PaymentFacts::default()
        };
        for _ in 0..MAX_EVENTS_PER_KEY + 5 {
            v.record_at(&f, now);
        }
        let n = v.count_at(VelocityKey::Ip, "198.51.100.1", Duration::from_secs(1), now);
        assert_eq!(n as usize, MAX_EVENTS_PER_KEY);
    }
}
