//! The engine's side of `Idempotency-Key`s the API settles itself: answers
//! that were final without any payment write (a refusal, an explanation),
//! keys given back, and a crashed create's key taken over. The HTTP side
//! (header, fingerprint, replay headers) is the API's; what is stored and
//! when is decided here, next to the units that claim keys with a payment.

use super::engine::{Engine, EngineError};
use super::unit::Ticket;
use crate::domain::model::Payment;
use crate::domain::store::{Commit, IdemClaim, IdemResponse};

impl Engine {
    /// Stores a final answer under the ticket's key: claiming the key in the
    /// same commit, or writing it alone when the ticket already owns the key.
    /// `Claimed` means stored; anything else is the claim that found the key
    /// taken, and nothing was written.
    pub async fn store_answer(
        &self,
        ticket: &Ticket,
        answer: IdemResponse,
    ) -> Result<IdemClaim, EngineError> {
        let commit = Commit {
            response: Some(answer),
            ..Commit::default()
        };
        let claim = if ticket.owned {
            self.store
                .commit(&commit)
                .await
                .map(|()| IdemClaim::Claimed)?
        } else {
            self.store
                .claim_and_commit(ticket.idem_key(), &commit)
                .await?
        };
        Ok(claim)
    }

    /// Gives an owned key back, so the client may reuse it.
    pub async fn release_key(&self, ticket: &Ticket) -> Result<(), EngineError> {
        Ok(self
            .store
            .release_idempotency(&ticket.merchant_id, &ticket.key)
            .await?)
    }

    /// What the ticket's key holds now, without claiming it.
    pub async fn peek_key(&self, ticket: &Ticket) -> Result<IdemClaim, EngineError> {
        Ok(self.store.peek_idempotency(ticket.idem_key()).await?)
    }

    /// The payment a create with this key made, if any.
    pub async fn payment_by_key(
        &self,
        merchant_id: &str,
        key: &str,
    ) -> Result<Option<Payment>, EngineError> {
        Ok(self
            .store
            .find_payment_by_idempotency_key(merchant_id, key)
            .await?)
    }

    /// Stores the answer of a key whose request died after making a payment.
    pub async fn complete_key(&self, answer: &IdemResponse) -> Result<(), EngineError> {
        Ok(self
            .store
            .complete_idempotency(
                &answer.merchant_id,
                &answer.key,
                answer.status,
                &answer.body,
            )
            .await?)
    }

    /// Takes over a key claimed at `since` by a request that died before
    /// writing anything; false when another request got there first.
    pub async fn retake_key(
        &self,
        merchant_id: &str,
        key: &str,
        since: i64,
    ) -> Result<bool, EngineError> {
        Ok(self
            .store
            .retake_idempotency(merchant_id, key, since)
            .await?)
    }
}
