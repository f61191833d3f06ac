//! The webhook workers (design §6): gateway events, verified and stored
//! before the ack by the engine (`payments::inbound`), are applied from the
//! store through the payment state machine (`apply`), and
//! merchant events leave from a durable queue with retries (`outbound`).

pub mod apply;
pub mod outbound;
