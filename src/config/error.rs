//! The one error type of rule loading: every failure names the file and,
//! when the parser or a span knows it, the line and column, so that
//! `payroute rules check` can print `file:line:col: message`.

use std::path::{Path, PathBuf};

/// Why a ruleset was refused. Displays as `path:line:col: message` when the
/// location is known, else `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// Reading the file or folder failed.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// A problem at a known place in a file (syntax, strict keys, types,
    /// cross-checks on a located value).
    #[error("{}:{line}:{column}: {message}", path.display())]
    At {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    /// A problem with no precise place (e.g. "no gateways configured").
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// The file watcher could not be started.
    #[error("{}: cannot watch: {message}", path.display())]
    Watch { path: PathBuf, message: String },
}

impl RulesError {
    /// Builds an error at `line:column` of `path`; line 0 means "unknown"
    /// (serde-saphyr's `Location::UNKNOWN`) and falls back to [`RulesError::Invalid`].
    pub fn at(path: &Path, line: u64, column: u64, message: impl Into<String>) -> RulesError {
        if line == 0 {
            return RulesError::invalid(path, message);
        }
        RulesError::At {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    pub fn invalid(path: &Path, message: impl Into<String>) -> RulesError {
        RulesError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub fn io(path: &Path, err: impl std::fmt::Display) -> RulesError {
        RulesError::Io {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }

    /// The file (or folder) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            RulesError::Io { path, .. }
            | RulesError::At { path, .. }
            | RulesError::Invalid { path, .. }
            | RulesError::Watch { path, .. } => path,
        }
    }

    /// The message without its location prefix.
    pub fn message(&self) -> &str {
        match self {
            RulesError::Io { message, .. }
            | RulesError::At { message, .. }
            | RulesError::Invalid { message, .. }
            | RulesError::Watch { message, .. } => message,
        }
    }

    /// `(line, column)`, 1-based, when known.
    pub fn line_col(&self) -> Option<(u64, u64)> {
        match self {
            RulesError::At { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn located_error_displays_path_line_col_message() {
        let e = RulesError::at(Path::new("r/routes.yaml"), 3, 7, "unknown gateway `x`");
        assert_eq!(e.to_string(), "r/routes.yaml:3:7: unknown gateway `x`");
        assert_eq!(e.line_col(), Some((3, 7)));
    }

    #[test]
    fn unknown_line_falls_back_to_path_message() {
        let e = RulesError::at(Path::new("r"), 0, 0, "no gateways configured");
        assert_eq!(e.to_string(), "r: no gateways configured");
        assert_eq!(e.line_col(), None);
    }
}
