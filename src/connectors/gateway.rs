//! The one interface every gateway implements: [`Gateway`]. A gateway's
//! folder (`stripe/`, `adyen/`, ...) implements it on its connector type;
//! `registry` lists the kinds, one line each, and generates the
//! [`GatewayKind`](super::GatewayKind) and [`Connector`](super::Connector)
//! enums that dispatch to them. Nothing outside the folders matches on a kind.
//!
//! Why a trait behind enums rather than `Box<dyn Trait>` with `async-trait`:
//! the set of gateways is closed at compile time, so an enum dispatches with
//! a `match` and the call's future lives inline (no box per call on the
//! payment hot path, no vtable, no lock); exhaustive matches keep pointing
//! at every place a new kind must be handled; and code that names a kind
//! (`GatewayKind::Stripe`) keeps compiling. The trait still states the
//! contract in one place, so the compiler lists what a new gateway lacks.
//! Its async methods return `impl Future + Send` (native async in traits);
//! implementations write them as `async fn`.

use std::future::Future;

use super::webhook::{Delivery, GatewayEvent, NormalizeError, Verified, VerifyError};
use super::{
    AuthorizationQuery, AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings,
    HttpClient, RefundRequest,
};
use crate::domain::facts::MethodKind;
use crate::domain::outcome::{Lookup, Outcome};

/// What is true of a gateway kind whatever its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindFacts {
    /// The rule files' `kind` value (`stripe`), also used in logs.
    pub name: &'static str,
    /// Credentials every gateway of this kind must configure.
    pub required_credentials: &'static [&'static str],
    /// The credential that verifies webhook signatures; during a rotation
    /// `<name>_previous` verifies too.
    pub webhook_secret: &'static str,
    /// The methods a gateway of this kind is routed when its rule lists none.
    pub default_methods: &'static [MethodKind],
}

/// The configured values a kind may check beyond the common ones, taken from
/// a rule file before credentials are expanded.
#[derive(Debug, Clone, Copy)]
pub struct KindConfig<'a> {
    pub id: &'a str,
    pub base_url: &'a str,
    pub merchant_account: Option<&'a str>,
}

/// Why a kind refuses a configured gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindConfigError {
    /// A setting this kind cannot work without.
    #[error("{setting} is required for kind {kind}")]
    Required {
        setting: &'static str,
        kind: &'static str,
    },
}

/// One gateway API dialect: its calls, its webhooks and its static facts.
///
/// Calls never fail in Rust's sense: every failure, before or after sending,
/// is classified into the [`Outcome`] (or [`Lookup`]) taxonomy, so the
/// engine decides on the class, never on a gateway's error type.
pub trait Gateway: std::fmt::Debug + Clone + Send + Sync + Sized + 'static {
    /// Name, credentials and default methods of the kind.
    const FACTS: KindFacts;

    /// A connector for one configured gateway, sharing the HTTP client.
    fn new(settings: ConnectorSettings, client: HttpClient) -> Self;

    fn settings(&self) -> &ConnectorSettings;

    fn authorize(&self, req: &AuthorizeRequest) -> impl Future<Output = Outcome> + Send;

    fn capture(&self, req: &CaptureRequest) -> impl Future<Output = Outcome> + Send;

    fn cancel(&self, req: &CancelRequest) -> impl Future<Output = Outcome> + Send;

    fn refund(&self, req: &RefundRequest) -> impl Future<Output = Outcome> + Send;

    /// What the gateway knows of the authorization payroute attempted for
    /// `q.payment_id`. Read-only: never moves money.
    fn find_authorization(&self, q: &AuthorizationQuery) -> impl Future<Output = Lookup> + Send;

    /// Undoes whatever the gateway holds for payroute's payment: by
    /// payroute's reference when payroute never learned the gateway's (a
    /// "timeout reversal"). Each dialect documents its replies; in short:
    /// - `Succeeded { effect: Voided | Refunded }`: released now (Stripe);
    ///   `Succeeded { provider_reference: "", effect: Voided }` means the
    ///   gateway shows nothing to reverse (Stripe search, see the Stripe
    ///   connector's `SEARCH_LAG`);
    /// - `Pending { provider_reference }`: accepted, confirmed later by
    ///   webhook (Adyen TECHNICAL_CANCEL; a pending Stripe refund);
    /// - `Unavailable`: nothing was done (the lookup failed), try later;
    /// - anything else as for [`Gateway::cancel`] / [`Gateway::refund`].
    ///
    /// `known` is the gateway's own reference when one of its events named
    /// the payment (a late authorization), never empty: then the reversal
    /// acts on that payment directly, captured or not (Stripe: read the
    /// PaymentIntent, cancel or refund; Adyen: `/payments/{psp}/reversals`,
    /// which cancels or refunds, where a standalone `/cancels` cannot undo a
    /// capture).
    fn reverse(
        &self,
        payment_id: &str,
        known: Option<&str>,
        idempotency_key: &str,
    ) -> impl Future<Output = Outcome> + Send;

    /// Kind-specific checks of a configured gateway (Adyen: a merchant
    /// account). Most kinds need none.
    fn check_config(_config: &KindConfig<'_>) -> Result<(), KindConfigError> {
        Ok(())
    }

    /// Verifies one raw webhook delivery and splits it into the events to
    /// store (each under its unique provider event id, payload as it will be
    /// normalized later) and the acknowledgement the gateway expects.
    fn verify_webhook(delivery: &Delivery<'_>) -> Result<Verified, VerifyError>;

    /// Normalizes one stored payload (as [`Gateway::verify_webhook`] stored it).
    fn normalize(payload: &[u8]) -> Result<GatewayEvent, NormalizeError>;
}
