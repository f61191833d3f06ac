//! Gateway webhooks in, up to the ack (`POST /webhooks/{gateway_id}`, which
//! the API maps to [`Engine::receive_webhook`]): verify the gateway's signature on the raw
//! body (the gateway kind's own check, with the gateway's configured
//! secrets), store each verified event under its unique provider id (one
//! insert that also deduplicates), and only then acknowledge. Applying
//! happens after, from memory when the applier has room (the events are
//! stored leased to it) or else from the store (`webhooks::apply`), so a crash
//! after the ack loses nothing: a lease runs out and the event is claimed.

use http::HeaderMap;

use super::Engine;
use crate::connectors::webhook::{Delivery, Verified, VerifiedEvent, VerifyError};
use crate::domain::clock::Timestamp;
use crate::domain::store::StoreError;
use crate::domain::store::events::{InboundEvent, InboundStatus};
use crate::routing::GatewayConfig;

/// How long a claimed (or handed-over) event stays leased to the applier:
/// past this a crashed applier's events are claimed again from the store.
pub const LEASE_SECS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("gateway `{0}` has no {1} configured for webhook verification")]
    NotConfigured(String, &'static str),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to answer a gateway that delivered events we stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub body: &'static str,
    pub content_type: &'static str,
    pub accepted: usize,
    pub duplicates: usize,
}

fn secrets<'a>(g: &'a GatewayConfig, name: &'static str) -> Result<Vec<&'a str>, InboundError> {
    let mut v: Vec<&str> = [name.to_string(), format!("{name}_previous")]
        .iter()
        .filter_map(|k| g.credentials.get(k.as_str()))
        .map(|s| s.expose())
        .filter(|s| !s.is_empty())
        .collect();
    v.dedup();
    if v.is_empty() {
        return Err(InboundError::NotConfigured(g.id.clone(), name));
    }
    Ok(v)
}

impl Engine {
    /// Verifies and stores one delivery to `g`'s webhook URL; returns the
    /// acknowledgement to send.
    pub async fn receive_webhook(
        &self,
        g: &GatewayConfig,
        headers: &HeaderMap,
        raw: &[u8],
    ) -> Result<Ack, InboundError> {
        receive(self, g, headers, raw).await
    }
}

async fn receive(
    engine: &Engine,
    g: &GatewayConfig,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Ack, InboundError> {
    let secrets = secrets(g, g.kind.facts().webhook_secret)?;
    let at = engine.clock.now();
    let delivery = Delivery {
        headers,
        body: raw,
        secrets: &secrets,
        credentials: &g.credentials,
        tolerance_s: g.webhook_tolerance_s,
        now: at.unix(),
    };
    let Verified { events, ack } = g.kind.verify_webhook(&delivery)?;
    let events: Vec<_> = events.into_iter().map(|ev| inbound(g, ev, at)).collect();
    // Room for every event is reserved before the insert, so a stored
    // lease always has its event in the applier's queue.
    let permits = engine
        .inbound_handoff
        .get()
        .and_then(|tx| tx.try_reserve_many(events.len()).ok());
    let lease = if permits.is_some() { LEASE_SECS } else { 0 };
    let fresh = engine.store.insert_inbound_events(&events, lease).await?;
    let accepted = fresh.iter().filter(|f| **f).count();
    let ack = Ack {
        body: ack.body,
        content_type: ack.content_type,
        accepted,
        duplicates: fresh.len() - accepted,
    };
    match permits {
        Some(mut permits) => {
            for (event, new) in events.into_iter().zip(fresh) {
                if let (true, Some(permit)) = (new, permits.next()) {
                    permit.send(event);
                }
            }
        }
        None if accepted > 0 => engine.events_pending.notify_one(),
        None => {}
    }
    Ok(ack)
}

fn inbound(g: &GatewayConfig, ev: VerifiedEvent, at: Timestamp) -> InboundEvent {
    InboundEvent {
        id: at.record_id("ie"),
        gateway_id: g.id.clone(),
        provider_event_id: ev.provider_event_id,
        payload: ev.payload,
        status: InboundStatus::Received,
        note: None,
        received_at: at.unix(),
    }
}
