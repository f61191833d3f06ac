//! The payment domain: money, records, the state machine, and the
//! orchestrator that routes, calls gateways, fails over and records.

pub mod engine;
pub mod ids;
pub mod model;
pub mod money;
pub mod operations;
pub mod records;
pub mod transitions;
pub mod unit;

pub use engine::{Engine, EngineError, Live, NewPayment};
pub use unit::{Pending, Ticket};
