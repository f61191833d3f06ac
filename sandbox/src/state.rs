//! The sandbox's shared in-memory state. Every lock is a short synchronous
//! critical section; none is held across an `.await`. Lock order, when two
//! are needed: dialect state, then ledger, then outbox, then webhook state;
//! the fault plan and the merchant-events receiver are taken alone, and the
//! rng is a leaf.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::watch;

use super::SandboxConfig;
use super::adyen::AdyenState;
use super::checkout::CheckoutState;
use super::faults::{FaultPlan, FaultRule, FaultRuleError};
use super::idempotency::IdemStore;
use super::ledger::{Dialect, Ledger, LedgerEntry, OutboxEvent};
use super::merchant_events::MerchantEvents;
use super::stripe::StripeState;
use super::webhook::WebhookState;

/// Shared state of one sandbox: ledger, idempotency caches, fault plan.
#[derive(Debug)]
pub struct Sandbox {
    pub(crate) config: SandboxConfig,
    pub(crate) stripe: Mutex<StripeState>,
    pub(crate) adyen: Mutex<AdyenState>,
    pub(crate) checkout: Mutex<CheckoutState>,
    pub(crate) ledger: Mutex<Ledger>,
    pub(crate) outbox: Mutex<Vec<OutboxEvent>>,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) idem: Mutex<IdemStore>,
    pub(crate) webhooks: Mutex<WebhookState>,
    /// What was delivered to `/__sandbox/merchant-events`.
    pub(crate) merchant_events: Mutex<MerchantEvents>,
    /// Bumped whenever the sender may have work (new event, new target).
    pub(crate) webhook_wake: watch::Sender<u64>,
    rng: Mutex<StdRng>,
}

/// Locks a mutex, recovering from poisoning: a panicked test thread must not
/// wedge the simulator, and every critical section leaves state consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Sandbox {
        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        Sandbox {
            config,
            stripe: Mutex::default(),
            adyen: Mutex::default(),
            checkout: Mutex::default(),
            ledger: Mutex::default(),
            outbox: Mutex::default(),
            faults: Mutex::default(),
            idem: Mutex::default(),
            webhooks: Mutex::default(),
            merchant_events: Mutex::default(),
            webhook_wake: watch::Sender::new(0),
            rng: Mutex::new(rng),
        }
    }

    /// Every charge recorded so far, in creation order.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        lock(&self.ledger).entries(None)
    }

    pub fn ledger_for(&self, dialect: Dialect) -> Vec<LedgerEntry> {
        lock(&self.ledger).entries(Some(dialect))
    }

    /// Live charges only (accepted and not voided), the count tests assert on.
    pub fn live_charges(&self) -> Vec<LedgerEntry> {
        self.ledger().into_iter().filter(|e| e.live).collect()
    }

    pub fn clear_ledger(&self) {
        lock(&self.ledger).clear();
    }

    /// Events waiting for the webhook sender (or for a target), oldest first.
    pub fn outbox(&self) -> Vec<OutboxEvent> {
        lock(&self.outbox).clone()
    }

    pub fn take_outbox(&self) -> Vec<OutboxEvent> {
        std::mem::take(&mut *lock(&self.outbox))
    }

    pub fn add_fault(&self, rule: FaultRule) -> Result<FaultRule, FaultRuleError> {
        lock(&self.faults).add(rule)
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.faults).list()
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub(crate) fn pick_fault(
        &self,
        dialect: Dialect,
        path: &str,
        charge_creating: bool,
    ) -> Option<FaultRule> {
        let mut plan = lock(&self.faults);
        plan.pick(dialect, path, charge_creating, |p| self.roll(p))
    }

    /// True with probability `p` (fault rates), from the seedable rng.
    pub(crate) fn roll(&self, p: f64) -> bool {
        lock(&self.rng).random_bool(p)
    }

    /// How long a `latency` rule sleeps: `latency_ms`, or a uniform draw in
    /// `[latency_ms, latency_ms_max]` from the seedable rng.
    pub(crate) fn latency_of(&self, rule: &FaultRule) -> Duration {
        let min = rule.latency_ms.unwrap_or(0);
        let ms = match rule.latency_ms_max {
            Some(max) if max > min => lock(&self.rng).random_range(min..=max),
            _ => min,
        };
        Duration::from_millis(ms)
    }

    pub(crate) fn record(&self, entry: LedgerEntry) {
        lock(&self.ledger).record(entry);
    }

    pub(crate) fn update_ledger(&self, id: &str, change: impl FnOnce(&mut LedgerEntry)) {
        lock(&self.ledger).update(id, change);
    }

    pub(crate) fn emit(&self, event: OutboxEvent) {
        lock(&self.outbox).push(event);
        self.wake_sender();
    }

    pub(crate) fn wake_sender(&self) {
        self.webhook_wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// `prefix` + `len` random characters from `alphabet`.
    fn random_id(&self, prefix: &str, len: usize, alphabet: &[u8]) -> String {
        let mut rng = lock(&self.rng);
        let mut id = String::with_capacity(prefix.len() + len);
        id.push_str(prefix);
        for _ in 0..len {
            id.push(char::from(alphabet[rng.random_range(0..alphabet.len())]));
        }
        id
    }

    /// A Stripe-style object id such as `pi_3MtwBw...`.
    pub(crate) fn stripe_id(&self, prefix: &str) -> String {
        self.random_id(prefix, 24, ALNUM)
    }

    /// A Checkout.com id such as `pay_mbabizu24mvu3mela5njyhpit4`: 26
    /// lower-case base-32 characters after the prefix.
    pub(crate) fn checkout_id(&self, prefix: &str) -> String {
        self.random_id(prefix, 26, b"abcdefghijklmnopqrstuvwxyz234567")
    }

    /// An Adyen pspReference: 16 upper-case alphanumerics.
    pub(crate) fn psp_reference(&self) -> String {
        self.random_id("", 16, &ALNUM[..36])
    }
}
