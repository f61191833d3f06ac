//! The registry of gateway kinds: one line per gateway at the bottom of
//! this file. From it [`gateways!`] generates [`GatewayKind`] (which kind a
//! configured gateway is, with its facts, config check, webhook verification
//! and normalisation) and [`Connector`] (one configured gateway, ready to
//! call), each a `match` over the registered kinds that calls the kind's
//! [`Gateway`] implementation. Adding a gateway: its folder implementing
//! [`Gateway`], one line below, and the kind in the rule files' docs.

use super::gateway::{Gateway, KindConfig, KindConfigError, KindFacts};
use super::webhook::{Delivery, GatewayEvent, NormalizeError, Verified, VerifyError};
use super::{
    AuthorizationQuery, AuthorizeRequest, CancelRequest, CaptureRequest, ConnectorSettings,
    HttpClient, RefundRequest, adyen, checkout, stripe,
};
use crate::domain::outcome::{Lookup, Outcome};

/// `Variant => ConnectorType` per gateway, in the order kinds are listed
/// to operators.
macro_rules! gateways {
    ($($kind:ident => $connector:ty),+ $(,)?) => {
        /// Which gateway API dialect a configured gateway speaks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum GatewayKind {
            $($kind),+
        }

        impl GatewayKind {
            /// Every registered kind, in registration order.
            pub const ALL: &'static [GatewayKind] = &[$(GatewayKind::$kind),+];

            pub fn facts(self) -> &'static KindFacts {
                match self {
                    $(GatewayKind::$kind => &<$connector as Gateway>::FACTS),+
                }
            }

            pub fn check_config(self, config: &KindConfig<'_>) -> Result<(), KindConfigError> {
                match self {
                    $(GatewayKind::$kind => <$connector as Gateway>::check_config(config)),+
                }
            }

            pub fn verify_webhook(self, delivery: &Delivery<'_>) -> Result<Verified, VerifyError> {
                match self {
                    $(GatewayKind::$kind => <$connector as Gateway>::verify_webhook(delivery)),+
                }
            }

            pub fn normalize(self, payload: &[u8]) -> Result<GatewayEvent, NormalizeError> {
                match self {
                    $(GatewayKind::$kind => <$connector as Gateway>::normalize(payload)),+
                }
            }
        }

        /// One configured gateway, ready to call.
        #[derive(Debug, Clone)]
        pub enum Connector {
            $($kind($connector)),+
        }

        impl Connector {
            pub fn new(settings: ConnectorSettings, client: HttpClient) -> Connector {
                match settings.kind {
                    $(GatewayKind::$kind => {
                        Connector::$kind(<$connector as Gateway>::new(settings, client))
                    }),+
                }
            }

            pub fn settings(&self) -> &ConnectorSettings {
                match self {
                    $(Connector::$kind(c) => c.settings()),+
                }
            }

            pub async fn authorize(&self, req: &AuthorizeRequest) -> Outcome {
                match self {
                    $(Connector::$kind(c) => c.authorize(req).await),+
                }
            }

            pub async fn capture(&self, req: &CaptureRequest) -> Outcome {
                match self {
                    $(Connector::$kind(c) => c.capture(req).await),+
                }
            }

            pub async fn cancel(&self, req: &CancelRequest) -> Outcome {
                match self {
                    $(Connector::$kind(c) => c.cancel(req).await),+
                }
            }

            pub async fn refund(&self, req: &RefundRequest) -> Outcome {
                match self {
                    $(Connector::$kind(c) => c.refund(req).await),+
                }
            }

            /// See [`Gateway::find_authorization`].
            pub async fn find_authorization(&self, q: &AuthorizationQuery) -> Lookup {
                match self {
                    $(Connector::$kind(c) => c.find_authorization(q).await),+
                }
            }

            /// See [`Gateway::reverse`]; an empty `known` counts as none.
            pub async fn reverse(
                &self,
                payment_id: &str,
                known: Option<&str>,
                idempotency_key: &str,
            ) -> Outcome {
                let known = known.filter(|r| !r.is_empty());
                match self {
                    $(Connector::$kind(c) => c.reverse(payment_id, known, idempotency_key).await),+
                }
            }
        }
    };
}

impl GatewayKind {
    /// The kind a rule file names, if registered.
    pub fn parse(s: &str) -> Option<GatewayKind> {
        GatewayKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        self.facts().name
    }
}

gateways! {
    Stripe => stripe::StripeConnector,
    Adyen => adyen::AdyenConnector,
    Checkout => checkout::CheckoutConnector,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name_and_names_are_unique() {
        for kind in GatewayKind::ALL {
            assert_eq!(GatewayKind::parse(kind.as_str()), Some(*kind));
        }
        let mut names: Vec<_> = GatewayKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), GatewayKind::ALL.len());
        assert_eq!(GatewayKind::parse("braintree"), None);
    }

    #[test]
    fn every_kind_requires_an_api_key_and_names_a_webhook_secret() {
        for kind in GatewayKind::ALL {
            let facts = kind.facts();
            assert!(facts.required_credentials.contains(&"api_key"), "{kind:?}");
            assert!(!facts.webhook_secret.is_empty(), "{kind:?}");
            assert!(!facts.default_methods.is_empty(), "{kind:?}");
        }
    }
}
