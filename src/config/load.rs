//! Reading a rules path (one file, or a folder of `*.yaml`/`*.yml`),
//! strict parsing of each file, merging them into one raw ruleset, and the
//! content-hash version.

use std::path::{Path, PathBuf};

use serde_saphyr::{DuplicateKeyPolicy, MessageFormatter, Options, UserMessageFormatter};
use sha2::{Digest, Sha256};

use super::RulesError;
use super::schema::{RawFile, RawGateway, RawMerchant, RawRoute, RawSignal};

/// A raw item with the file it came from, for error locations.
#[derive(Debug)]
pub struct Sourced<T> {
    pub file: PathBuf,
    pub item: T,
}

/// All files of a rules path, parsed but not validated.
#[derive(Debug, Default)]
pub struct RawRuleset {
    /// The path given to `load` (file or folder).
    pub root: PathBuf,
    pub files: Vec<PathBuf>,
    pub version: String,
    pub gateways: Vec<Sourced<RawGateway>>,
    pub merchants: Vec<Sourced<RawMerchant>>,
    pub signals: Vec<Sourced<RawSignal>>,
    pub block_at: Option<Sourced<serde_saphyr::Spanned<u32>>>,
    pub routes: Vec<Sourced<RawRoute>>,
}

/// The rule files of `path`, sorted by file name. Hidden names are skipped:
/// Kubernetes keeps `..data` and `..<timestamp>` entries in a ConfigMap
/// folder, and editors drop `.#x.yaml` lock files.
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, RulesError> {
    let meta = std::fs::metadata(path).map_err(|e| RulesError::io(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| RulesError::io(path, e))? {
        let entry = entry.map_err(|e| RulesError::io(path, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if !is_yaml || name.starts_with('.') {
            continue;
        }
        // `metadata` follows symlinks (`x.yaml -> ..data/x.yaml`).
        let entry_path = entry.path();
        if std::fs::metadata(&entry_path).is_ok_and(|m| m.is_file()) {
            files.push(entry_path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(RulesError::invalid(
            path,
            "no *.yaml or *.yml rule files in folder",
        ));
    }
    Ok(files)
}

/// Reads, parses and merges every rule file of `path`.
pub fn read_raw(path: &Path) -> Result<RawRuleset, RulesError> {
    let mut texts = Vec::new();
    for file in rule_files(path)? {
        let text = std::fs::read_to_string(&file).map_err(|e| RulesError::io(&file, e))?;
        texts.push((file, text));
    }
    raw_from_texts(path, &texts)
}

/// Parses and merges already-read files, in the order given.
pub fn raw_from_texts(root: &Path, texts: &[(PathBuf, String)]) -> Result<RawRuleset, RulesError> {
    let mut hasher = Sha256::new();
    let mut raw = RawRuleset {
        root: root.to_path_buf(),
        ..RawRuleset::default()
    };
    for (file, text) in texts {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        hash_entry(&mut hasher, name.as_deref().unwrap_or_default(), text);
        let parsed = parse_file(file, text)?;
        merge(&mut raw, file, parsed)?;
    }
    raw.version = hex::encode(hasher.finalize())[..12].to_string();
    raw.files = texts.iter().map(|(f, _)| f.clone()).collect();
    Ok(raw)
}

/// Length-prefixed so that moving bytes between a name and its content (or
/// between files) changes the hash.
fn hash_entry(hasher: &mut Sha256, name: &str, text: &str) {
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}

/// Strict parse of one file: unknown keys and duplicate keys are errors,
/// reported at the parser's line and column.
pub fn parse_file(file: &Path, text: &str) -> Result<RawFile, RulesError> {
    if text.trim().is_empty() {
        return Ok(RawFile::default());
    }
    // `Options` is non-exhaustive: start from the defaults.
    let mut options = Options::default();
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    options.with_snippet = false;
    serde_saphyr::from_str_with_options::<Option<RawFile>>(text, options)
        .map(Option::unwrap_or_default)
        .map_err(|e| parse_error(file, &e))
}

fn parse_error(file: &Path, err: &serde_saphyr::Error) -> RulesError {
    let err = err.without_snippet();
    // The formatter's text may carry control characters from the input;
    // the error ends up on a terminal and in logs, so escape them.
    let message: String = UserMessageFormatter
        .format_message(err)
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    match err.location() {
        Some(loc) => RulesError::at(file, loc.line(), loc.column(), message),
        None => RulesError::invalid(file, message),
    }
}

fn sourced<'a, T: 'a>(file: &'a Path, items: Vec<T>) -> impl Iterator<Item = Sourced<T>> + 'a {
    items.into_iter().map(move |item| Sourced {
        file: file.to_path_buf(),
        item,
    })
}

fn merge(raw: &mut RawRuleset, file: &Path, parsed: RawFile) -> Result<(), RulesError> {
    raw.gateways.extend(sourced(file, parsed.gateways));
    raw.merchants.extend(sourced(file, parsed.merchants));
    raw.routes.extend(sourced(file, parsed.routes));
    let Some(risk) = parsed.risk else {
        return Ok(());
    };
    raw.signals.extend(sourced(file, risk.signals));
    if let Some(block_at) = risk.block_at {
        if let Some(first) = &raw.block_at {
            let msg = format!(
                "risk.block_at is already set in {}; set it in one file only",
                first.file.display()
            );
            return Err(located(file, &block_at, msg));
        }
        raw.block_at = Some(Sourced {
            file: file.to_path_buf(),
            item: block_at,
        });
    }
    Ok(())
}

/// An error at a spanned value of `file`.
pub fn located<T>(
    file: &Path,
    at: &serde_saphyr::Spanned<T>,
    message: impl Into<String>,
) -> RulesError {
    RulesError::at(file, at.referenced.line(), at.referenced.column(), message)
}
