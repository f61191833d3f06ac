//! Payments: the state machine and the orchestrator that routes, calls
//! gateways, fails over and records, on the records of [`crate::domain`].

pub mod engine;
pub mod facts;
pub mod inbound;
pub mod keys;
pub mod operations;
pub mod reads;
pub mod records;
pub mod transitions;
pub mod unit;

pub use engine::{Engine, EngineError, Live, NewPayment};
pub use facts::payment_facts;
pub use unit::{Pending, Ticket};
