//! Per-gateway circuit breakers, Envoy-style outlier detection (design §5,
//! reference B9): a gateway is ejected after `consecutive_failures` failures
//! in a row, or when more than `failure_ratio` of its calls in the last
//! `window` failed with at least `min_requests` calls. The n-th ejection
//! lasts `base_ejection × n`, capped at `max_ejection`; then the circuit is
//! half-open and admits `half_open_probes` concurrent probes. A successful
//! probe closes it, a failed one reopens it for the next, longer, ejection.
//! Each full `decay_after` of closed time forgives one past ejection.
//!
//! Only availability counts. Callers report [`Signal::Success`] for any
//! definitive answer from the gateway, declines included (a decline proves
//! the gateway works), and [`Signal::Failure`] for unavailable, ambiguous and
//! 5xx. A payment attempt that was refused by an open circuit made no call
//! and must not be reported; if it is, it is ignored while the circuit is
//! open.
//!
//! How callers use it:
//! - call [`Breakers::admit`] right before calling the gateway (after the
//!   retry budget, if any, said yes): `Probe` takes a half-open slot, which is
//!   freed by the next `record` or, if none comes, after `probe_timeout`;
//! - call [`Breakers::record`] with the result. It returns the state after
//!   the record, so the caller sets `payroute_gateway_circuit_open` to
//!   [`CircuitState::gauge_value`] (the breaker knows nothing of metrics);
//! - "never eject the last healthy gateway" is a routing decision, not the
//!   breaker's: [`Breakers::is_open`] tells routing which candidates are
//!   ejected, and the engine keeps trying the last candidate when all are.
//!
//! The API is synchronous; per-gateway state lives in a `DashMap` whose shard
//! lock is held only for the few instructions of one call.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::Serialize;

mod circuit;
mod config;

pub use config::{BreakerConfig, BreakerError};

use crate::domain::outcome::Outcome;
use circuit::Circuit;

/// What a gateway's reply says about its availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A definitive answer, whatever it was (approved, declined, rejected).
    Success,
    /// Unavailable or ambiguous: the gateway did not answer definitively.
    Failure,
}

impl Signal {
    /// Declines and request rejections (400/401/403) are successes here:
    /// the gateway answered, so routing away from it would not help.
    pub fn from_outcome(outcome: &Outcome) -> Signal {
        match outcome {
            Outcome::Unavailable { .. } | Outcome::Ambiguous { .. } => Signal::Failure,
            Outcome::Succeeded { .. }
            | Outcome::Pending { .. }
            | Outcome::RequiresAction { .. }
            | Outcome::Declined(_)
            | Outcome::Rejected { .. } => Signal::Success,
        }
    }
}

/// The answer to "may I call this gateway now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as a half-open probe; its result decides the circuit.
    Probe,
    Rejected {
        retry_in: Duration,
    },
}

impl Admission {
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Admission::Rejected { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// The value for `payroute_gateway_circuit_open`: 1 unless closed, since
    /// a half-open gateway takes only probe traffic.
    pub fn gauge_value(&self) -> i64 {
        i64::from(*self != CircuitState::Closed)
    }
}

/// One gateway's breaker, for the ops listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayHealth {
    pub gateway: String,
    pub state: CircuitState,
    pub consecutive_failures: u32,
    /// failed / total over the window; `None` without calls in it.
    pub recent_failure_ratio: Option<f64>,
    pub recent_requests: u64,
    pub ejections: u32,
    /// Seconds until the ejection ends, if open.
    pub open_until: Option<f64>,
}

/// The breakers of all gateways; share it behind an `Arc`.
#[derive(Debug)]
pub struct Breakers {
    cfg: BreakerConfig,
    circuits: DashMap<String, Circuit>,
}

