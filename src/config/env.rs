//! `${VAR}` / `${VAR:-default}` references in rule files. Secrets must be
//! references (a literal secret in a file that lands in git is refused);
//! a few non-secret values (webhook URLs) may be either.

/// How rule loading looks up environment variables; injectable so tests do
/// not depend on (or mutate) the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as used by [`crate::config::load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error(
        "a literal value is not allowed here; use an environment reference like ${{VAR}} or ${{VAR:-default}}"
    )]
    Literal,
    #[error("malformed environment reference `{0}`: expected ${{VAR}} or ${{VAR:-default}}")]
    Malformed(String),
    #[error("environment variable {0} is not set and the reference has no default")]
    Missing(String),
    #[error("environment reference ${{{0}}} expands to an empty value")]
    Empty(String),
}

/// A parsed `${NAME}` or `${NAME:-default}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference<'s> {
    name: &'s str,
    default: Option<&'s str>,
}

/// `Ok(None)` when `value` is not a reference at all (a literal).
fn parse_reference(value: &str) -> Result<Option<Reference<'_>>, EnvError> {
    let trimmed = value.trim();
    let Some(inner) = trimmed.strip_prefix("${") else {
        if trimmed.contains("${") {
            return Err(EnvError::Malformed(value.to_string()));
        }
        return Ok(None);
    };
    let malformed = || EnvError::Malformed(value.to_string());
    let inner = inner.strip_suffix('}').ok_or_else(malformed)?;
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    if !is_var_name(name) {
        return Err(malformed());
    }
    Ok(Some(Reference { name, default }))
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolves a reference like a POSIX shell does: `:-` also replaces a set but
/// empty variable.
fn resolve(r: &Reference<'_>, env: EnvLookup<'_>) -> Result<String, EnvError> {
    let found = env(r.name).filter(|v| !v.is_empty() || r.default.is_none());
    let value = match (found, r.default) {
        (Some(v), _) => v,
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err(EnvError::Missing(r.name.to_string())),
    };
    if value.is_empty() {
        return Err(EnvError::Empty(r.name.to_string()));
    }
    Ok(value)
}

/// A secret: the value must be exactly one reference, and must expand to a
/// non-empty string.
pub fn expand_secret(value: &str, env: EnvLookup<'_>) -> Result<String, EnvError> {
    let r = parse_reference(value)?.ok_or(EnvError::Literal)?;
    resolve(&r, env)
}

/// A non-secret setting: either a literal or exactly one reference.
pub fn expand_optional_ref(value: &str, env: EnvLookup<'_>) -> Result<String, EnvError> {
    match parse_reference(value)? {
        Some(r) => resolve(&r, env),
        None => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(name: &'static str, value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |n: &str| (n == name).then(|| value.to_string())
    }

    #[test]
    fn set_variable_wins_over_default() {
        let env = env_with("KEY", "from_env");
        assert_eq!(expand_secret("${KEY:-dflt}", &env).unwrap(), "from_env");
        assert_eq!(expand_secret("${KEY}", &env).unwrap(), "from_env");
    }

    #[test]
    fn default_used_when_unset_or_empty() {
        let unset = |_: &str| None;
        assert_eq!(expand_secret("${KEY:-dflt}", &unset).unwrap(), "dflt");
        let empty = env_with("KEY", "");
        assert_eq!(expand_secret("${KEY:-dflt}", &empty).unwrap(), "dflt");
    }

    #[test]
    fn missing_variable_without_default_names_it() {
        let err = expand_secret("${STRIPE_API_KEY}", &|_: &str| None).unwrap_err();
        assert_eq!(err, EnvError::Missing("STRIPE_API_KEY".into()));
        assert!(err.to_string().contains("STRIPE_API_KEY"));
    }

    #[test]
    fn literal_secret_is_refused() {
        let err = expand_secret("sk_live_abc", &|_: &str| None).unwrap_err();
        assert_eq!(err, EnvError::Literal);
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "${}",
            "${1X}",
            "${KEY",
            "prefix-${KEY}",
            "${KEY}suffix",
            "${A B}",
        ] {
            let got = expand_secret(bad, &|_: &str| Some("v".into()));
            assert!(matches!(got, Err(EnvError::Malformed(_))), "{bad}: {got:?}");
        }
    }

    #[test]
    fn empty_expansion_is_refused() {
        let empty = env_with("KEY", "");
        assert_eq!(
            expand_secret("${KEY}", &empty),
            Err(EnvError::Empty("KEY".into()))
        );
    }

    #[test]
    fn optional_ref_accepts_literal_or_reference() {
        let env = env_with("URL", "http://x");
        assert_eq!(
            expand_optional_ref("http://lit", &env).unwrap(),
            "http://lit"
        );
        assert_eq!(expand_optional_ref("${URL}", &env).unwrap(), "http://x");
    }
}
