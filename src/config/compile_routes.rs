//! Validation of `when` conditions, the `risk:` block and `routes:`,
//! including the cross-checks that need gateways and merchants: unknown
//! ids, weights, and matches no gateway could ever serve.

use std::path::Path;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::RulesError;
use super::compile::{Seen, parse_currency, parse_method};
use super::load::{RawRuleset, located};
use super::schema::{RawRange, RawRoute, RawSignal, RawStrategy, RawVelocity, RawWhen};
use crate::domain::facts::CARD_NETWORKS;
use crate::domain::facts::MethodKind;
use crate::domain::when::{Bounds, When};
use crate::risk::velocity::MAX_EVENTS_PER_KEY;
use crate::risk::{MAX_SCORE, RiskRules, Signal, SignalRule, VelocityKey, VelocityRule};
use crate::routing::Strategy;
use crate::routing::routes::{Route, Target};
use crate::routing::{GatewayConfig, MerchantConfig};

const MAX_WEIGHT: i64 = 1_000_000;

pub fn compile_risk(
    raw: &RawRuleset,
    merchants: &[MerchantConfig],
) -> Result<RiskRules, RulesError> {
    let mut seen = Seen::default();
    let mut signals = Vec::with_capacity(raw.signals.len());
    for s in &raw.signals {
        seen.check(&s.file, &s.item.name, "risk signal name")?;
        signals.push(compile_signal(&s.file, &s.item, merchants)?);
    }
    let block_at = match &raw.block_at {
        None => None,
        Some(b) if b.item.value <= MAX_SCORE => Some(b.item.value),
        Some(b) => return Err(located(&b.file, &b.item, "risk.block_at must be 0..=100")),
    };
    Ok(RiskRules { signals, block_at })
}

fn compile_signal(
    file: &Path,
    s: &RawSignal,
    merchants: &[MerchantConfig],
) -> Result<Signal, RulesError> {
    if s.name.value.trim().is_empty() {
        return Err(located(file, &s.name, "risk signal name must not be empty"));
    }
    if s.add.value > MAX_SCORE {
        return Err(located(file, &s.add, "risk signal `add` must be 0..=100"));
    }
    let rule = match (&s.when, &s.velocity) {
        (Some(when), None) => {
            if let Some(r) = &when.risk {
                return Err(located(
                    file,
                    r,
                    "a risk signal cannot condition on the risk score itself",
                ));
            }
            SignalRule::When(compile_when(file, when, merchants)?)
        }
        (None, Some(v)) => SignalRule::Velocity(compile_velocity(file, v)?),
        _ => {
            let msg = format!(
                "risk signal `{}` needs exactly one of `when` or `velocity`",
                s.name.value
            );
            return Err(located(file, &s.name, msg));
        }
    };
    Ok(Signal {
        name: s.name.value.clone(),
        rule,
        add: s.add.value,
    })
}

fn compile_velocity(file: &Path, v: &RawVelocity) -> Result<VelocityRule, RulesError> {
    let key = VelocityKey::parse(&v.key.value).ok_or_else(|| {
        let msg = format!(
            "unknown velocity key `{}`; supported: card, customer, email, ip",
            v.key.value
        );
        located(file, &v.key, msg)
    })?;
    let window = parse_window(&v.window.value).ok_or_else(|| {
        let msg = format!(
            "velocity window `{}` must be a positive number with s, m, h or d (e.g. 10m)",
            v.window.value
        );
        located(file, &v.window, msg)
    })?;
    let max_allowed = u32::try_from(MAX_EVENTS_PER_KEY).unwrap_or(u32::MAX);
    if !(1..=max_allowed).contains(&v.max.value) {
        return Err(located(
            file,
            &v.max,
            format!("velocity max must be 1..={max_allowed}"),
        ));
    }
    Ok(VelocityRule {
        key,
        window,
        max: v.max.value,
    })
}

/// `30s`, `10m`, `1h`, `7d`.
pub fn parse_window(s: &str) -> Option<Duration> {
    let s = s.trim();
    // Split off the last char, not the last byte: a multi-byte unit such as
    // `1€` would otherwise cut a char in two and panic.
    let unit = s.chars().next_back()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    let n: u64 = digits.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(secs).map(Duration::from_secs)
}

