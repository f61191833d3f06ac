//! Units of work: how an operation's writes become as few commits as crash
//! safety allows. Everything that must be durable before a gateway call
//! (the Idempotency-Key's claim, the new payment or refund, the `started`
//! attempt) goes in one commit; everything learnt from the call (the
//! attempt's outcome, the payment's new state, the stored response) in the
//! next. A failover adds one commit per further gateway, which finishes the
//! previous attempt and starts the next one together.
//!
//! The last unit is handed to the caller as a [`Pending`] so that the
//! answer it will give can be stored with the state it answers about: a
//! crash can then never leave a recorded outcome without its replayable
//! response, or a response without the outcome.

use std::sync::Arc;

use super::engine::EngineError;
use super::operations::BusyGuard;
use crate::domain::store::{Commit, IdemClaim, IdemKey, IdemResponse, Store};

/// The identity of a request under an Idempotency-Key, claimed with the
/// operation's first write rather than in a commit of its own.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub merchant_id: String,
    pub key: String,
    /// SHA-256 hex of the route, path and canonical body.
    pub fingerprint: String,
    pub ttl_secs: i64,
    /// Already claimed (a stale claim taken over): write without claiming.
    pub owned: bool,
}

impl Ticket {
    pub fn idem_key(&self) -> IdemKey<'_> {
        IdemKey {
            merchant_id: &self.merchant_id,
            key: &self.key,
            fingerprint: &self.fingerprint,
            ttl_secs: self.ttl_secs,
        }
    }
}

/// The writes an operation has staged but not yet committed.
pub(super) struct Unit {
    pub(super) commit: Commit,
    ticket: Option<Ticket>,
    /// The key is claimed (by an earlier flush, or owned from the start).
    claimed: bool,
    /// A gateway has been called: from here on a failed write leaves an
    /// outcome unrecorded, never a request that can simply be retried.
    called: bool,
}

impl Unit {
    pub(super) fn new(ticket: Option<Ticket>) -> Unit {
        let claimed = ticket.as_ref().is_some_and(|t| t.owned);
        Unit {
            commit: Commit::default(),
            ticket,
            claimed,
            called: false,
        }
    }

    /// Marks the gateway call that follows a flush.
    pub(super) fn calling(&mut self) {
        self.called = true;
    }

    /// Commits what is staged, claiming the key with it the first time. A
    /// claim that finds the key taken writes nothing and is returned as
    /// [`EngineError::Claim`].
    pub(super) async fn flush(&mut self, store: &dyn Store) -> Result<(), EngineError> {
        let commit = std::mem::take(&mut self.commit);
        let result = match &self.ticket {
            Some(t) if !self.claimed => match store.claim_and_commit(t.idem_key(), &commit).await {
                Ok(IdemClaim::Claimed) => {
                    self.claimed = true;
                    Ok(())
                }
                Ok(other) => return Err(EngineError::Claim(other)),
                Err(e) => Err(e),
            },
            _ if commit.is_empty() => Ok(()),
            _ => store.commit(&commit).await,
        };
        result.map_err(|e| {
            if self.called {
                EngineError::Unrecorded(e)
            } else {
                EngineError::Store(e)
            }
        })
    }

    fn respond(&mut self, status: u16, body: Vec<u8>) {
        if let Some(t) = &self.ticket {
            self.commit.response = Some(IdemResponse {
                merchant_id: t.merchant_id.clone(),
                key: t.key.clone(),
                status,
                body,
            });
        }
    }
}

/// An operation done at the gateway whose last unit of work is not yet
/// committed; [`Pending::commit`] writes it with the caller's answer. The
/// payment stays guarded until then, so a webhook cannot apply to the state
/// before the outcome.
#[must_use = "the operation's outcome is not recorded until it is committed"]
pub struct Pending<'e, T> {
    value: T,
    unit: Unit,
    store: Arc<dyn Store>,
    guard: Option<BusyGuard<'e>>,
}

impl<'e, T> Pending<'e, T> {
    pub(super) fn new(
        value: T,
        unit: Unit,
        store: Arc<dyn Store>,
        guard: Option<BusyGuard<'e>>,
    ) -> Pending<'e, T> {
        Pending {
            value,
            unit,
            store,
            guard,
        }
    }

    /// The outcome, to build the answer from.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Commits the last unit with `answer` (status, body) stored under the
    /// request's Idempotency-Key, if it has one.
    pub async fn commit(mut self, answer: (u16, Vec<u8>)) -> Result<T, EngineError> {
        self.unit.respond(answer.0, answer.1);
        if let Some(guard) = &self.guard {
            guard.release_in(&mut self.unit.commit);
        }
        self.unit.flush(&*self.store).await?;
        if let Some(guard) = &mut self.guard {
            guard.released();
        }
        Ok(self.value)
    }
}
