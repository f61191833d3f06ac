//! Raw rule files → validated [`Ruleset`]: gateways and merchants here,
//! conditions, risk and routes in `compile_routes`. Every check that can
//! point at a value does, as `file:line:col`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_saphyr::Spanned;

use super::env::{EnvLookup, expand_optional_ref, expand_secret};
use super::load::{RawRuleset, Sourced, located};
use super::schema::{RawGateway, RawMerchant};
use super::{RulesError, compile_routes};
use crate::connectors::GatewayKind;
use crate::connectors::gateway::KindConfig;
use crate::domain::facts::MethodKind;
use crate::domain::money::Currency;
use crate::domain::sensitive::Sensitive;
use crate::routing::{GatewayConfig, MerchantConfig, Ruleset};

pub const DEFAULT_TIMEOUT_MS: u64 = 8000;
const MAX_TIMEOUT_MS: u64 = 120_000;
pub const SUPPORTED_METHODS: &str = "card, apple_pay, google_pay, sepa_debit, gateway_token";

pub fn compile(raw: RawRuleset, env: EnvLookup<'_>) -> Result<Ruleset, RulesError> {
    if raw.gateways.is_empty() {
        return Err(RulesError::invalid(
            &raw.root,
            "no gateways configured; at least one is required",
        ));
    }
    let gateways = compile_gateways(&raw.gateways, env)?;
    let merchants = compile_merchants(&raw.merchants, env)?;
    let risk = compile_routes::compile_risk(&raw, &merchants)?;
    let routes = compile_routes::compile_routes(&raw, &gateways, &merchants)?;
    Ok(Ruleset {
        version: raw.version,
        files: raw.files,
        gateways,
        merchants,
        risk,
        routes,
    })
}

/// Ids appear in URLs (`/webhooks/{gateway_id}`) and metric labels.
pub fn check_id(file: &Path, id: &Spanned<String>, what: &str) -> Result<(), RulesError> {
    let ok = !id.value.is_empty()
        && id.value.len() <= 64
        && id
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        return Ok(());
    }
    let msg = format!(
        "{what} `{}` must be 1-64 characters of A-Z, a-z, 0-9, `_` or `-`",
        id.value
    );
    Err(located(file, id, msg))
}

/// Remembers where each id was first defined to name it in duplicate errors.
#[derive(Default)]
pub struct Seen(HashMap<String, String>);

impl Seen {
    pub fn check(
        &mut self,
        file: &Path,
        id: &Spanned<String>,
        what: &str,
    ) -> Result<(), RulesError> {
        let here = format!("{}:{}", file.display(), id.referenced.line());
        if let Some(first) = self.0.insert(id.value.clone(), here) {
            let msg = format!("duplicate {what} `{}` (first defined at {first})", id.value);
            return Err(located(file, id, msg));
        }
        Ok(())
    }
}

fn compile_gateways(
    raw: &[Sourced<RawGateway>],
    env: EnvLookup<'_>,
) -> Result<Vec<GatewayConfig>, RulesError> {
    let mut seen = Seen::default();
    let mut out = Vec::with_capacity(raw.len());
    for Sourced { file, item } in raw {
        check_id(file, &item.id, "gateway id")?;
        seen.check(file, &item.id, "gateway id")?;
        out.push(compile_gateway(file, item, env)?);
    }
    Ok(out)
}

/// Stripe's documented default signature tolerance.
const DEFAULT_WEBHOOK_TOLERANCE_S: u64 = 300;
/// A signature older than a day is a replay, not a slow delivery.
const MAX_WEBHOOK_TOLERANCE_S: u64 = 86_400;

fn compile_gateway(
    file: &Path,
    g: &RawGateway,
    env: EnvLookup<'_>,
) -> Result<GatewayConfig, RulesError> {
    let kind = GatewayKind::parse(&g.kind.value).ok_or_else(|| {
        let supported: Vec<_> = GatewayKind::ALL.iter().map(|k| k.as_str()).collect();
        let msg = format!(
            "unknown gateway kind `{}`; supported kinds: {}",
            g.kind.value,
            supported.join(", ")
        );
        located(file, &g.kind, msg)
    })?;
    check_url(file, &g.base_url.value, &g.base_url, "base_url")?;
    let timeout_ms = match &g.timeout_ms {
        None => DEFAULT_TIMEOUT_MS,
        Some(t) if (1..=MAX_TIMEOUT_MS).contains(&t.value) => t.value,
        Some(t) => {
            return Err(located(
                file,
                t,
                format!("timeout_ms must be 1..={MAX_TIMEOUT_MS}"),
            ));
        }
    };
    let webhook_tolerance_s = match &g.webhook_tolerance_s {
        None => DEFAULT_WEBHOOK_TOLERANCE_S,
        Some(t) if t.value <= MAX_WEBHOOK_TOLERANCE_S => t.value,
        Some(t) => {
            let msg = format!(
                "webhook_tolerance_s must be 0..={MAX_WEBHOOK_TOLERANCE_S} (0 turns the age check off)"
            );
            return Err(located(file, t, msg));
        }
    };
    let setup = KindConfig {
        id: &g.id.value,
        base_url: &g.base_url.value,
        merchant_account: g.merchant_account.as_deref(),
    };
    if let Err(e) = kind.check_config(&setup) {
        return Err(located(
            file,
            &g.id,
            format!("gateway `{}`: {e}", g.id.value),
        ));
    }
    Ok(GatewayConfig {
        id: g.id.value.clone(),
        kind,
        base_url: g.base_url.value.clone(),
        timeout_ms,
        webhook_tolerance_s,
        merchant_account: g.merchant_account.clone(),
        credentials: compile_credentials(file, g, kind, env)?,
        methods: compile_methods(file, g.methods.as_deref())?,
        currencies: compile_currencies(file, g.currencies.as_deref())?,
    })
}

