//! Rolling approval-rate windows per gateway, as routing sees them (for
//! `strategy: approval_rate` and `payroute_gateway_approval_ratio`).

use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Rolling approval counts per gateway, in fixed time buckets.
#[derive(Debug)]
pub struct ApprovalWindows {
    window: Duration,
    buckets: usize,
    per_gateway: DashMap<String, Window>,
}

#[derive(Debug)]
struct Window {
    /// (bucket start, approved, declined), oldest first.
    slots: Vec<(Instant, u32, u32)>,
}

impl ApprovalWindows {
    /// A window of `window` split into `buckets` slots.
    pub fn new(window: Duration, buckets: usize) -> ApprovalWindows {
        ApprovalWindows {
            window,
            buckets: buckets.max(1),
            per_gateway: DashMap::new(),
        }
    }

    /// Counts one definitive answer: approved or declined. Unavailable and
    /// ambiguous outcomes say nothing about approval and are not counted.
    pub fn record(&self, gateway: &str, approved: bool) {
        let now = Instant::now();
        let slot_len = self.window / self.buckets as u32;
        let mut w = self
            .per_gateway
            .entry(gateway.to_string())
            .or_insert_with(|| Window { slots: Vec::new() });
        w.slots
            .retain(|(t, _, _)| now.duration_since(*t) < self.window);
        let fresh = w
            .slots
            .last()
            .is_some_and(|(t, _, _)| now.duration_since(*t) < slot_len);
        if !fresh {
            w.slots.push((now, 0, 0));
        }
        if let Some(last) = w.slots.last_mut() {
            if approved {
                last.1 += 1;
            } else {
                last.2 += 1;
            }
        }
    }

    /// approved / (approved + declined) over the window; `None` without data.
    pub fn ratio(&self, gateway: &str) -> Option<f64> {
        let now = Instant::now();
        let w = self.per_gateway.get(gateway)?;
        let (a, d) = w
            .slots
            .iter()
            .filter(|(t, _, _)| now.duration_since(*t) < self.window)
            .fold((0u64, 0u64), |(a, d), (_, sa, sd)| {
                (a + *sa as u64, d + *sd as u64)
            });
        (a + d > 0).then(|| a as f64 / (a + d) as f64)
    }

    /// Orders candidates by approval ratio, best first; gateways without data
    /// count as 0.5 so a new gateway gets explored. With probability
    /// `explore` the order is left as configured, so every gateway keeps
    /// receiving some traffic and its ratio stays current.
    pub fn order(&self, candidates: &mut [String], explore_roll: f64, explore: f64) {
        if explore_roll < explore {
            return;
        }
        let score = |g: &String| self.ratio(g).unwrap_or(0.5);
        candidates.sort_by(|a, b| score(b).total_cmp(&score(a)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_counts_approvals_over_definitive_answers() {
        let w = ApprovalWindows::new(Duration::from_secs(60), 6);
        assert_eq!(w.ratio("a"), None);
        for _ in 0..3 {
            w.record("a", true);
        }
        w.record("a", false);
        assert_eq!(w.ratio("a"), Some(0.75));
    }

    #[test]
    fn approval_rate_orders_best_first_unless_exploring() {
        let w = ApprovalWindows::new(Duration::from_secs(60), 6);
        w.record("good", true);
        w.record("bad", false);
        let mut c = vec!["bad".to_string(), "good".to_string()];
        w.order(&mut c, 0.99, 0.1);
        assert_eq!(c, ["good", "bad"]);
        let mut c = vec!["bad".to_string(), "good".to_string()];
        w.order(&mut c, 0.01, 0.1);
        assert_eq!(c, ["bad", "good"]);
    }
}
