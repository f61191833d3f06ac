//! Webhooks in and out (design §6): gateway events are verified (by the
//! gateway's own connector module) and stored before the ack (`inbound`),
//! applied from the store through the payment state machine (`apply`), and
//! merchant events leave from a durable queue with retries (`outbound`).

pub mod apply;
pub mod inbound;
pub mod outbound;
