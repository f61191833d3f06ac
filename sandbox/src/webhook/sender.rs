//! The webhook sender: one task per dialect takes that dialect's queued
//! events in creation order (only while it has a target), applies webhook
//! faults, and POSTs them. The first attempt of each request is made in
//! order; a failed one is retried in the background with backoff (50 ms
//! doubling to 2 s), so one broken receiver does not stall later events.
//!
//! Counters move in single critical sections (an event leaves the outbox and
//! enters `in_flight` atomically, and so on), so `pending() == 0` is never
//! observed while an event is between two states.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::super::faults::FaultMode;
use super::super::ledger::{Dialect, OutboxEvent};
use super::super::state::{Sandbox, lock};
use super::super::wire::now_unix;
use super::render::{
    adyen_body, adyen_item, checkout_body, checkout_signature, stripe_body, stripe_signature,
};
use super::{DIALECTS, DeliverySettings, WebhookTarget};

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Adyen's documented acknowledgement timeout; Stripe's is similar.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long `webhook_out_of_order` waits for a next event before giving up.
const HOLD_LIMIT: Duration = Duration::from_millis(200);

/// Starts one sender per dialect; they stop when `shutdown` turns true.
pub(crate) fn spawn(sb: Arc<Sandbox>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let client = match http_client() {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "sandbox webhook sender disabled: no TLS client");
            return Vec::new();
        }
    };
    DIALECTS
        .iter()
        .map(|&dialect| {
            let courier = Courier {
                sb: sb.clone(),
                client: client.clone(),
                dialect,
                shutdown: shutdown.clone(),
            };
            tokio::spawn(
                Worker {
                    courier,
                    held: Vec::new(),
                }
                .run(),
            )
        })
        .collect()
}

fn http_client() -> Result<HttpClient, rustls::Error> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// One HTTP request, ready to send and resend unchanged (same body, same
/// event ids); only Stripe's signature timestamp is renewed per attempt.
#[derive(Clone)]
struct Prepared {
    url: String,
    body: Bytes,
    signing: Signing,
    /// Events carried (Adyen batches several).
    events: u64,
    max_attempts: u32,
}

#[derive(Clone)]
enum Signing {
    Stripe {
        secret: String,
    },
    Adyen {
        authorization: Option<String>,
    },
    /// `Cko-Signature` is over the body only, so it is computed once.
    Checkout {
        signature: String,
    },
}

impl Prepared {
    fn request(&self) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = Request::post(self.url.as_str())
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
        match &self.signing {
            Signing::Stripe { secret } => {
                builder = builder
                    .header(
                        header::USER_AGENT,
                        "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    )
                    .header(
                        "stripe-signature",
                        stripe_signature(secret, now_unix(), &self.body),
                    );
            }
            Signing::Checkout { signature } => {
                builder = builder.header("cko-signature", signature.as_str());
            }
            Signing::Adyen { authorization } => {
                builder = builder.header(header::USER_AGENT, "Adyen HttpClient 1.0");
                if let Some(value) = authorization {
                    builder = builder.header(header::AUTHORIZATION, value.as_str());
                }
            }
        }
        builder.body(Full::new(self.body.clone()))
    }
}

/// Renders, sends and retries; cheap to clone into background tasks.
#[derive(Clone)]
struct Courier {
    sb: Arc<Sandbox>,
    client: HttpClient,
    dialect: Dialect,
    shutdown: watch::Receiver<bool>,
}

