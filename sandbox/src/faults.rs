//! The fault plan: rules that make the sandbox misbehave on chosen requests
//! (see the module doc of `sandbox` for each mode's observable effect).

use serde::{Deserialize, Serialize};

use super::ledger::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultMode {
    #[serde(rename = "latency")]
    Latency,
    #[serde(rename = "timeout_after_charge")]
    TimeoutAfterCharge,
    #[serde(rename = "reset_after_charge")]
    ResetAfterCharge,
    #[serde(rename = "500_after_charge")]
    Error500AfterCharge,
    #[serde(rename = "500_before_charge")]
    Error500BeforeCharge,
    #[serde(rename = "503_before_charge")]
    Error503BeforeCharge,
    #[serde(rename = "429")]
    RateLimited,
    /// Send the webhook twice, same body and id (a gateway retry).
    #[serde(rename = "webhook_duplicate")]
    WebhookDuplicate,
    /// Hold the webhook until the next one of its dialect went out.
    #[serde(rename = "webhook_out_of_order")]
    WebhookOutOfOrder,
    /// Send the webhook after `latency_ms`.
    #[serde(rename = "webhook_delay")]
    WebhookDelay,
    /// Never send the webhook.
    #[serde(rename = "webhook_drop")]
    WebhookDrop,
    /// Checkout.com only: accept a capture, void or refund (202) and
    /// decline it afterwards (`payment_*_declined`, nothing moves).
    #[serde(rename = "action_declined")]
    ActionDeclined,
}

impl FaultMode {
    /// Modes that answer without executing the request.
    pub fn is_before_charge(self) -> bool {
        matches!(
            self,
            FaultMode::Error500BeforeCharge
                | FaultMode::Error503BeforeCharge
                | FaultMode::RateLimited
        )
    }

