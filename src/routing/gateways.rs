//! The configured gateways and merchants of a ruleset, as routing and the
//! engine read them: already validated, with secrets expanded and kept in
//! redacting wrappers.

use std::collections::BTreeMap;

use crate::connectors::{ConnectorSettings, GatewayKind};
use crate::domain::facts::MethodKind;
use crate::domain::sensitive::Sensitive;

/// One configured gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub id: String,
    pub kind: GatewayKind,
    pub base_url: String,
    pub timeout_ms: u64,
    /// Stripe webhook signature tolerance in seconds (0 = no age check).
    pub webhook_tolerance_s: u64,
    pub merchant_account: Option<String>,
    /// Expanded values of the `credentials` map (`api_key`,
    /// `webhook_secret`, `hmac_key`, ...).
    pub credentials: BTreeMap<String, Sensitive>,
    /// Methods this gateway may be routed; `None` = the kind's defaults.
    pub methods: Option<Vec<MethodKind>>,
    /// Currencies this gateway may be routed; `None` = any.
    pub currencies: Option<Vec<String>>,
}

impl GatewayConfig {
    pub fn connector_settings(&self) -> ConnectorSettings {
        ConnectorSettings {
            id: self.id.clone(),
            kind: self.kind,
            base_url: self.base_url.trim_end_matches('/').to_string(),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            api_key: self.credentials.get("api_key").cloned().unwrap_or_default(),
            merchant_account: self.merchant_account.clone(),
        }
    }

    /// Whether this gateway may be routed a payment of `method`: its own
    /// `methods` list, else the kind's defaults.
    pub fn supports_method(&self, method: MethodKind) -> bool {
        match &self.methods {
            Some(list) => list.contains(&method),
            None => self.kind.facts().default_methods.contains(&method),
        }
    }

    /// Whether this gateway may be routed a payment in `currency`.
    pub fn supports_currency(&self, currency: &str) -> bool {
        self.currencies
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == currency))
    }
}

#[derive(Debug, Clone)]
pub struct MerchantConfig {
    pub id: String,
    pub api_key_sha256: [u8; 32],
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<Sensitive>,
}
