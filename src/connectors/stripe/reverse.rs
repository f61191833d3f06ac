//! Stripe "timeout reversal": release whatever Stripe holds under payroute's
//! payment id when payroute never learned the PaymentIntent's id.
//!
//! Stripe has no cancel-by-merchant-reference call, so this searches (see
//! `lookup`) and then acts on every PaymentIntent found:
//! - `succeeded` (captured): full refund, `POST /v1/refunds` →
//!   `Succeeded { effect: Refunded }` or `Pending` (refund not yet final);
//! - `canceled`: already released → `Succeeded { effect: Voided }`, no call;
//! - any other status (requires_capture, requires_action, ...):
//!   `POST /v1/payment_intents/{id}/cancel` → `Succeeded { effect: Voided }`.
//!
//! Search finding nothing is reported as
//! `Succeeded { provider_reference: "", effect: Voided }`: nothing to
//! release *as far as the index shows*, which lags writes (see
//! [`super::SEARCH_LAG`]). A failed search moved no money: `Unavailable`.
//!
//! Each call's idempotency key is `<key>-<pi id>-cancel` / `-refund`, so
//! retries of one reversal replay, and two intents never share a key.

use super::classify::{PiOp, classify_payment_intent, classify_refund};
use super::form::{FormValue, encode};
use super::lookup::IntentState;
use super::{StripeConnector, pi_path};
use crate::domain::outcome::{Effect, Lookup, Outcome};

/// `POST /v1/payment_intents/{id}/cancel` for a reversal: payroute gave the
/// attempt up, which is what Stripe's `abandoned` reason says.
pub fn reversal_cancel_body() -> String {
    encode(&[("cancellation_reason", FormValue::str("abandoned"))])
}

/// `POST /v1/refunds` for a reversal: no `amount`, so the whole remaining
/// charge is refunded; the metadata says why.
pub fn reversal_refund_body(intent_id: &str, payment_id: &str) -> String {
    encode(&[
        ("payment_intent", FormValue::str(intent_id)),
        (
            "metadata",
            FormValue::map([
                ("payroute_payment_id", FormValue::str(payment_id)),
                ("payroute_reason", FormValue::str("timeout_reversal")),
            ]),
        ),
    ])
}

impl StripeConnector {
    /// See the module comment.
    pub async fn reverse_by_reference(&self, payment_id: &str, idempotency_key: &str) -> Outcome {
        let page = match self.search_intents(payment_id).await {
            Ok(page) => page,
            Err(lookup) => return search_failed(lookup),
        };
        if page.has_more {
            tracing::warn!(
                gateway = %self.settings.id,
                payment_id,
                "more PaymentIntents than one search page; reversing the first page"
            );
        }
        let mut outcomes = Vec::with_capacity(page.intents.len());
        for pi in &page.intents {
            let outcome = self.reverse_intent(pi, payment_id, idempotency_key).await;
            tracing::info!(
                gateway = %self.settings.id,
                payment_id,
                intent = %pi.id,
                status = %pi.status,
                outcome = outcome.label(),
                "timeout reversal"
            );
            outcomes.push(outcome);
        }
        Outcome::most_telling(outcomes)
    }

    /// Reverses the PaymentIntent a Stripe event named, read by id (no
    /// search, so no index lag): cancel or refund as for a search hit.
    pub async fn reverse_intent_id(&self, id: &str, payment_id: &str, key: &str) -> Outcome {
        let path = match super::pi_base(id) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let reply = match self.get(&path).await {
            Ok(r) if r.status.is_success() => r,
            Ok(r) => {
                return Outcome::Unavailable {
                    reason: format!("reading {id} for a reversal: HTTP {}", r.status),
                };
            }
            Err(reason) => return Outcome::Unavailable { reason },
        };
        match serde_json::from_slice::<IntentState>(&reply.body) {
            Ok(pi) => self.reverse_intent(&pi, payment_id, key).await,
            Err(e) => Outcome::Unavailable {
                reason: format!("reading {id} for a reversal: {e}"),
            },
        }
    }

