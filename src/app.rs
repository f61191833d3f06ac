//! The running application's shared state: what every request handler can
//! reach (the engine, settings the API needs, the admin token) and the rule
//! reloader that swaps a new ruleset in. The API and the ops listener read
//! it; `server` builds it and starts the listeners around it.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::domain::sensitive::Sensitive;
use crate::domain::store::AuditEntry;
use crate::payments::{Engine, Live};
use crate::routing::Ruleset;

pub(crate) type ReloadRequest = (&'static str, oneshot::Sender<Value>);

/// Everything a request handler can reach.
pub struct AppState {
    pub engine: Arc<Engine>,
    /// An in-flight idempotency claim older than this was abandoned by a crash.
    pub idempotency_stale: Duration,
    pub reconcile: crate::reconcile::ReconcileConfig,
    pub draining: AtomicBool,
    pub admin_token: Option<Sensitive>,
    /// The repository's public test secrets are acceptable (sandbox, tests).
    pub allow_shipped_secrets: bool,
    /// `/admin/*` accepts verified client certificates (mTLS on ops).
    pub admin_mtls: bool,
    pub(crate) rules_path: PathBuf,
    pub(crate) reload_tx: mpsc::Sender<ReloadRequest>,
    pub(crate) last_reload: Mutex<Value>,
}

impl AppState {
    /// Loads the rule files again and swaps them in if valid and changed.
    /// Reloads run one at a time, in order, on the reloader task.
    pub async fn reload(&self, source: &'static str) -> Value {
        let (tx, rx) = oneshot::channel();
        if self.reload_tx.send((source, tx)).await.is_err() {
            return json!({"result": "failure", "error": "reloader stopped"});
        }
        rx.await
            .unwrap_or_else(|_| json!({"result": "failure", "error": "reloader stopped"}))
    }

    /// `POST /admin/reconcile`: one reconciler pass, now.
    pub async fn reconcile_now(
        &self,
    ) -> Result<crate::reconcile::Report, crate::payments::EngineError> {
        Ok(crate::reconcile::reconcile_once(&self.engine, &self.reconcile).await?)
    }

    /// `GET /admin/rules`.
    pub fn rules_status(&self) -> Value {
        let live = self.engine.live.load();
        let last = self
            .last_reload
            .lock()
            .map(|v| v.clone())
            .unwrap_or(Value::Null);
        json!({
            "version": live.ruleset.version,
            "source": self.rules_path,
            "files": live.ruleset.files,
            "loaded_at": live.loaded_at,
            "last_reload": last,
            "last_error": last.get("error").cloned().unwrap_or(Value::Null),
        })
    }

    /// A reload must not bring in what start-up would refuse: secrets that
    /// resolve to the repository's public defaults (outside the sandbox).
    fn refuse_shipped_secrets(&self, rs: Ruleset) -> Result<Ruleset, String> {
        match crate::config::shipped::check(&rs) {
            Err(found) if !self.allow_shipped_secrets => Err(format!(
                "secrets anyone can read in the repository: {found}"
            )),
            _ => Ok(rs),
        }
    }

    async fn do_reload(&self, source: &str) -> Value {
        let path = self.rules_path.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::config::load(&path))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .and_then(|rs| self.refuse_shipped_secrets(rs));
        let current = self.engine.live.load().ruleset.version.clone();
        let at = self.engine.clock.now_rfc3339();
        let (result, report) = match loaded {
            Ok(rs) if rs.version == current => (
                "unchanged",
                json!({"result": "unchanged", "version": current}),
            ),
            Ok(rs) => {
                let version = rs.version.clone();
                self.engine.live.store(Arc::new(Live::build(
                    rs,
                    &self.engine.client,
                    self.engine.clock.now(),
                )));
                self.engine.metrics.set_rules_version(&version);
                tracing::info!(%version, previous = %current, source, "rules reloaded");
                (
                    "success",
                    json!({"result": "success", "version": version, "previous": current}),
                )
            }
            Err(error) => {
                tracing::warn!(%error, source, "rules refused; the running ruleset stays");
                (
                    "failure",
                    json!({"result": "failure", "error": error, "version": current}),
                )
            }
        };
        self.engine
            .metrics
            .rules_reloads
            .with_label_values(&[result])
            .inc();
        let mut report = report;
        report["at"] = json!(at);
        report["source"] = json!(source);
        // `last_error` describes the files as they are now: a reload that
        // finds them back at the running version ends the failure before
        // it. Otherwise an unchanged reload (a touch, an editor's temp file)
        // is no news and would only bury the last real change.
        let cleared_error = if result == "unchanged" {
            self.last_reload
                .lock()
                .ok()
                .and_then(|last| (last["result"] == "failure").then(|| last["error"].clone()))
        } else {
            None
        };
        if result != "unchanged" || cleared_error.is_some() {
            if let Ok(mut last) = self.last_reload.lock() {
                *last = report.clone();
            }
            let mut detail = report.clone();
            if let Some(error) = cleared_error {
                tracing::info!(version = %current, source, "rule files valid again: back at the running version");
                detail["cleared_error"] = error;
            }
            let kind = match result {
                "success" => "rules.reload",
                "failure" => "rules.reload_failed",
                _ => "rules.reload_recovered",
            };
            let entry = AuditEntry {
                kind: kind.into(),
                detail,
            };
            if let Err(e) = self.engine.store.append_audit(&entry).await {
                tracing::error!(error = %e, "could not write the reload to the audit log");
            }
        }
        report
    }
}

pub(crate) async fn reloader(
    state: std::sync::Weak<AppState>,
    mut rx: mpsc::Receiver<ReloadRequest>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (source, reply) = tokio::select! {
            r = rx.recv() => match r { Some(r) => r, None => return },
            _ = shutdown.changed() => return,
        };
        let Some(state) = state.upgrade() else { return };
        let report = state.do_reload(source).await;
        let _ = reply.send(report);
    }
}