impl Breakers {
    pub fn new(cfg: BreakerConfig) -> Breakers {
        Breakers {
            cfg,
            circuits: DashMap::new(),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    pub fn admit(&self, gateway: &str) -> Admission {
        self.admit_at(gateway, Instant::now())
    }

    pub fn admit_at(&self, gateway: &str, now: Instant) -> Admission {
        // A gateway never reported on is closed: no entry is created, so
        // admission alone cannot grow the map.
        match self.circuits.get_mut(gateway) {
            Some(mut c) => c.admit(&self.cfg, now),
            None => Admission::Allowed,
        }
    }

    /// Records one call's result; returns the state after it.
    pub fn record(&self, gateway: &str, signal: Signal) -> CircuitState {
        self.record_at(gateway, signal, Instant::now())
    }

    pub fn record_at(&self, gateway: &str, signal: Signal, now: Instant) -> CircuitState {
        // Look up before inserting so the common path allocates no String.
        if let Some(mut c) = self.circuits.get_mut(gateway) {
            return c.record(&self.cfg, signal, now);
        }
        self.circuits
            .entry(gateway.to_string())
            .or_insert_with(|| Circuit::new(now))
            .record(&self.cfg, signal, now)
    }

    pub fn state(&self, gateway: &str) -> CircuitState {
        self.state_at(gateway, Instant::now())
    }

    /// Half-open once the ejection time is over, even before the next admit.
    pub fn state_at(&self, gateway: &str, now: Instant) -> CircuitState {
        self.circuits
            .get(gateway)
            .map_or(CircuitState::Closed, |c| c.state(now))
    }

    /// True while the gateway is ejected (not once it is half-open).
    pub fn is_open(&self, gateway: &str) -> bool {
        self.is_open_at(gateway, Instant::now())
    }

    pub fn is_open_at(&self, gateway: &str, now: Instant) -> bool {
        self.state_at(gateway, now) == CircuitState::Open
    }

    /// Every gateway reported on so far, sorted by id.
    pub fn snapshot(&self) -> Vec<GatewayHealth> {
        self.snapshot_at(Instant::now())
    }

    pub fn snapshot_at(&self, now: Instant) -> Vec<GatewayHealth> {
        let mut out: Vec<GatewayHealth> = self
            .circuits
            .iter()
            .map(|e| {
                let c = e.value();
                let (ratio, total) = c.failure_ratio(&self.cfg, now);
                GatewayHealth {
                    gateway: e.key().clone(),
                    state: c.state(now),
                    consecutive_failures: c.consecutive_failures(),
                    recent_failure_ratio: ratio,
                    recent_requests: total,
                    ejections: c.ejections(&self.cfg, now),
                    open_until: c.open_for(now).map(|d| d.as_secs_f64()),
                }
            })
            .collect();
        out.sort_by(|a, b| a.gateway.cmp(&b.gateway));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const S: Duration = Duration::from_secs(1);

    fn cfg() -> BreakerConfig {
        BreakerConfig::default()
    }

    fn fail_n(b: &Breakers, gw: &str, n: u32, at: Instant) -> CircuitState {
        let mut state = CircuitState::Closed;
        for _ in 0..n {
            state = b.record_at(gw, Signal::Failure, at);
        }
        state
    }

    /// Ejects `gw` at `t0`, then reopens it via failed probes until it has
    /// `n` ejections; returns the time of the last ejection.
    fn eject_times(b: &Breakers, gw: &str, n: u32, t0: Instant) -> Instant {
        fail_n(b, gw, 5, t0);
        let mut t = t0;
        for _ in 1..n {
            t += b.config().max_ejection;
            assert_eq!(b.admit_at(gw, t), Admission::Probe);
            b.record_at(gw, Signal::Failure, t);
        }
        t
    }

    #[test]
    fn opens_after_consecutive_failures_and_not_before() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        assert_eq!(fail_n(&b, "a", 4, t), CircuitState::Closed);
        assert_eq!(b.admit_at("a", t), Admission::Allowed);
        assert_eq!(b.record_at("a", Signal::Failure, t), CircuitState::Open);
        assert!(b.is_open_at("a", t));
    }

    #[test]
    fn a_success_resets_the_consecutive_count() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 4, t);
        b.record_at("a", Signal::Success, t);
        assert_eq!(fail_n(&b, "a", 4, t), CircuitState::Closed);
    }