pub fn compile_when(
    file: &Path,
    w: &RawWhen,
    merchants: &[MerchantConfig],
) -> Result<When, RulesError> {
    let method = list(file, "method", w.method.as_deref(), |m| {
        parse_method(file, m)
    })?;
    let currency = list(file, "currency", w.currency.as_deref(), |c| {
        parse_currency(file, c)
    })?;
    let country = list(file, "country", w.country.as_deref(), |c| {
        parse_country(file, c)
    })?;
    let merchant = list(file, "merchant", w.merchant.as_deref(), |m| {
        if merchants.iter().any(|x| x.id == m.value) {
            return Ok(m.value.clone());
        }
        Err(located(file, m, format!("unknown merchant `{}`", m.value)))
    })?;
    let card_network = list(file, "card_network", w.card_network.as_deref(), |n| {
        if CARD_NETWORKS.contains(&n.value.as_str()) {
            return Ok(n.value.clone());
        }
        let msg = format!(
            "unknown card network `{}`; supported: {}",
            n.value,
            CARD_NETWORKS.join(", ")
        );
        Err(located(file, n, msg))
    })?;
    let card_bin = list(file, "card_bin", w.card_bin.as_deref(), |b| {
        let ok = (1..=8).contains(&b.value.len()) && b.value.bytes().all(|c| c.is_ascii_digit());
        if ok {
            return Ok(b.value.clone());
        }
        Err(located(
            file,
            b,
            format!("card_bin prefix `{}` must be 1-8 digits", b.value),
        ))
    })?;
    let amount = w
        .amount
        .as_ref()
        .map(|a| bounds(file, a, 0, i64::MAX, "amount"))
        .transpose()?;
    let risk = w
        .risk
        .as_ref()
        .map(|r| bounds(file, r, 0, MAX_SCORE, "risk"))
        .transpose()?;
    let mut metadata = std::collections::BTreeMap::new();
    for (key, values) in w.metadata.iter().flatten() {
        if values.is_empty() {
            let msg = format!("when.metadata.{key}: an empty list can never match");
            return Err(RulesError::invalid(file, msg));
        }
        metadata.insert(key.clone(), values.clone());
    }
    Ok(When {
        method,
        currency,
        country,
        amount,
        risk,
        merchant,
        card_network,
        card_bin,
        metadata,
    })
}

/// Compiles an optional list; an empty list would never match anything,
/// which is always a mistake.
fn list<T>(
    file: &Path,
    key: &str,
    raw: Option<&[Spanned<String>]>,
    f: impl Fn(&Spanned<String>) -> Result<T, RulesError>,
) -> Result<Option<Vec<T>>, RulesError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return Err(RulesError::invalid(
            file,
            format!("when.{key}: an empty list can never match"),
        ));
    }
    raw.iter().map(f).collect::<Result<Vec<T>, _>>().map(Some)
}

fn parse_country(file: &Path, c: &Spanned<String>) -> Result<String, RulesError> {
    if c.value.len() == 2 && c.value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(c.value.clone());
    }
    let msg = format!(
        "country `{}` must be an upper-case ISO 3166-1 alpha-2 code",
        c.value
    );
    Err(located(file, c, msg))
}

fn bounds<T: PartialOrd + Copy + std::fmt::Display>(
    file: &Path,
    r: &Spanned<RawRange<T>>,
    lo: T,
    hi: T,
    key: &str,
) -> Result<Bounds<T>, RulesError> {
    let RawRange { min, max } = r.value;
    for v in [min, max].into_iter().flatten() {
        if v < lo || v > hi {
            return Err(located(
                file,
                r,
                format!("when.{key} bounds must be {lo}..={hi}, got {v}"),
            ));
        }
    }
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        return Err(located(
            file,
            r,
            format!("when.{key}: min {a} is greater than max {b}"),
        ));
    }
    Ok(Bounds { min, max })
}

pub fn compile_routes(
    raw: &RawRuleset,
    gateways: &[GatewayConfig],
    merchants: &[MerchantConfig],
) -> Result<Vec<Route>, RulesError> {
    let mut seen = Seen::default();
    let mut routes: Vec<Route> = Vec::with_capacity(raw.routes.len());
    for r in &raw.routes {
        let (file, item) = (&r.file, &r.item);
        seen.check(file, &item.name, "route name")?;
        if let Some(catch_all) = routes.iter().find(|x| x.when.is_empty()) {
            let msg = format!(
                "route `{}` can never match: route `{}` above it has no `when` and matches every payment",
                item.name.value, catch_all.name
            );
            return Err(located(file, &item.name, msg));
        }
        let route = compile_route(file, item, gateways, merchants)?;
        check_servable(file, item, &route, gateways)?;
        routes.push(route);
    }
    Ok(routes)
}