impl Courier {
    /// Stripe: one request per event. Adyen: one request with every event
    /// as an item. Events that cannot be signed count as failed.
    fn prepare(
        &self,
        events: &[OutboxEvent],
        target: &WebhookTarget,
        settings: DeliverySettings,
    ) -> Vec<Prepared> {
        let prepared = |body, signing, events| Prepared {
            url: target.url.clone(),
            body,
            signing,
            events,
            max_attempts: settings.max_attempts,
        };
        match self.dialect {
            Dialect::Stripe => events
                .iter()
                .map(|event| {
                    let signing = Signing::Stripe {
                        secret: target.secret.clone(),
                    };
                    prepared(stripe_body(&self.sb, event), signing, 1)
                })
                .collect(),
            Dialect::Checkout => events
                .iter()
                .map(|event| {
                    let body = checkout_body(&self.sb, event);
                    let signature = checkout_signature(&target.secret, &body);
                    prepared(body, Signing::Checkout { signature }, 1)
                })
                .collect(),
            Dialect::Adyen => {
                let Ok(key) = hex::decode(&target.secret) else {
                    tracing::warn!("sandbox adyen webhook key is not hex; events failed");
                    self.settle(len(events), false);
                    return Vec::new();
                };
                let items = events.iter().map(|e| adyen_item(e, &key)).collect();
                let authorization = target.basic_auth.as_ref().map(|(user, password)| {
                    let token = base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{password}"));
                    format!("Basic {token}")
                });
                let signing = Signing::Adyen { authorization };
                vec![prepared(adyen_body(items), signing, len(events))]
            }
        }
    }

    /// The first attempt now; retries go on in the background.
    async fn deliver(&self, prepared: Prepared) {
        if self.attempt(&prepared).await {
            self.settle(prepared.events, true);
            return;
        }
        let courier = self.clone();
        tokio::spawn(courier.retry(prepared));
    }

    async fn retry(mut self, prepared: Prepared) {
        let mut backoff = FIRST_BACKOFF;
        for _ in 1..prepared.max_attempts {
            tokio::select! {
                _ = stopped(&mut self.shutdown) => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            if self.attempt(&prepared).await {
                self.settle(prepared.events, true);
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.settle(prepared.events, false);
    }

    /// One POST; true on any 2xx (Adyen's `[accepted]` body is not required).
    async fn attempt(&self, prepared: &Prepared) -> bool {
        self.sb.count_webhooks(self.dialect, |s| s.sent += 1);
        let request = match prepared.request() {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, "sandbox webhook request could not be built");
                return false;
            }
        };
        let exchange = async {
            let response = self.client.request(request).await.ok()?;
            let status = response.status();
            // Read the body so the connection can be reused.
            let _ = response.into_body().collect().await;
            Some(status)
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
            Ok(Some(status)) => status.is_success(),
            _ => false,
        }
    }

    fn settle(&self, events: u64, acknowledged: bool) {
        self.sb.count_webhooks(self.dialect, |s| {
            s.in_flight = s.in_flight.saturating_sub(events);
            if acknowledged {
                s.acknowledged += events;
            } else {
                s.failed += events;
            }
        });
    }

    /// Takes, atomically into `in_flight`, the oldest queued event of this
    /// dialect that has somewhere to go and up to `limit` of it and the
    /// events after it bound for the same account (Adyen batches), with
    /// their route. Events of an account without a target wait in place.
    fn take(&self) -> Option<(Vec<OutboxEvent>, WebhookTarget, DeliverySettings)> {
        let mut outbox = lock(&self.sb.outbox);
        let (first, target, settings) = outbox.iter().enumerate().find_map(|(i, e)| {
            if e.dialect != self.dialect {
                return None;
            }
            let (target, settings) = self.sb.webhook_route(self.dialect, e.account())?;
            Some((i, target, settings))
        })?;
        let limit = match self.dialect {
            Dialect::Adyen => settings.batch_size,
            Dialect::Stripe | Dialect::Checkout => 1,
        };
        let account = outbox[first].account().map(str::to_string);
        let mut taken = vec![outbox.remove(first)];
        let mut i = first;
        while i < outbox.len() && taken.len() < limit {
            let e = &outbox[i];
            if e.dialect == self.dialect && e.account() == account.as_deref() {
                taken.push(outbox.remove(i));
            } else {
                i += 1;
            }
        }
        self.sb
            .count_webhooks(self.dialect, |s| s.in_flight += len(&taken));
        Some((taken, target, settings))
    }
}

fn len<T>(items: &[T]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}

/// An event held back by `webhook_out_of_order`, with the route it had.
struct Held {
    event: OutboxEvent,
    target: WebhookTarget,
    settings: DeliverySettings,
    until: Instant,
}

struct Worker {
    courier: Courier,
    held: Vec<Held>,
}

impl Worker {
    async fn run(mut self) {
        let mut shutdown = self.courier.shutdown.clone();
        // Subscribing before the first look means no wake-up is missed.
        let mut wake = self.courier.sb.webhook_wake.subscribe();
        loop {
            let progressed = tokio::select! {
                _ = stopped(&mut shutdown) => return,
                progressed = self.step() => progressed,
            };
            if progressed {
                continue;
            }
            let until = self.held.iter().map(|h| h.until).min();
            tokio::select! {
                _ = stopped(&mut shutdown) => return,
                changed = wake.changed() => if changed.is_err() { return },
                _ = sleep_until(until) => self.release(Some(Instant::now())).await,
            }
        }
    }

