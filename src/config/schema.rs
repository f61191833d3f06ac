//! The rule-file schema exactly as written in YAML (design §4): strict
//! (`deny_unknown_fields`), with spans on the values that later
//! cross-checks need to point at. Nothing here is validated beyond types;
//! see `compile` for the meaning.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// One YAML file. Every top-level key is optional because a folder splits
/// the ruleset across files; lists from several files concatenate.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    #[serde(default)]
    pub gateways: Vec<RawGateway>,
    #[serde(default)]
    pub merchants: Vec<RawMerchant>,
    pub risk: Option<RawRisk>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    pub base_url: Spanned<String>,
    pub timeout_ms: Option<Spanned<u64>>,
    /// Stripe webhooks: largest accepted signature age in seconds.
    pub webhook_tolerance_s: Option<Spanned<u64>>,
    pub merchant_account: Option<String>,
    #[serde(default)]
    pub credentials: BTreeMap<String, Spanned<String>>,
    pub methods: Option<Vec<Spanned<String>>>,
    pub currencies: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMerchant {
    pub id: Spanned<String>,
    pub api_key_sha256: Spanned<String>,
    pub webhook_url: Option<Spanned<String>>,
    pub webhook_secret: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRisk {
    #[serde(default)]
    pub signals: Vec<RawSignal>,
    pub block_at: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignal {
    pub name: Spanned<String>,
    pub when: Option<RawWhen>,
    pub velocity: Option<RawVelocity>,
    pub add: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVelocity {
    pub key: Spanned<String>,
    pub window: Spanned<String>,
    pub max: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    pub when: Option<RawWhen>,
    pub gateways: Option<Spanned<Vec<Spanned<String>>>>,
    pub split: Option<Spanned<BTreeMap<String, Spanned<i64>>>>,
    pub strategy: Option<RawStrategy>,
    #[serde(default)]
    pub cascade_on_soft_decline: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawStrategy {
    Priority,
    ApprovalRate,
}

/// Conditions of a route or a risk signal. Absent keys match everything.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWhen {
    pub method: Option<Vec<Spanned<String>>>,
    pub currency: Option<Vec<Spanned<String>>>,
    pub country: Option<Vec<Spanned<String>>>,
    pub amount: Option<Spanned<RawRange<i64>>>,
    pub risk: Option<Spanned<RawRange<u32>>>,
    pub merchant: Option<Vec<Spanned<String>>>,
    pub card_network: Option<Vec<Spanned<String>>>,
    pub card_bin: Option<Vec<Spanned<String>>>,
    pub metadata: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRange<T> {
    pub min: Option<T>,
    pub max: Option<T>,
}
