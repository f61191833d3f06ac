//! The domain at the centre: money and currencies, record ids and the
//! time they carry, and the payment, attempt and refund records with their
//! states. A leaf: it imports nothing else of payroute, so every other
//! module (the store, routing, the engine, the API) can depend on it
//! without depending on each other.

pub mod clock;
pub mod facts;
pub mod ids;
pub mod model;
pub mod money;
pub mod when;
