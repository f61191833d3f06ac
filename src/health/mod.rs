//! Per-gateway health (design §5): approval-rate windows for routing
//! ([`approval`]), circuit breakers / outlier detection that eject a failing
//! gateway for a cool-off ([`breaker`]), and the retry budget that stops
//! retries and failovers from multiplying load during an outage ([`budget`]).
//! Everything here is synchronous and never held across an `.await`.

pub mod approval;
pub mod breaker;
pub mod budget;

pub use approval::ApprovalWindows;
pub use breaker::{
    Admission, BreakerConfig, BreakerError, Breakers, CircuitState, GatewayHealth, Signal,
};
pub use budget::{BudgetError, BudgetStats, RetryBudget};
