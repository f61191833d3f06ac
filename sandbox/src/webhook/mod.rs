//! Outbound webhooks: where each dialect's events go (targets), delivery
//! settings and counters, and the `Sandbox` methods tests script them with.
//! `render` turns outbox events into signed Stripe/Adyen requests and
//! `sender` delivers them (retries, webhook faults) from background tasks.
//!
//! Events emitted while a dialect has no target stay in the outbox and go out
//! once a target is set, so nothing is lost by configuring late.

mod render;
mod sender;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::faults::FaultRule;
use super::ledger::Dialect;
use super::state::{Sandbox, lock};

pub(crate) use sender::spawn;

/// Where one dialect's webhooks are POSTed and how they are signed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    /// Stripe: the `whsec_...` endpoint secret, used as-is as the HMAC key.
    /// Adyen: the HMAC key in hex, as the Customer Area shows it.
    /// Checkout.com: the workflow's signature key, used as-is.
    pub secret: String,
    /// Adyen: Basic auth `(username, password)` sent with every notification.
    pub basic_auth: Option<(String, String)>,
}

impl WebhookTarget {
    pub fn new(url: &str, secret: &str) -> WebhookTarget {
        WebhookTarget {
            url: url.to_string(),
            secret: secret.to_string(),
            basic_auth: None,
        }
    }

    pub fn basic_auth(mut self, username: &str, password: &str) -> WebhookTarget {
        self.basic_auth = Some((username.to_string(), password.to_string()));
        self
    }

    /// Checks what delivery needs: an http(s) URL, a secret, and for Adyen a
    /// hex key (a bad key would make every notification unsignable).
    pub fn validate(&self, dialect: Dialect) -> Result<(), WebhookError> {
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|_| WebhookError::Url(self.url.clone()))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none() {
            return Err(WebhookError::Url(self.url.clone()));
        }
        if self.secret.is_empty() {
            return Err(WebhookError::MissingSecret);
        }
        if dialect == Dialect::Adyen && hex::decode(&self.secret).is_err() {
            return Err(WebhookError::HexKey);
        }
        Ok(())
    }
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field(
                "basic_auth",
                &self
                    .basic_auth
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .finish()
    }
}

/// How a dialect's webhooks are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Adyen only: notification items per request (Adyen may batch).
    pub batch_size: usize,
    /// Attempts per delivery before it counts as failed.
    pub max_attempts: u32,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            batch_size: 1,
            max_attempts: 20,
        }
    }
}

/// Delivery counters; `pending() == 0` means every event was settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStats {
    /// Events in the outbox (waiting for the sender or for a target).
    pub queued: u64,
    /// Events held back by `webhook_out_of_order` or `webhook_delay`.
    pub held: u64,
    /// Events being delivered or waiting for a retry.
    pub in_flight: u64,
    /// HTTP requests made (every attempt, duplicates included).
    pub sent: u64,
    /// Event deliveries answered 2xx (a duplicate counts twice).
    pub acknowledged: u64,
    /// Event deliveries that exhausted their attempts.
    pub failed: u64,
    /// Events a `webhook_drop` fault swallowed.
    pub dropped: u64,
}

impl WebhookStats {
    pub fn pending(&self) -> u64 {
        self.queued + self.held + self.in_flight
    }

    fn plus(self, other: WebhookStats) -> WebhookStats {
        WebhookStats {
            queued: self.queued + other.queued,
            held: self.held + other.held,
            in_flight: self.in_flight + other.in_flight,
            sent: self.sent + other.sent,
            acknowledged: self.acknowledged + other.acknowledged,
            failed: self.failed + other.failed,
            dropped: self.dropped + other.dropped,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("invalid webhook target: {0}")]
    Json(String),
    #[error("webhook url must be an absolute http(s) URL, got {0:?}")]
    Url(String),
    #[error("a webhook target needs a secret")]
    MissingSecret,
    #[error("the Adyen HMAC key must be hex")]
    HexKey,
    #[error("username and password go together")]
    HalfBasicAuth,
    #[error("batch_size must be at least 1, and above 1 only for adyen")]
    BatchSize,
    #[error("max_attempts must be at least 1")]
    MaxAttempts,
}

/// Targets, settings and counters of both dialects. A dialect has a
/// default target and may have one per account, as the real gateways keep
/// webhook endpoints per Stripe account and per Adyen merchant account.
#[derive(Debug, Default)]
pub(crate) struct WebhookState {
    targets: HashMap<(Dialect, Option<String>), WebhookTarget>,
    settings: HashMap<Dialect, DeliverySettings>,
    counters: HashMap<Dialect, WebhookStats>,
}

impl WebhookState {
    /// Where an event of `account` goes: its account's target, else the
    /// dialect's default.
    pub fn route(
        &self,
        dialect: Dialect,
        account: Option<&str>,
    ) -> Option<(WebhookTarget, DeliverySettings)> {
        let own = account.and_then(|a| self.targets.get(&(dialect, Some(a.to_string()))));
        let target = own.or_else(|| self.targets.get(&(dialect, None)))?.clone();
        Some((
            target,
            self.settings.get(&dialect).copied().unwrap_or_default(),
        ))
    }

