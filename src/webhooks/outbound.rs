//! Merchant event delivery: a worker takes due deliveries from the store
//! (leased, so a crash mid-send re-delivers: at least once), signs each with
//! `Payroute-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! POSTs it to the merchant's current `webhook_url`, and on failure
//! schedules the next try with exponential backoff and jitter, for up to
//! three days. A permanent 4xx (other than 408 and 429) stops it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http_body_util::Full;
use rand::RngExt;
use tokio::sync::watch;

use crate::domain::store::events::{Delivery, DeliveryStatus};
use crate::payments::Engine;

/// The retry schedule. The default follows Stripe's: exponential, for up to
/// three days; tests shrink it.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Delay after the first failure; doubles each time.
    pub base: Duration,
    pub max_delay: Duration,
    /// Give up (status `failed`) once the event is this old.
    pub max_age: Duration,
    /// Per-request deadline.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> DeliveryPolicy {
        DeliveryPolicy {
            base: Duration::from_secs(30),
            max_delay: Duration::from_secs(6 * 3600),
            max_age: Duration::from_secs(3 * 24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl DeliveryPolicy {
    /// Delay before try number `attempts + 1`, with jitter in [½, 1]×.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay);
        let jitter = rand::rng().random_range(0.5..=1.0);
        capped.mul_f64(jitter).max(Duration::from_millis(1))
    }

    /// How long a claimed delivery is this replica's: past its send deadline
    /// (no second replica sends it while the first still may), short enough
    /// that a replica dying mid-send delays it by seconds, not minutes.
    fn lease_secs(&self) -> i64 {
        self.timeout.as_secs() as i64 + 5
    }
}

const BATCH: usize = 50;

/// `t=<unix>,v1=<hex>` over `"<t>.<body>"`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn run(engine: Arc<Engine>, policy: DeliveryPolicy, mut shutdown: watch::Receiver<bool>) {
    let tick = policy
        .base
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = engine.deliveries_pending.notified() => {}
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => return,
        }
        let due = match engine
            .store
            .claim_due_deliveries(engine.clock.now_unix(), BATCH, policy.lease_secs())
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim deliveries; retrying");
                continue;
            }
        };
        // Concurrently: one slow merchant endpoint must not hold up the rest.
        let mut sends = tokio::task::JoinSet::new();
        for d in due {
            let (engine, policy) = (engine.clone(), policy.clone());
            sends.spawn(async move { deliver(&engine, &policy, d).await });
        }
        while sends.join_next().await.is_some() {}
    }
}

/// Sends one delivery and records what happened.
pub async fn deliver(engine: &Engine, policy: &DeliveryPolicy, mut d: Delivery) {
    let merchant = engine.live.load().ruleset.merchant(&d.merchant_id).cloned();
    let target = merchant
        .as_ref()
        .and_then(|m| Some((m.webhook_url.clone()?, m.webhook_secret.clone()?)));
    let result = match target {
        None => Err((
            None,
            "merchant has no webhook_url and webhook_secret configured".to_string(),
            false,
        )),
        Some((url, secret)) => send(engine, policy, &url, secret.expose(), &d).await,
    };
    d.attempts += 1;
    let now = engine.clock.now();
    d.updated_at = now.rfc3339();
    let label = match result {
        Ok(status) => {
            d.status = DeliveryStatus::Delivered;
            d.last_status = Some(status);
            d.last_error = None;
            "delivered"
        }
        Err((status, error, retry)) => {
            d.last_status = status;
            d.last_error = Some(error);
            let age = now.unix() - created_unix(&d).unwrap_or(now.unix());
            if retry && (age as u64) < policy.max_age.as_secs() {
                d.next_attempt_at = now.unix() + policy.backoff(d.attempts).as_secs() as i64;
                "retry"
            } else {
                d.status = DeliveryStatus::Failed;
                "failed"
            }
        }
    };
    engine
        .metrics
        .webhook_deliveries
        .with_label_values(&[label])
        .inc();
    tracing::info!(delivery = %d.id, event = %d.event_id, result = label, attempts = d.attempts, "merchant webhook");
    if let Err(e) = engine.store.update_delivery(&d).await {
        // The lease expires and the delivery is sent again: at least once.
        tracing::warn!(delivery = %d.id, error = %e, "cannot record the delivery result");
    }
}

fn created_unix(d: &Delivery) -> Option<i64> {
    time::OffsetDateTime::parse(
        &d.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| t.unix_timestamp())
    .ok()
}

/// Ok(status) on 2xx; Err((status, error, retryable)) otherwise.
async fn send(
    engine: &Engine,
    policy: &DeliveryPolicy,
    url: &str,
    secret: &str,
    d: &Delivery,
) -> Result<u16, (Option<u16>, String, bool)> {
    let signature = sign(secret, engine.clock.now_unix(), &d.payload);
    let req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("payroute-signature", signature)
        .header("payroute-event-id", &d.event_id)
        .header(
            http::header::USER_AGENT,
            concat!("payroute/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(d.payload.clone())))
        .map_err(|e| (None, format!("bad webhook_url: {e}"), false))?;
    match engine.client.send(req, policy.timeout).await {
        Ok(reply) if reply.status.is_success() => Ok(reply.status.as_u16()),
        Ok(reply) => {
            let s = reply.status.as_u16();
            let retry = !(400..500).contains(&s) || s == 408 || s == 429;
            Err((Some(s), format!("merchant answered {s}"), retry))
        }
        Err(e) => Err((None, e.to_string(), true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let s = sign("whsec_test", 1_700_000_000, "{\"a\":1}");
        assert_eq!(
            s,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(s, sign("whsec_other", 1_700_000_000, "{\"a\":1}"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = DeliveryPolicy {
            base: Duration::from_secs(10),
            max_delay: Duration::from_secs(100),
            ..DeliveryPolicy::default()
        };
        assert!(p.backoff(1) <= Duration::from_secs(10) && p.backoff(1) >= Duration::from_secs(5));
        assert!(p.backoff(3) >= Duration::from_secs(20));
        assert!(p.backoff(30) <= Duration::from_secs(100));
    }
}
