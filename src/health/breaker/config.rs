//! Circuit breaker settings and their validation; the defaults are Envoy's
//! outlier-detection numbers (reference B9).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BreakerError {
    #[error("circuit breaker setting `{0}` must be greater than zero")]
    NotPositive(&'static str),
    #[error("circuit breaker failure_ratio must be in (0, 1], got {0}")]
    FailureRatio(f64),
    #[error("circuit breaker max_ejection ({max:?}) is shorter than base_ejection ({base:?})")]
    MaxBelowBase { base: Duration, max: Duration },
}

/// Thresholds and timings; `Default` is Envoy's numbers (reference B9).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Failures in a row that eject.
    pub consecutive_failures: u32,
    /// Ejects when failed / total over `window` exceeds this...
    pub failure_ratio: f64,
    /// ...and total is at least this.
    pub min_requests: u32,
    pub window: Duration,
    /// First ejection; the n-th lasts n times as long.
    pub base_ejection: Duration,
    pub max_ejection: Duration,
    /// Concurrent probes admitted while half-open.
    pub half_open_probes: u32,
    /// A probe not reported within this frees its slot.
    pub probe_timeout: Duration,
    /// Each full period of closed time forgives one past ejection.
    pub decay_after: Duration,
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 5,
            failure_ratio: 0.5,
            min_requests: 20,
            window: Duration::from_secs(10),
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            half_open_probes: 1,
            probe_timeout: Duration::from_secs(30),
            decay_after: Duration::from_secs(300),
        }
    }
}

impl BreakerConfig {
    /// Rejects settings that would make the breaker meaningless. [`Breakers`]
    /// works (without panicking) on any values; config loading should call
    /// this to catch operator mistakes.
    pub fn validate(&self) -> Result<(), BreakerError> {
        let counts = [
            ("consecutive_failures", self.consecutive_failures),
            ("min_requests", self.min_requests),
            ("half_open_probes", self.half_open_probes),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(BreakerError::NotPositive(name));
        }
        let durations = [
            ("window", self.window),
            ("base_ejection", self.base_ejection),
            ("probe_timeout", self.probe_timeout),
            ("decay_after", self.decay_after),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, v)| v.is_zero()) {
            return Err(BreakerError::NotPositive(name));
        }
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err(BreakerError::FailureRatio(self.failure_ratio));
        }
        if self.max_ejection < self.base_ejection {
            return Err(BreakerError::MaxBelowBase {
                base: self.base_ejection,
                max: self.max_ejection,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn cfg() -> BreakerConfig {
        BreakerConfig::default()
    }

    #[test]
    fn validate_rejects_meaningless_settings() {
        assert_eq!(cfg().validate(), Ok(()));
        let zero = BreakerConfig {
            half_open_probes: 0,
            ..cfg()
        };
        assert_eq!(
            zero.validate(),
            Err(BreakerError::NotPositive("half_open_probes"))
        );
        let ratio = BreakerConfig {
            failure_ratio: f64::NAN,
            ..cfg()
        };
        assert!(matches!(
            ratio.validate(),
            Err(BreakerError::FailureRatio(_))
        ));
        let max = BreakerConfig {
            max_ejection: S,
            ..cfg()
        };
        assert!(matches!(
            max.validate(),
            Err(BreakerError::MaxBelowBase { .. })
        ));
    }
}