    pub fn count(&mut self, dialect: Dialect, change: impl FnOnce(&mut WebhookStats)) {
        change(self.counters.entry(dialect).or_default());
    }
}

/// The body of `POST /__sandbox/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRequest {
    dialect: Dialect,
    /// Only this account's events (a Stripe or Checkout.com secret key, an
    /// Adyen merchant account); without it, the dialect's default target.
    account: Option<String>,
    url: Option<String>,
    #[serde(default)]
    secret: String,
    username: Option<String>,
    password: Option<String>,
    batch_size: Option<usize>,
    max_attempts: Option<u32>,
}

impl TargetRequest {
    fn settings(&self) -> Result<DeliverySettings, WebhookError> {
        let defaults = DeliverySettings::default();
        let batch_size = self.batch_size.unwrap_or(defaults.batch_size);
        if batch_size == 0 || (batch_size > 1 && self.dialect != Dialect::Adyen) {
            return Err(WebhookError::BatchSize);
        }
        let max_attempts = self.max_attempts.unwrap_or(defaults.max_attempts);
        if max_attempts == 0 {
            return Err(WebhookError::MaxAttempts);
        }
        Ok(DeliverySettings {
            batch_size,
            max_attempts,
        })
    }

    fn target(&self) -> Result<Option<WebhookTarget>, WebhookError> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let mut target = WebhookTarget::new(url, &self.secret);
        match (&self.username, &self.password) {
            (Some(user), Some(password)) => target = target.basic_auth(user, password),
            (None, None) => {}
            _ => return Err(WebhookError::HalfBasicAuth),
        }
        target.validate(self.dialect)?;
        Ok(Some(target))
    }
}

const DIALECTS: [Dialect; 3] = [Dialect::Stripe, Dialect::Adyen, Dialect::Checkout];

impl Sandbox {
    /// Sends all of `dialect`'s webhooks to `target`, whatever their
    /// account, or with `None` none of them: the targets of single accounts
    /// are dropped. Queued events start flowing at once.
    pub fn set_webhook_target(&self, dialect: Dialect, target: Option<WebhookTarget>) {
        lock(&self.webhooks)
            .targets
            .retain(|(d, _), _| *d != dialect);
        self.set_account_webhook_target(dialect, None, target);
    }

    /// Sets (or removes) where the webhooks of one account of `dialect` go
    /// (`account` `None`: the dialect's default, for accounts without a
    /// target of their own), leaving other accounts' targets as they are.
    pub fn set_account_webhook_target(
        &self,
        dialect: Dialect,
        account: Option<&str>,
        target: Option<WebhookTarget>,
    ) {
        let mut state = lock(&self.webhooks);
        let key = (dialect, account.map(str::to_string));
        match target {
            Some(target) => state.targets.insert(key, target),
            None => state.targets.remove(&key),
        };
        drop(state);
        self.wake_sender();
    }

    pub fn set_webhook_delivery(&self, dialect: Dialect, settings: DeliverySettings) {
        lock(&self.webhooks).settings.insert(dialect, settings);
        self.wake_sender();
    }

    /// Counters summed over both dialects.
    pub fn webhook_stats(&self) -> WebhookStats {
        DIALECTS.iter().fold(WebhookStats::default(), |sum, d| {
            sum.plus(self.webhook_stats_for(*d))
        })
    }

    pub fn webhook_stats_for(&self, dialect: Dialect) -> WebhookStats {
        let queued = lock(&self.outbox)
            .iter()
            .filter(|e| e.dialect == dialect)
            .count();
        let mut stats = lock(&self.webhooks)
            .counters
            .get(&dialect)
            .copied()
            .unwrap_or_default();
        stats.queued = u64::try_from(queued).unwrap_or(u64::MAX);
        stats
    }