fn check_url<T>(file: &Path, url: &str, at: &Spanned<T>, what: &str) -> Result<(), RulesError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_some_and(|r| !r.is_empty()) {
        return Ok(());
    }
    Err(located(
        file,
        at,
        format!("{what} must be an http:// or https:// URL, got `{url}`"),
    ))
}

fn compile_credentials(
    file: &Path,
    g: &RawGateway,
    kind: GatewayKind,
    env: EnvLookup<'_>,
) -> Result<BTreeMap<String, Sensitive>, RulesError> {
    let mut out = BTreeMap::new();
    for (name, value) in &g.credentials {
        let expanded = expand_secret(&value.value, env)
            .map_err(|e| located(file, value, format!("credentials.{name}: {e}")))?;
        out.insert(name.clone(), Sensitive(expanded));
    }
    for required in kind.facts().required_credentials {
        if !out.contains_key(*required) {
            let msg = format!(
                "gateway `{}`: credentials.{required} is required",
                g.id.value
            );
            return Err(located(file, &g.id, msg));
        }
    }
    Ok(out)
}

pub fn parse_method(file: &Path, m: &Spanned<String>) -> Result<MethodKind, RulesError> {
    MethodKind::parse(&m.value).ok_or_else(|| {
        let msg = format!(
            "unknown payment method `{}`; supported: {SUPPORTED_METHODS}",
            m.value
        );
        located(file, m, msg)
    })
}

pub fn parse_currency(file: &Path, c: &Spanned<String>) -> Result<String, RulesError> {
    match Currency::from_code(&c.value) {
        Some(cur) => Ok(cur.code().to_string()),
        None => {
            let msg = format!(
                "unknown currency `{}`; expected an upper-case ISO 4217 code",
                c.value
            );
            Err(located(file, c, msg))
        }
    }
}

fn compile_methods(
    file: &Path,
    raw: Option<&[Spanned<String>]>,
) -> Result<Option<Vec<MethodKind>>, RulesError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return Err(RulesError::invalid(
            file,
            "gateway methods list is empty; omit it to allow the kind's defaults",
        ));
    }
    raw.iter()
        .map(|m| parse_method(file, m))
        .collect::<Result<_, _>>()
        .map(Some)
}

fn compile_currencies(
    file: &Path,
    raw: Option<&[Spanned<String>]>,
) -> Result<Option<Vec<String>>, RulesError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return Err(RulesError::invalid(
            file,
            "gateway currencies list is empty; omit it to allow any",
        ));
    }
    raw.iter()
        .map(|c| parse_currency(file, c))
        .collect::<Result<_, _>>()
        .map(Some)
}

fn compile_merchants(
    raw: &[Sourced<RawMerchant>],
    env: EnvLookup<'_>,
) -> Result<Vec<MerchantConfig>, RulesError> {
    let mut seen = Seen::default();
    let mut out = Vec::with_capacity(raw.len());
    for Sourced { file, item } in raw {
        check_id(file, &item.id, "merchant id")?;
        seen.check(file, &item.id, "merchant id")?;
        out.push(compile_merchant(file, item, env)?);
    }
    Ok(out)
}

fn compile_merchant(
    file: &Path,
    m: &RawMerchant,
    env: EnvLookup<'_>,
) -> Result<MerchantConfig, RulesError> {
    let hash = &m.api_key_sha256;
    let bytes: [u8; 32] = hex::decode(hash.value.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            located(
                file,
                hash,
                "api_key_sha256 must be 64 hex characters (the SHA-256 of the API key)",
            )
        })?;
    let webhook_url = match &m.webhook_url {
        None => None,
        Some(u) => {
            let url = expand_optional_ref(&u.value, env)
                .map_err(|e| located(file, u, format!("webhook_url: {e}")))?;
            check_url(file, &url, u, "webhook_url")?;
            Some(url)
        }
    };
    let webhook_secret = match &m.webhook_secret {
        None => None,
        Some(s) => {
            let v = expand_secret(&s.value, env)
                .map_err(|e| located(file, s, format!("webhook_secret: {e}")))?;
            Some(Sensitive(v))
        }
    };
    Ok(MerchantConfig {
        id: m.id.value.clone(),
        api_key_sha256: bytes,
        webhook_url,
        webhook_secret,
    })
}
