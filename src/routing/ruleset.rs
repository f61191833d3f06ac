//! The compiled, immutable [`Ruleset`] and its read-only accessors. The
//! rule-file compiler (`config`) builds one; the server holds it behind an
//! `ArcSwap` and swaps whole rulesets.

use std::fmt::Write as _;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::routes::{Route, Target};
use super::{Decision, GatewayConfig, MerchantConfig};
use crate::domain::facts::PaymentFacts;
use crate::risk::{RiskRules, Velocity};

/// One loaded ruleset: every file of the rules folder, validated together.
#[derive(Debug, Clone)]
pub struct Ruleset {
    /// First 12 hex chars of the SHA-256 of file names and contents: an
    /// unchanged folder always has the same version.
    pub version: String,
    /// The files that formed this ruleset, in processing order.
    pub files: Vec<PathBuf>,
    pub gateways: Vec<GatewayConfig>,
    pub merchants: Vec<MerchantConfig>,
    pub risk: RiskRules,
    /// In file order; the first match wins.
    pub routes: Vec<Route>,
}

impl Ruleset {
    pub fn gateway(&self, id: &str) -> Option<&GatewayConfig> {
        self.gateways.iter().find(|g| g.id == id)
    }

    pub fn merchant(&self, id: &str) -> Option<&MerchantConfig> {
        self.merchants.iter().find(|m| m.id == id)
    }

    /// The merchant whose API key hashes to `api_key_sha256`. Every merchant
    /// is compared, in constant time each, so timing does not reveal how
    /// much of a hash matched.
    pub fn merchant_for_key(&self, bearer_key: &str) -> Option<&MerchantConfig> {
        let digest: [u8; 32] = Sha256::digest(bearer_key.as_bytes()).into();
        let mut found = None;
        for merchant in &self.merchants {
            let equal: bool = merchant.api_key_sha256.ct_eq(&digest).into();
            if equal && found.is_none() {
                found = Some(merchant);
            }
        }
        found
    }

    /// The routing decision for a payment: risk, matching route, ordered
    /// candidates. Pure: reads `velocity` but never records into it.
    pub fn decide(&self, facts: &PaymentFacts, velocity: &Velocity) -> Decision {
        super::decide::decide(self, facts, velocity)
    }

    /// Human summary for `payroute rules check`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ruleset {} ({} file{})",
            self.version,
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" }
        );
        let _ = writeln!(out, "gateways ({}):", self.gateways.len());
        for g in &self.gateways {
            let _ = writeln!(out, "  {}  {}  {}", g.id, g.kind.as_str(), g.base_url);
        }
        let ids: Vec<&str> = self.merchants.iter().map(|m| m.id.as_str()).collect();
        let _ = writeln!(out, "merchants ({}): {}", ids.len(), ids.join(", "));
        let block = self
            .risk
            .block_at
            .map_or_else(|| "never blocks".to_string(), |b| format!("blocks at {b}"));
        let _ = writeln!(out, "risk: {} signal(s), {block}", self.risk.signals.len());
        let _ = writeln!(out, "routes ({}):", self.routes.len());
        for (i, r) in self.routes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {}: {} -> {}",
                i + 1,
                r.name,
                r.when.describe(),
                describe_target(&r.target)
            );
        }
        out
    }
}

fn describe_target(target: &Target) -> String {
    match target {
        Target::Priority(ids) => ids.join(", "),
        Target::Split(w) => {
            let parts: Vec<String> = w.iter().map(|(id, n)| format!("{id}={n}")).collect();
            format!("split {}", parts.join(", "))
        }
    }
}