    /// Waits until nothing is queued, held or in flight; false on timeout.
    pub async fn wait_for_webhooks(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.webhook_stats().pending() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Applies a `POST /__sandbox/webhooks` body.
    pub(crate) fn configure_webhooks(&self, body: &[u8]) -> Result<Value, WebhookError> {
        let request: TargetRequest =
            serde_json::from_slice(body).map_err(|e| WebhookError::Json(e.to_string()))?;
        let settings = request.settings()?;
        let target = request.target()?;
        self.set_webhook_delivery(request.dialect, settings);
        match request.account.as_deref() {
            Some(account) => {
                self.set_account_webhook_target(request.dialect, Some(account), target)
            }
            None => self.set_webhook_target(request.dialect, target),
        }
        Ok(self.webhook_report())
    }

    /// The `GET /__sandbox/webhooks` body: targets without secrets, totals,
    /// and the same counters per dialect.
    pub(crate) fn webhook_report(&self) -> Value {
        let state = lock(&self.webhooks);
        let mut targets = serde_json::Map::new();
        for dialect in DIALECTS {
            let shown = state.route(dialect, None).map(|(target, settings)| {
                json!({
                    "url": target.url,
                    "basic_auth": target.basic_auth.is_some(),
                    "batch_size": settings.batch_size,
                    "max_attempts": settings.max_attempts,
                })
            });
            targets.insert(dialect.as_str().into(), shown.unwrap_or(Value::Null));
        }
        // Accounts' own targets; a Stripe account is its secret key, so
        // it is shown redacted as Stripe shows keys.
        let mut accounts: Vec<Value> = state
            .targets
            .iter()
            .filter_map(|((dialect, account), target)| {
                let account = account.as_deref()?;
                let shown = match dialect {
                    Dialect::Stripe | Dialect::Checkout => crate::stripe::redact(account),
                    Dialect::Adyen => account.to_string(),
                };
                Some(json!({"dialect": dialect.as_str(), "account": shown, "url": target.url}))
            })
            .collect();
        accounts.sort_by_key(|a| a.to_string());
        drop(state);
        let mut report = json!(self.webhook_stats());
        report["targets"] = Value::Object(targets);
        report["account_targets"] = Value::Array(accounts);
        report["dialects"] = json!({
            "stripe": self.webhook_stats_for(Dialect::Stripe),
            "adyen": self.webhook_stats_for(Dialect::Adyen),
            "checkout": self.webhook_stats_for(Dialect::Checkout),
        });
        report
    }

    pub(crate) fn webhook_route(
        &self,
        dialect: Dialect,
        account: Option<&str>,
    ) -> Option<(WebhookTarget, DeliverySettings)> {
        lock(&self.webhooks).route(dialect, account)
    }

    pub(crate) fn count_webhooks(&self, dialect: Dialect, change: impl FnOnce(&mut WebhookStats)) {
        lock(&self.webhooks).count(dialect, change);
    }

    pub(crate) fn pick_webhook_fault(&self, dialect: Dialect, event: &str) -> Option<FaultRule> {
        let mut plan = lock(&self.faults);
        plan.pick_event(dialect, event, |p| self.roll(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_events_go_to_its_own_target_and_others_to_the_default() {
        let mut state = WebhookState::default();
        let own = WebhookTarget::new("http://h/own", "whsec_own");
        let default = WebhookTarget::new("http://h/default", "whsec_default");
        let key = |account: Option<&str>| (Dialect::Stripe, account.map(str::to_string));
        state.targets.insert(key(Some("sk_test_a")), own);
        assert!(state.route(Dialect::Stripe, Some("sk_test_b")).is_none());
        state.targets.insert(key(None), default);
        let url = |account| state.route(Dialect::Stripe, account).map(|(t, _)| t.url);
        assert_eq!(url(Some("sk_test_a")).as_deref(), Some("http://h/own"));
        assert_eq!(url(Some("sk_test_b")).as_deref(), Some("http://h/default"));
        assert_eq!(url(None).as_deref(), Some("http://h/default"));
        assert!(state.route(Dialect::Adyen, Some("sk_test_a")).is_none());
    }

    fn request(json: &str) -> Result<(DeliverySettings, Option<WebhookTarget>), WebhookError> {
        let request: TargetRequest = serde_json::from_str(json).unwrap();
        Ok((request.settings()?, request.target()?))
    }

    #[test]
    fn adyen_targets_need_a_hex_key_and_whole_basic_auth() {
        let ok = request(
            r#"{"dialect":"adyen","url":"http://127.0.0.1:9/h","secret":"00ff","username":"u","password":"p","batch_size":3}"#,
        )
        .unwrap();
        assert_eq!(ok.0.batch_size, 3);
        assert_eq!(ok.1.unwrap().basic_auth, Some(("u".into(), "p".into())));
        let not_hex = request(r#"{"dialect":"adyen","url":"http://h/x","secret":"whsec_1"}"#);
        assert_eq!(not_hex.unwrap_err(), WebhookError::HexKey);
        let half =
            request(r#"{"dialect":"adyen","url":"http://h/x","secret":"00","username":"u"}"#);
        assert_eq!(half.unwrap_err(), WebhookError::HalfBasicAuth);
    }

    #[test]
    fn stripe_targets_refuse_batches_relative_urls_and_empty_secrets() {
        let batch =
            request(r#"{"dialect":"stripe","url":"http://h/x","secret":"whsec_1","batch_size":2}"#);
        assert_eq!(batch.unwrap_err(), WebhookError::BatchSize);
        let relative = request(r#"{"dialect":"stripe","url":"/hooks","secret":"whsec_1"}"#);
        assert!(matches!(relative.unwrap_err(), WebhookError::Url(_)));
        let no_secret = request(r#"{"dialect":"stripe","url":"http://h/x"}"#);
        assert_eq!(no_secret.unwrap_err(), WebhookError::MissingSecret);
    }

    #[test]
    fn a_null_url_disables_the_target() {
        let (_, target) = request(r#"{"dialect":"stripe","url":null}"#).unwrap();
        assert!(target.is_none());
    }

    #[test]
    fn debug_hides_secret_and_password() {
        let target = WebhookTarget::new("http://h/x", "whsec_topsecret").basic_auth("u", "pw123");
        let shown = format!("{target:?}");
        assert!(!shown.contains("topsecret") && !shown.contains("pw123"));
    }
}
