//! The domain at the centre: money and currencies, record ids and the
//! time they carry, the payment, attempt and refund records with their
//! states, and the vocabulary of a gateway call (the method sent, the
//! outcome classified, secrets kept out of logs). A leaf: it imports
//! nothing else of payroute, so every other module (the store, routing, the
//! engine, the connectors, the API) can depend on it without depending on
//! each other.

pub mod clock;
pub mod facts;
pub mod ids;
pub mod method;
pub mod model;
pub mod money;
pub mod outcome;
pub mod sensitive;
pub mod store;
pub mod vault;
pub mod when;