    #[test]
    fn declines_reported_as_success_never_open_it() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        let decline = Outcome::Declined(crate::domain::outcome::Decline {
            provider_reference: None,
            code: "insufficient_funds".into(),
            decline_code: Some("51".into()),
            message: "Insufficient funds".into(),
            soft: false,
        });
        assert_eq!(Signal::from_outcome(&decline), Signal::Success);
        for i in 0..1000 {
            b.record_at("a", Signal::from_outcome(&decline), t + S * i / 100);
        }
        assert_eq!(b.state_at("a", t + S * 10), CircuitState::Closed);
        let unavailable = Outcome::Unavailable {
            reason: "503".into(),
        };
        assert_eq!(Signal::from_outcome(&unavailable), Signal::Failure);
    }

    #[test]
    fn failure_ratio_opens_only_with_enough_volume() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        // 19 calls at 2 failures : 1 success, never 5 in a row.
        for i in 0..19 {
            let s = if i % 3 == 2 {
                Signal::Success
            } else {
                Signal::Failure
            };
            assert_eq!(b.record_at("a", s, t), CircuitState::Closed, "call {i}");
        }
        // The 20th reaches min_requests with 13/20 failed > 0.5.
        assert_eq!(b.record_at("a", Signal::Failure, t), CircuitState::Open);
    }

    #[test]
    fn failure_ratio_at_the_threshold_does_not_open() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        for _ in 0..10 {
            b.record_at("a", Signal::Failure, t);
            b.record_at("a", Signal::Success, t);
        }
        assert_eq!(b.state_at("a", t), CircuitState::Closed);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        // 10 of 20 failed: at the threshold, ending on a success.
        for _ in 0..10 {
            b.record_at("a", Signal::Failure, t);
            b.record_at("a", Signal::Success, t);
        }
        // Counted with the old calls, 14 of 24 would trip the ratio.
        let later = t + S * 10;
        for _ in 0..4 {
            assert_eq!(
                b.record_at("a", Signal::Failure, later),
                CircuitState::Closed
            );
        }
        assert_eq!(b.snapshot_at(later)[0].recent_requests, 4);
    }

    #[test]
    fn rejected_while_open_with_the_remaining_ejection_time() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        assert_eq!(
            b.admit_at("a", t + S * 10),
            Admission::Rejected { retry_in: S * 20 }
        );
        let snap = b.snapshot_at(t + S * 10);
        assert_eq!(snap[0].state, CircuitState::Open);
        assert_eq!(snap[0].open_until, Some(20.0));
        assert_eq!(snap[0].ejections, 1);
    }

    #[test]
    fn half_open_admits_only_the_probe_count() {
        let b = Breakers::new(BreakerConfig {
            half_open_probes: 2,
            ..cfg()
        });
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        let after = t + S * 30;
        assert_eq!(b.state_at("a", after), CircuitState::HalfOpen);
        assert!(!b.is_open_at("a", after));
        assert_eq!(b.admit_at("a", after), Admission::Probe);
        assert_eq!(b.admit_at("a", after), Admission::Probe);
        assert_eq!(
            b.admit_at("a", after + S),
            Admission::Rejected { retry_in: S * 29 }
        );
    }

    #[test]
    fn an_unreported_probe_frees_its_slot_after_the_probe_timeout() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        let after = t + S * 30;
        assert_eq!(b.admit_at("a", after), Admission::Probe);
        assert!(!b.admit_at("a", after + S * 29).is_allowed());
        assert_eq!(b.admit_at("a", after + S * 30), Admission::Probe);
    }

    #[test]
    fn a_successful_probe_closes_it() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        let after = t + S * 30;
        assert_eq!(b.admit_at("a", after), Admission::Probe);
        assert_eq!(
            b.record_at("a", Signal::Success, after),
            CircuitState::Closed
        );
        assert_eq!(b.admit_at("a", after), Admission::Allowed);
        let snap = b.snapshot_at(after);
        assert_eq!(snap[0].consecutive_failures, 0);
        assert_eq!(snap[0].recent_requests, 0);
    }

    #[test]
    fn a_failed_probe_reopens_it_for_twice_as_long() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        let after = t + S * 30;
        assert_eq!(b.admit_at("a", after), Admission::Probe);
        assert_eq!(b.record_at("a", Signal::Failure, after), CircuitState::Open);
        assert_eq!(
            b.admit_at("a", after),
            Admission::Rejected { retry_in: S * 60 }
        );
        assert_eq!(b.admit_at("a", after + S * 60), Admission::Probe);
    }

    #[test]
    fn ejection_time_is_capped_at_max_ejection() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        // The 12th ejection would be 360 s uncapped.
        let last = eject_times(&b, "a", 12, t);
        assert_eq!(
            b.admit_at("a", last),
            Admission::Rejected { retry_in: S * 300 }
        );
        assert_eq!(b.snapshot_at(last)[0].ejections, 12);
    }

    #[test]
    fn a_long_healthy_period_forgives_past_ejections() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        let last = eject_times(&b, "a", 3, t);
        let closed_at = last + S * 90;
        assert_eq!(b.admit_at("a", closed_at), Admission::Probe);
        b.record_at("a", Signal::Success, closed_at);
        assert_eq!(b.snapshot_at(closed_at + S * 299)[0].ejections, 3);
        assert_eq!(b.snapshot_at(closed_at + S * 300)[0].ejections, 2);
        // Two more periods: back to 0, so the next ejection is the base 30 s.
        let much_later = closed_at + S * 900;
        fail_n(&b, "a", 5, much_later);
        assert_eq!(
            b.admit_at("a", much_later),
            Admission::Rejected { retry_in: S * 30 }
        );
    }

    #[test]
    fn results_reported_while_open_are_ignored() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        b.record_at("a", Signal::Success, t + S);
        fail_n(&b, "a", 10, t + S);
        assert_eq!(
            b.admit_at("a", t + S * 2),
            Admission::Rejected { retry_in: S * 28 }
        );
    }

    #[test]
    fn gateways_are_independent() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        b.record_at("b", Signal::Success, t);
        assert!(b.is_open_at("a", t));
        assert_eq!(b.admit_at("b", t), Admission::Allowed);
        assert_eq!(b.admit_at("never-seen", t), Admission::Allowed);
        let snap = b.snapshot_at(t);
        let names: Vec<_> = snap.iter().map(|h| h.gateway.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(snap[1].state, CircuitState::Closed);
        assert_eq!(snap[1].recent_failure_ratio, Some(0.0));
    }

    #[test]
    fn breakers_and_budget_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Breakers>();
        shared::<crate::health::RetryBudget>();
    }

    #[test]
    fn gauge_value_is_one_unless_closed() {
        assert_eq!(CircuitState::Closed.gauge_value(), 0);
        assert_eq!(CircuitState::Open.gauge_value(), 1);
        assert_eq!(CircuitState::HalfOpen.gauge_value(), 1);
    }

    #[test]
    fn snapshot_serializes_state_names() {
        let b = Breakers::new(cfg());
        let t = Instant::now();
        fail_n(&b, "a", 5, t);
        let json = serde_json::to_value(b.snapshot_at(t)).unwrap_or_default();
        assert_eq!(json[0]["state"], "open");
        assert_eq!(json[0]["gateway"], "a");
        assert_eq!(json[0]["recent_failure_ratio"], serde_json::Value::Null);
        let half = serde_json::to_value(CircuitState::HalfOpen).unwrap_or_default();
        assert_eq!(half, "half_open");
    }

    #[test]
    fn concurrent_records_and_admits_stay_consistent() {
        let b = Arc::new(Breakers::new(BreakerConfig {
            base_ejection: Duration::from_millis(1),
            max_ejection: Duration::from_millis(5),
            ..cfg()
        }));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    for n in 0..5_000u32 {
                        let gw = ["a", "b", "c"][(n % 3) as usize];
                        if b.admit(gw).is_allowed() {
                            let s = if (n + i) % 4 == 0 {
                                Signal::Success
                            } else {
                                Signal::Failure
                            };
                            b.record(gw, s);
                        }
                        let _ = b.snapshot();
                    }
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok(), "a worker panicked");
        }
        let snap = b.snapshot();
        assert_eq!(snap.len(), 3);
        assert!(snap.iter().all(|h| h.ejections >= 1));
    }
}
