//! Closing disputes from tests: `Sandbox::close_dispute` and the admin route
//! `POST /__sandbox/disputes/{payment id}/close` dispatch by id shape
//! (`pi_...` is Stripe, anything else an Adyen pspReference) to the dialect
//! that opened the dispute.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::Sandbox;
use super::{adyen, stripe};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DisputeOutcome {
    Won,
    Lost,
}

impl DisputeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeOutcome::Won => "won",
            DisputeOutcome::Lost => "lost",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DisputeError {
    #[error("no dispute on payment {0}")]
    NotFound(String),
    #[error("the dispute on payment {0} is already closed")]
    AlreadyClosed(String),
}

/// The body of the admin close route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseRequest {
    pub outcome: DisputeOutcome,
}

impl Sandbox {
    /// Closes the open dispute on a payment (`pi_...` or an Adyen
    /// pspReference) and queues the closing webhook; returns the dispute.
    pub fn close_dispute(
        &self,
        payment_id: &str,
        outcome: DisputeOutcome,
    ) -> Result<Value, DisputeError> {
        if payment_id.starts_with("pi_") {
            stripe::close_dispute(self, payment_id, outcome)
        } else {
            adyen::close_dispute(self, payment_id, outcome)
        }
    }
}