    /// Modes that act on outbound webhooks instead of API requests.
    pub fn is_webhook(self) -> bool {
        matches!(
            self,
            FaultMode::WebhookDuplicate
                | FaultMode::WebhookOutOfOrder
                | FaultMode::WebhookDelay
                | FaultMode::WebhookDrop
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultScope {
    Stripe,
    Adyen,
    Checkout,
    #[default]
    Any,
}

impl FaultScope {
    fn covers(self, dialect: Dialect) -> bool {
        match self {
            FaultScope::Any => true,
            FaultScope::Stripe => dialect == Dialect::Stripe,
            FaultScope::Adyen => dialect == Dialect::Adyen,
            FaultScope::Checkout => dialect == Dialect::Checkout,
        }
    }
}

fn default_rate() -> f64 {
    1.0
}

/// One rule as posted to `/__sandbox/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Assigned by the sandbox; ignored on input.
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub dialect: FaultScope,
    pub mode: FaultMode,
    /// Probability that a matching request is hit (a probability, not money).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Fire on this many more matching requests, then expire; `None` = forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// `latency` mode only: sleep a uniformly random time in
    /// `[latency_ms, latency_ms_max]` instead of exactly `latency_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms_max: Option<u64>,
    /// Webhook modes only: match events whose type/eventCode contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_contains: Option<String>,
}

impl FaultRule {
    pub fn new(dialect: FaultScope, mode: FaultMode) -> FaultRule {
        FaultRule {
            id: 0,
            dialect,
            mode,
            rate: 1.0,
            count: None,
            path_contains: None,
            latency_ms: None,
            latency_ms_max: None,
            event_contains: None,
        }
    }

    pub fn count(mut self, count: u32) -> FaultRule {
        self.count = Some(count);
        self
    }

    pub fn path_contains(mut self, fragment: &str) -> FaultRule {
        self.path_contains = Some(fragment.to_string());
        self
    }

    pub fn latency_ms(mut self, ms: u64) -> FaultRule {
        self.latency_ms = Some(ms);
        self
    }

    /// Makes a `latency` rule sleep uniformly in `[latency_ms, max]`.
    pub fn latency_ms_max(mut self, max: u64) -> FaultRule {
        self.latency_ms_max = Some(max);
        self
    }

    pub fn event_contains(mut self, fragment: &str) -> FaultRule {
        self.event_contains = Some(fragment.to_string());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaultRuleError> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(FaultRuleError::Rate);
        }
        if self.count == Some(0) {
            return Err(FaultRuleError::Count);
        }
        let delayed = matches!(self.mode, FaultMode::Latency | FaultMode::WebhookDelay);
        if delayed && self.latency_ms.is_none() {
            return Err(FaultRuleError::Latency);
        }
        if let Some(max) = self.latency_ms_max {
            if self.mode != FaultMode::Latency {
                return Err(FaultRuleError::LatencyRangeMode);
            }
            if self.latency_ms.is_some_and(|min| max < min) {
                return Err(FaultRuleError::LatencyRange);
            }
        }
        if self.mode.is_webhook() && self.path_contains.is_some() {
            return Err(FaultRuleError::PathOnWebhook);
        }
        if !self.mode.is_webhook() && self.event_contains.is_some() {
            return Err(FaultRuleError::EventOnRequest);
        }
        if self.mode == FaultMode::ActionDeclined && self.dialect != FaultScope::Checkout {
            return Err(FaultRuleError::CheckoutOnly);
        }
        Ok(())
    }

    fn matches(&self, dialect: Dialect, path: &str, charge_creating: bool) -> bool {
        !self.mode.is_webhook()
            && self.dialect.covers(dialect)
            && match &self.path_contains {
                Some(fragment) => path.contains(fragment.as_str()),
                None => charge_creating,
            }
    }

    fn matches_event(&self, dialect: Dialect, event: &str) -> bool {
        self.mode.is_webhook()
            && self.dialect.covers(dialect)
            && self
                .event_contains
                .as_deref()
                .is_none_or(|fragment| event.contains(fragment))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultRuleError {
    #[error("rate must be between 0.0 and 1.0")]
    Rate,
    #[error("count must be at least 1 when given")]
    Count,
    #[error("latency and webhook_delay modes need latency_ms")]
    Latency,
    #[error("latency_ms_max applies to latency mode only")]
    LatencyRangeMode,
    #[error("latency_ms_max must be at least latency_ms")]
    LatencyRange,
    #[error("path_contains does not apply to webhook modes (use event_contains)")]
    PathOnWebhook,
    #[error("event_contains applies to webhook modes only")]
    EventOnRequest,
    #[error("action_declined needs \"dialect\":\"checkout\"")]
    CheckoutOnly,
}

/// Active rules in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    rules: Vec<FaultRule>,
    next_id: u64,
}

impl FaultPlan {
    pub fn add(&mut self, mut rule: FaultRule) -> Result<FaultRule, FaultRuleError> {
        rule.validate()?;
        self.next_id += 1;
        rule.id = self.next_id;
        self.rules.push(rule.clone());
        Ok(rule)
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The first matching rule that fires; `roll(rate)` decides rates below 1.
    /// A rule's count drops only when it fires, and it expires at zero.
    pub fn pick(
        &mut self,
        dialect: Dialect,
        path: &str,
        charge_creating: bool,
        roll: impl FnMut(f64) -> bool,
    ) -> Option<FaultRule> {
        self.pick_where(|rule| rule.matches(dialect, path, charge_creating), roll)
    }

    /// The first webhook rule for an outbox event that fires.
    pub fn pick_event(
        &mut self,
        dialect: Dialect,
        event: &str,
        roll: impl FnMut(f64) -> bool,
    ) -> Option<FaultRule> {
        self.pick_where(|rule| rule.matches_event(dialect, event), roll)
    }

    fn pick_where(
        &mut self,
        applies: impl Fn(&FaultRule) -> bool,
        mut roll: impl FnMut(f64) -> bool,
    ) -> Option<FaultRule> {
        let index = self
            .rules
            .iter()
            .position(|rule| applies(rule) && (rule.rate >= 1.0 || roll(rule.rate)))?;
        let fired = self.rules[index].clone();
        if let Some(count) = self.rules[index].count.as_mut() {
            *count -= 1;
            if *count == 0 {
                self.rules.remove(index);
            }
        }
        Some(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_expire_after_firing() {
        let mut plan = FaultPlan::default();
        plan.add(FaultRule::new(FaultScope::Any, FaultMode::Error500BeforeCharge).count(2))
            .unwrap();
        let mut pick = || {
            plan.pick(Dialect::Stripe, "/stripe/v1/payment_intents", true, |_| {
                true
            })
        };
        assert!(pick().is_some());
        assert!(pick().is_some());
        assert!(pick().is_none());
    }

    #[test]
    fn rules_without_path_hit_only_charge_creating_calls() {
        let mut plan = FaultPlan::default();
        plan.add(FaultRule::new(FaultScope::Any, FaultMode::RateLimited))
            .unwrap();
        assert!(
            plan.pick(
                Dialect::Adyen,
                "/adyen/v71/payments/X/captures",
                false,
                |_| true
            )
            .is_none()
        );
        assert!(
            plan.pick(Dialect::Adyen, "/adyen/v71/payments", true, |_| true)
                .is_some()
        );
    }

    #[test]
    fn path_rules_hit_modifications_of_their_dialect_only() {
        let mut plan = FaultPlan::default();
        plan.add(
            FaultRule::new(FaultScope::Stripe, FaultMode::RateLimited).path_contains("/capture"),
        )
        .unwrap();
        assert!(
            plan.pick(
                Dialect::Adyen,
                "/adyen/v71/payments/X/captures",
                false,
                |_| true
            )
            .is_none()
        );
        assert!(
            plan.pick(
                Dialect::Stripe,
                "/stripe/v1/payment_intents/pi_1/capture",
                false,
                |_| true
            )
            .is_some()
        );
        assert!(
            plan.pick(Dialect::Stripe, "/stripe/v1/payment_intents", true, |_| {
                true
            })
            .is_none()
        );
    }

    #[test]
    fn a_failed_rate_roll_neither_fires_nor_spends_the_count() {
        let mut plan = FaultPlan::default();
        let mut rule = FaultRule::new(FaultScope::Any, FaultMode::RateLimited).count(1);
        rule.rate = 0.5;
        plan.add(rule).unwrap();
        assert!(plan.pick(Dialect::Stripe, "/p", true, |_| false).is_none());
        assert_eq!(plan.list()[0].count, Some(1));
        assert!(plan.pick(Dialect::Stripe, "/p", true, |_| true).is_some());
        assert!(plan.list().is_empty());
    }

    #[test]
    fn invalid_rules_are_refused() {
        let mut plan = FaultPlan::default();
        let mut rule = FaultRule::new(FaultScope::Any, FaultMode::RateLimited);
        rule.rate = 1.5;
        assert_eq!(plan.add(rule), Err(FaultRuleError::Rate));
        assert_eq!(
            plan.add(FaultRule::new(FaultScope::Any, FaultMode::Latency)),
            Err(FaultRuleError::Latency)
        );
    }

    #[test]
    fn webhook_rules_match_events_never_requests() {
        let mut plan = FaultPlan::default();
        plan.add(
            FaultRule::new(FaultScope::Adyen, FaultMode::WebhookDrop).event_contains("CAPTURE"),
        )
        .unwrap();
        assert!(
            plan.pick(Dialect::Adyen, "/adyen/v71/payments", true, |_| true)
                .is_none()
        );
        assert!(
            plan.pick_event(Dialect::Adyen, "AUTHORISATION", |_| true)
                .is_none()
        );
        assert!(
            plan.pick_event(Dialect::Stripe, "CAPTURE", |_| true)
                .is_none()
        );
        assert!(
            plan.pick_event(Dialect::Adyen, "CAPTURE", |_| true)
                .is_some()
        );
    }

    #[test]
    fn request_rules_never_match_events() {
        let mut plan = FaultPlan::default();
        plan.add(FaultRule::new(FaultScope::Any, FaultMode::RateLimited))
            .unwrap();
        assert!(
            plan.pick_event(Dialect::Stripe, "payment_intent.succeeded", |_| true)
                .is_none()
        );
    }

    #[test]
    fn webhook_filters_are_checked_against_the_mode() {
        let mut plan = FaultPlan::default();
        assert_eq!(
            plan.add(FaultRule::new(FaultScope::Any, FaultMode::WebhookDelay)),
            Err(FaultRuleError::Latency)
        );
        assert_eq!(
            plan.add(FaultRule::new(FaultScope::Any, FaultMode::WebhookDrop).path_contains("/x")),
            Err(FaultRuleError::PathOnWebhook)
        );
        assert_eq!(
            plan.add(FaultRule::new(FaultScope::Any, FaultMode::RateLimited).event_contains("x")),
            Err(FaultRuleError::EventOnRequest)
        );
    }

    #[test]
    fn latency_ranges_are_checked() {
        let mut plan = FaultPlan::default();
        assert_eq!(
            plan.add(
                FaultRule::new(FaultScope::Any, FaultMode::Latency)
                    .latency_ms(50)
                    .latency_ms_max(10)
            ),
            Err(FaultRuleError::LatencyRange)
        );
        assert_eq!(
            plan.add(
                FaultRule::new(FaultScope::Any, FaultMode::WebhookDelay)
                    .latency_ms(50)
                    .latency_ms_max(100)
            ),
            Err(FaultRuleError::LatencyRangeMode)
        );
        let rule: FaultRule =
            serde_json::from_str(r#"{"mode":"latency","latency_ms":5,"latency_ms_max":9}"#)
                .unwrap();
        assert_eq!(plan.add(rule).unwrap().latency_ms_max, Some(9));
    }

    #[test]
    fn modes_parse_from_their_documented_names() {
        let rule: FaultRule =
            serde_json::from_str(r#"{"mode":"500_after_charge","dialect":"adyen","count":1}"#)
                .unwrap();
        assert_eq!(rule.mode, FaultMode::Error500AfterCharge);
        assert_eq!(rule.dialect, FaultScope::Adyen);
        assert_eq!(rule.rate, 1.0);
        let rule: FaultRule = serde_json::from_str(r#"{"mode":"429"}"#).unwrap();
        assert_eq!(rule.mode, FaultMode::RateLimited);
        assert_eq!(rule.dialect, FaultScope::Any);
    }
}