fn compile_route(
    file: &Path,
    r: &RawRoute,
    gateways: &[GatewayConfig],
    merchants: &[MerchantConfig],
) -> Result<Route, RulesError> {
    if r.name.value.trim().is_empty() {
        return Err(located(file, &r.name, "route name must not be empty"));
    }
    let when = match &r.when {
        Some(w) => compile_when(file, w, merchants)?,
        None => When::default(),
    };
    let target = match (&r.gateways, &r.split) {
        (Some(list), None) => Target::Priority(compile_priority(file, list, gateways)?),
        (None, Some(split)) => Target::Split(compile_split(file, split, gateways)?),
        (Some(_), Some(_)) | (None, None) => {
            let msg = format!(
                "route `{}` needs exactly one of `gateways` or `split`",
                r.name.value
            );
            return Err(located(file, &r.name, msg));
        }
    };
    let strategy = match r.strategy {
        None | Some(RawStrategy::Priority) => Strategy::Priority,
        Some(RawStrategy::ApprovalRate) => Strategy::ApprovalRate,
    };
    Ok(Route {
        name: r.name.value.clone(),
        when,
        target,
        strategy,
        cascade_on_soft_decline: r.cascade_on_soft_decline,
    })
}

fn known_gateway<T>(
    file: &Path,
    id: &str,
    at: &Spanned<T>,
    gateways: &[GatewayConfig],
) -> Result<(), RulesError> {
    if gateways.iter().any(|g| g.id == id) {
        return Ok(());
    }
    let known: Vec<&str> = gateways.iter().map(|g| g.id.as_str()).collect();
    let msg = format!(
        "unknown gateway `{id}`; configured gateways: {}",
        known.join(", ")
    );
    Err(located(file, at, msg))
}

fn compile_priority(
    file: &Path,
    list: &Spanned<Vec<Spanned<String>>>,
    gateways: &[GatewayConfig],
) -> Result<Vec<String>, RulesError> {
    if list.value.is_empty() {
        return Err(located(file, list, "route gateways list is empty"));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.value.len());
    for id in &list.value {
        known_gateway(file, &id.value, id, gateways)?;
        if out.contains(&id.value) {
            return Err(located(
                file,
                id,
                format!("gateway `{}` is listed twice in this route", id.value),
            ));
        }
        out.push(id.value.clone());
    }
    Ok(out)
}

/// Weight descending (ties by id) so failover order is deterministic.
fn compile_split(
    file: &Path,
    split: &Spanned<std::collections::BTreeMap<String, Spanned<i64>>>,
    gateways: &[GatewayConfig],
) -> Result<Vec<(String, u32)>, RulesError> {
    if split.value.is_empty() {
        return Err(located(file, split, "route split is empty"));
    }
    let mut out = Vec::with_capacity(split.value.len());
    for (id, weight) in &split.value {
        // The key has no span of its own; its value sits right beside it.
        known_gateway(file, id, weight, gateways)?;
        if !(1..=MAX_WEIGHT).contains(&weight.value) {
            let msg = format!(
                "split weight for `{id}` must be a positive integer up to {MAX_WEIGHT}, got {}",
                weight.value
            );
            return Err(located(file, weight, msg));
        }
        // In range 1..=MAX_WEIGHT, checked just above.
        let w = u32::try_from(weight.value).unwrap_or(u32::MAX);
        out.push((id.clone(), w));
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// A route whose `when` restricts method or currency must have at least one
/// gateway that accepts such a payment; otherwise every match would fail.
fn check_servable(
    file: &Path,
    raw: &RawRoute,
    route: &Route,
    gateways: &[GatewayConfig],
) -> Result<(), RulesError> {
    let methods = route.when.method.as_deref();
    let currencies = route.when.currency.as_deref();
    if methods.is_none() && currencies.is_none() {
        return Ok(());
    }
    let servable = route
        .target
        .gateway_ids()
        .iter()
        .filter_map(|id| gateways.iter().find(|g| g.id == *id))
        .any(|g| {
            methods.is_none_or(|ms| ms.iter().any(|m| g.supports_method(*m)))
                && currencies.is_none_or(|cs| cs.iter().any(|c| g.supports_currency(c)))
        });
    if servable {
        return Ok(());
    }
    let methods: Vec<&str> = methods
        .unwrap_or_default()
        .iter()
        .map(|m: &MethodKind| m.as_str())
        .collect();
    let what = match (methods.is_empty(), currencies) {
        (false, Some(c)) => format!("method {} in currency {}", methods.join("/"), c.join("/")),
        (false, None) => format!("method {}", methods.join("/")),
        (true, Some(c)) => format!("currency {}", c.join("/")),
        (true, None) => String::new(),
    };
    let msg = format!(
        "route `{}` can never be served: none of its gateways ({}) accepts {what}",
        route.name,
        route.target.gateway_ids().join(", ")
    );
    Err(located(file, &raw.name, msg))
}