    /// Sends the next request's worth of events; false when there is none.
    async fn step(&mut self) -> bool {
        let dialect = self.courier.dialect;
        let Some((events, target, settings)) = self.courier.take() else {
            return false;
        };
        let mut ready = Vec::new();
        let mut copies = 1;
        for event in events {
            let fault = self.courier.sb.pick_webhook_fault(dialect, &event.event);
            match fault.map(|rule| (rule.mode, rule.latency_ms.unwrap_or(0))) {
                Some((FaultMode::WebhookDrop, _)) => self.count(|s| {
                    s.in_flight = s.in_flight.saturating_sub(1);
                    s.dropped += 1;
                }),
                Some((FaultMode::WebhookDelay, ms)) => self.delay(event, &target, settings, ms),
                Some((FaultMode::WebhookOutOfOrder, _)) => self.hold(event, &target, settings),
                Some((FaultMode::WebhookDuplicate, _)) => {
                    copies = 2;
                    ready.push(event);
                }
                _ => ready.push(event),
            }
        }
        if !ready.is_empty() {
            let requests = self.courier.prepare(&ready, &target, settings);
            if !requests.is_empty() {
                let extra = len(&ready) * (copies - 1);
                self.count(|s| s.in_flight += extra);
            }
            for prepared in requests {
                for _ in 0..copies {
                    self.courier.deliver(prepared.clone()).await;
                }
            }
            // Whatever was held waited for exactly this: the next event.
            self.release(None).await;
        }
        true
    }

    fn count(&self, change: impl FnOnce(&mut super::WebhookStats)) {
        self.courier.sb.count_webhooks(self.courier.dialect, change);
    }

    fn hold(&mut self, event: OutboxEvent, target: &WebhookTarget, settings: DeliverySettings) {
        self.count(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.held += 1;
        });
        self.held.push(Held {
            event,
            target: target.clone(),
            settings,
            until: Instant::now() + HOLD_LIMIT,
        });
    }

    /// Sends held events: all of them, or those due by `due`.
    async fn release(&mut self, due: Option<Instant>) {
        let (go, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| due.is_none_or(|now| h.until <= now));
        self.held = keep;
        for held in go {
            self.count(|s| {
                s.held = s.held.saturating_sub(1);
                s.in_flight += 1;
            });
            for prepared in self.courier.prepare(
                std::slice::from_ref(&held.event),
                &held.target,
                held.settings,
            ) {
                self.courier.deliver(prepared).await;
            }
        }
    }

    /// Sends the event after `ms` from its own task; later events go on.
    fn delay(
        &self,
        event: OutboxEvent,
        target: &WebhookTarget,
        settings: DeliverySettings,
        ms: u64,
    ) {
        self.count(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.held += 1;
        });
        let mut courier = self.courier.clone();
        let target = target.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stopped(&mut courier.shutdown) => return,
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            }
            courier.sb.count_webhooks(courier.dialect, |s| {
                s.held = s.held.saturating_sub(1);
                s.in_flight += 1;
            });
            for prepared in courier.prepare(std::slice::from_ref(&event), &target, settings) {
                courier.deliver(prepared).await;
            }
        });
    }
}

async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
