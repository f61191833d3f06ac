//! A value that must never reach logs (card numbers, CVCs, API keys,
//! webhook secrets): its `Debug` prints `[redacted]`, and reading it takes
//! an explicit [`Sensitive::expose`].

use std::fmt;

/// A string that must never reach logs: card numbers, CVCs, API keys.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive(pub String);

impl Sensitive {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
