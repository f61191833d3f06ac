//! Rule files: schema, strict parsing with file:line:col errors, `${VAR}`
//! expansion, cross-validation, and the folder watcher for hot reload. The
//! result is a [`Ruleset`]: immutable, swapped atomically by the server.

pub mod compile;
pub mod compile_routes;
pub mod env;
pub mod error;
pub mod load;
pub mod schema;
pub mod shipped;
pub mod watch;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::routing::Ruleset;

pub use env::{EnvLookup, process_env};
pub use error::RulesError;
pub use watch::{RulesWatcher, watch};

/// Loads `path` (a file or a folder of `*.yaml`), expanding `${VAR}` from
/// the process environment.
pub fn load(path: &Path) -> Result<Ruleset, RulesError> {
    load_with_env(path, &process_env)
}

/// Like [`load`] with an injected environment lookup.
pub fn load_with_env(path: &Path, env: EnvLookup<'_>) -> Result<Ruleset, RulesError> {
    let raw = load::read_raw(path)?;
    compile::compile(raw, env)
}

/// Builds a ruleset from in-memory files (name, YAML), processed in the
/// order given, as if they were the files of one folder.
pub fn from_texts(texts: &[(PathBuf, String)], env: EnvLookup<'_>) -> Result<Ruleset, RulesError> {
    let root = texts.first().map(|(p, _)| p.clone()).unwrap_or_default();
    let raw = load::raw_from_texts(&root, texts)?;
    compile::compile(raw, env)
}
