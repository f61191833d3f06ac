//! Watches the rules folder and signals "something may have changed". The
//! caller reloads and compares ruleset versions, so spurious signals are
//! cheap and a missed one is the only real failure.
//!
//! The folder is watched, not the files: editors replace files by rename,
//! and a Kubernetes ConfigMap volume swaps a `..data` symlink (a new
//! `..data_tmp` link renamed over it), which only shows up as an event on
//! the folder itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::RulesError;

/// Events within this window coalesce into one signal.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Keep alive to keep watching; dropping it stops the watcher thread.
pub struct RulesWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    folder: PathBuf,
}

impl RulesWatcher {
    /// The folder being watched.
    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

impl std::fmt::Debug for RulesWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesWatcher")
            .field("folder", &self.folder)
            .finish()
    }
}

/// Which names in the folder matter. For a single file: that file plus the
/// ConfigMap plumbing; for a folder: any YAML file plus the plumbing.
#[derive(Debug, Clone)]
struct Interest {
    file_name: Option<std::ffi::OsString>,
}

impl Interest {
    fn wants(&self, path: &Path) -> bool {
        let Some(name) = path.file_name() else {
            return true;
        };
        let text = name.to_string_lossy();
        if text.starts_with("..") {
            return true;
        }
        match &self.file_name {
            Some(f) => f == name,
            None => text.ends_with(".yaml") || text.ends_with(".yml"),
        }
    }

    fn wants_event(&self, kind: &EventKind, paths: &[PathBuf]) -> bool {
        if matches!(kind, EventKind::Access(_)) {
            return false;
        }
        // A rescan or path-less event means "anything may have changed".
        paths.is_empty() || paths.iter().any(|p| self.wants(p))
    }
}

/// Starts watching `path` (a rules file or folder); `on_change` runs on the
/// watcher's thread after each debounced burst of relevant events.
pub fn watch(
    path: PathBuf,
    on_change: impl Fn() + Send + Sync + 'static,
) -> Result<RulesWatcher, RulesError> {
    let meta = std::fs::metadata(&path).map_err(|e| RulesError::io(&path, e))?;
    let (folder, interest) = if meta.is_dir() {
        (path.clone(), Interest { file_name: None })
    } else {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_name = path.file_name().map(|n| n.to_os_string());
        (parent.to_path_buf(), Interest { file_name })
    };
    let handler = move |result: DebounceEventResult| {
        let relevant = match result {
            Ok(events) => events
                .iter()
                .any(|e| interest.wants_event(&e.event.kind, &e.event.paths)),
            // Watcher errors (e.g. queue overflow) may have lost events.
            Err(_) => true,
        };
        if relevant {
            on_change();
        }
    };
    let watch_err = |e: notify::Error| RulesError::Watch {
        path: folder.clone(),
        message: e.to_string(),
    };
    let mut debouncer = new_debouncer(DEBOUNCE, None, handler).map_err(watch_err)?;
    debouncer
        .watch(&folder, RecursiveMode::NonRecursive)
        .map_err(watch_err)?;
    Ok(RulesWatcher {
        _debouncer: debouncer,
        folder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (n, move || {
            m.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// Waits up to 2 s for the counter to exceed `before`.
    fn fired_after(n: &AtomicUsize, before: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if n.load(Ordering::SeqCst) > before {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Lets the watcher settle and any startup events drain.
    fn settle(n: &AtomicUsize) -> usize {
        std::thread::sleep(DEBOUNCE * 2);
        n.load(Ordering::SeqCst)
    }

    #[test]
    fn fires_after_a_file_edit_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("routes.yaml"), "routes: []\n").unwrap();
        let (n, cb) = counter();
        let _w = watch(dir.path().to_path_buf(), cb).unwrap();
        let before = settle(&n);
        std::fs::write(dir.path().join("routes.yaml"), "routes: [] # edited\n").unwrap();
        assert!(fired_after(&n, before), "no signal within 2 s of an edit");
    }

    #[test]
    fn fires_after_a_configmap_symlink_swap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("..2024_01")).unwrap();
        std::fs::write(root.join("..2024_01/rules.yaml"), "routes: []\n").unwrap();
        std::os::unix::fs::symlink("..2024_01", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/rules.yaml", root.join("rules.yaml")).unwrap();
        let (n, cb) = counter();
        let _w = watch(root.to_path_buf(), cb).unwrap();
        let before = settle(&n);
        // What the kubelet does: new timestamped folder, new link, rename
        // over `..data`, remove the old folder.
        std::fs::create_dir(root.join("..2024_02")).unwrap();
        std::fs::write(root.join("..2024_02/rules.yaml"), "routes: [] # v2\n").unwrap();
        std::os::unix::fs::symlink("..2024_02", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        std::fs::remove_dir_all(root.join("..2024_01")).unwrap();
        assert!(
            fired_after(&n, before),
            "no signal within 2 s of a ..data swap"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("rules.yaml")).unwrap(),
            "routes: [] # v2\n"
        );
    }

    #[test]
    fn single_file_path_watches_its_folder_but_ignores_unrelated_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.yaml");
        std::fs::write(&file, "routes: []\n").unwrap();
        let (n, cb) = counter();
        let w = watch(file.clone(), cb).unwrap();
        assert_eq!(w.folder(), dir.path());
        let before = settle(&n);
        std::fs::write(dir.path().join("server.log"), "noise\n").unwrap();
        // Kept apart from the edit below by more than the debounce window, so
        // the two cannot share one batch; signals come in event order, so the
        // edit's signal arriving means the noise's would have come first.
        std::thread::sleep(DEBOUNCE * 2);
        std::fs::write(&file, "routes: [] # edited\n").unwrap();
        assert!(fired_after(&n, before), "no signal within 2 s of an edit");
        assert_eq!(
            n.load(Ordering::SeqCst),
            before + 1,
            "unrelated file triggered a reload"
        );
    }

    #[test]
    fn dropping_the_guard_stops_signals() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "routes: []\n").unwrap();
        let (n, cb) = counter();
        let w = watch(dir.path().to_path_buf(), cb).unwrap();
        let _ = settle(&n);
        drop(w);
        // A second watcher on the same folder is the witness: once it has
        // signalled a later edit, the dropped one would have signalled the
        // first edit long before, had it still been running.
        let (witness, wcb) = counter();
        let _w2 = watch(dir.path().to_path_buf(), wcb).unwrap();
        let seen = settle(&witness);
        let before = n.load(Ordering::SeqCst);
        std::fs::write(dir.path().join("a.yaml"), "routes: [] # edited\n").unwrap();
        assert!(fired_after(&witness, seen), "the witness saw no edit");
        let seen = witness.load(Ordering::SeqCst);
        std::fs::write(dir.path().join("a.yaml"), "routes: [] # again\n").unwrap();
        assert!(
            fired_after(&witness, seen),
            "the witness saw no second edit"
        );
        assert_eq!(n.load(Ordering::SeqCst), before);
    }

    #[test]
    fn missing_path_is_an_error_naming_it() {
        let err = watch(PathBuf::from("/nonexistent/rules"), || {}).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/rules: "));
    }
}
