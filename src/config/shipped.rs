//! The secrets the repository ships: every `${VAR:-default}` default in the
//! shipped `routing-rules/` files. They are public (anyone can read them in
//! git), so a production payroute whose gateway or merchant secrets resolve
//! to one of them would accept forged webhooks. `serve` refuses such a
//! ruleset unless it runs the sandbox.

use crate::routing::Ruleset;

/// The shipped rule files, as built into the binary.
const SHIPPED: &[&str] = &[
    include_str!("../../routing-rules/gateways.yaml"),
    include_str!("../../routing-rules/merchants.yaml"),
];

/// A secret of the ruleset that resolves to a value the repository ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedSecret {
    /// `gateway stripe_sandbox` or `merchant demo`.
    pub owner: String,
    /// The setting, e.g. `credentials.webhook_secret`.
    pub setting: String,
    /// The environment variable the shipped files read it from.
    pub variable: String,
}

impl std::fmt::Display for ShippedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} has the repository's public default; set {}",
            self.owner, self.setting, self.variable
        )
    }
}

/// `(variable, default)` of every `${VAR:-default}` in the shipped files.
fn shipped_defaults() -> Vec<(&'static str, &'static str)> {
    let mut found = Vec::new();
    for text in SHIPPED {
        let mut rest = *text;
        while let Some(start) = rest.find("${") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find('}') else { break };
            if let Some((var, default)) = rest[..end].split_once(":-")
                && !default.is_empty()
            {
                found.push((var, default));
            }
            rest = &rest[end + 1..];
        }
    }
    found
}

/// Every secret of a ruleset that resolves to a shipped default, as one
/// message naming each owner, setting and variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ShippedSecrets(pub Vec<ShippedSecret>);

/// `Err` when any secret of `ruleset` resolves to a shipped default.
pub fn check(ruleset: &Ruleset) -> Result<(), ShippedSecrets> {
    let found = shipped_secrets(ruleset);
    if found.is_empty() {
        Ok(())
    } else {
        Err(ShippedSecrets(found))
    }
}

/// The secrets of `ruleset` that resolve to a shipped default.
pub fn shipped_secrets(ruleset: &Ruleset) -> Vec<ShippedSecret> {
    let defaults = shipped_defaults();
    let variable = |value: &str| {
        defaults
            .iter()
            .find(|(_, d)| *d == value)
            .map(|(v, _)| v.to_string())
    };
    let mut out = Vec::new();
    for g in &ruleset.gateways {
        for (name, value) in &g.credentials {
            if let Some(var) = variable(value.expose()) {
                out.push(ShippedSecret {
                    owner: format!("gateway {}", g.id),
                    setting: format!("credentials.{name}"),
                    variable: var,
                });
            }
        }
    }
    for m in &ruleset.merchants {
        if let Some(var) = m.webhook_secret.as_ref().and_then(|s| variable(s.expose())) {
            out.push(ShippedSecret {
                owner: format!("merchant {}", m.id),
                setting: "webhook_secret".into(),
                variable: var,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_defaults_are_found_with_their_variables() {
        let d = shipped_defaults();
        assert!(d.contains(&("STRIPE_WEBHOOK_SECRET", "whsec_sandbox_secret")));
        assert!(d.iter().any(|(v, _)| *v == "ADYEN_HMAC_KEY"));
    }

    #[test]
    fn the_checkout_com_sandbox_key_and_signature_key_are_shipped_secrets() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
        let rs = crate::config::load_with_env(&dir, &|_| None).unwrap();
        let found = shipped_secrets(&rs);
        for (setting, variable) in [
            ("credentials.api_key", "CHECKOUT_API_KEY"),
            ("credentials.webhook_secret", "CHECKOUT_WEBHOOK_SECRET"),
        ] {
            assert!(
                found.iter().any(|s| s.owner == "gateway checkout_sandbox"
                    && s.setting == setting
                    && s.variable == variable),
                "{setting} in {found:?}"
            );
        }
    }

    #[test]
    fn the_shipped_rules_with_no_environment_use_shipped_secrets_and_set_variables_clear_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
        let rs = crate::config::load_with_env(&dir, &|_| None).unwrap();
        let found = shipped_secrets(&rs);
        assert!(found.iter().any(|s| s.owner == "gateway stripe_sandbox"
            && s.setting == "credentials.webhook_secret"
            && s.variable == "STRIPE_WEBHOOK_SECRET"));
        assert!(found.iter().any(|s| s.owner == "merchant demo"));
        let env = |name: &str| match name {
            "DEMO_WEBHOOK_URL" => Some("https://merchant.example/events".to_string()),
            "ADYEN_HMAC_KEY" => Some("00112233445566778899AABBCCDDEEFF".repeat(2)),
            _ => Some(format!("{name}-set-by-the-operator")),
        };
        let rs = crate::config::load_with_env(&dir, &env).unwrap();
        assert_eq!(shipped_secrets(&rs), vec![]);
    }
}