    async fn reverse_intent(&self, pi: &IntentState, payment_id: &str, key: &str) -> Outcome {
        match pi.status.as_str() {
            "canceled" => Outcome::Succeeded {
                provider_reference: pi.id.clone(),
                effect: Effect::Voided,
            },
            "succeeded" => {
                let body = reversal_refund_body(&pi.id, payment_id);
                let key = format!("{key}-{}-refund", pi.id);
                match self.post("/v1/refunds", body, &key).await {
                    Ok(r) => classify_refund(r.status, &r.headers, &r.body),
                    Err(outcome) => outcome,
                }
            }
            _ => {
                let path = match pi_path(&pi.id, "cancel") {
                    Ok(p) => p,
                    Err(e) => return e.into(),
                };
                let key = format!("{key}-{}-cancel", pi.id);
                match self.post(&path, reversal_cancel_body(), &key).await {
                    Ok(r) => classify_payment_intent(PiOp::Cancel, r.status, &r.headers, &r.body),
                    Err(outcome) => outcome,
                }
            }
        }
    }
}

fn search_failed(lookup: Lookup) -> Outcome {
    let reason = match lookup {
        Lookup::Unknown { reason } => reason,
        other => format!("unexpected search result {}", other.label()),
    };
    Outcome::Unavailable {
        reason: format!("could not search for the payment, nothing reversed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outcome::Decline;

    fn decoded(body: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    fn voided(r: &str) -> Outcome {
        Outcome::Succeeded {
            provider_reference: r.into(),
            effect: Effect::Voided,
        }
    }

    #[test]
    fn refund_body_refunds_everything_and_says_why() {
        let pairs = decoded(&reversal_refund_body("pi_1", "pay_1"));
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "payment_intent",
                "metadata[payroute_payment_id]",
                "metadata[payroute_reason]"
            ]
        );
        assert_eq!(pairs[0].1, "pi_1");
        assert_eq!(pairs[1].1, "pay_1");
        assert_eq!(pairs[2].1, "timeout_reversal");
    }

    #[test]
    fn cancel_body_gives_abandoned_reason() {
        assert_eq!(reversal_cancel_body(), "cancellation_reason=abandoned");
    }

    #[test]
    fn nothing_found_is_an_empty_reference_void() {
        assert_eq!(Outcome::most_telling(vec![]), voided(""));
    }

    #[test]
    fn unfinished_reversal_outranks_done_ones() {
        let ambiguous = Outcome::Ambiguous {
            reason: "timeout".into(),
        };
        let refunded = Outcome::Succeeded {
            provider_reference: "re_1".into(),
            effect: Effect::Refunded,
        };
        assert_eq!(
            Outcome::most_telling(vec![voided("pi_1"), ambiguous.clone(), refunded.clone()]),
            ambiguous
        );
        assert_eq!(
            Outcome::most_telling(vec![voided("pi_1"), refunded.clone(), voided("pi_2")]),
            refunded
        );
        assert_eq!(
            Outcome::most_telling(vec![voided("pi_1"), voided("pi_2")]),
            voided("pi_1")
        );
        let declined = Outcome::Declined(Decline {
            provider_reference: Some("pi_3".into()),
            code: "invalid_request".into(),
            decline_code: None,
            message: "x".into(),
            soft: false,
        });
        let pending = Outcome::Pending {
            provider_reference: "re_2".into(),
        };
        assert_eq!(
            Outcome::most_telling(vec![pending.clone(), declined.clone()]),
            declined
        );
        assert_eq!(
            Outcome::most_telling(vec![refunded, pending.clone()]),
            pending
        );
    }

    #[test]
    fn failed_search_is_unavailable_not_a_release() {
        let out = search_failed(Lookup::Unknown {
            reason: "HTTP 503".into(),
        });
        let Outcome::Unavailable { reason } = out else {
            panic!("{out:?}")
        };
        assert!(reason.contains("HTTP 503"), "{reason}");
    }
}
