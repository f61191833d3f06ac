//! Builds and runs the service: store, ruleset, engine, the API and ops
//! listeners (and the sandbox when asked), the rule reloader, and graceful
//! shutdown. [`start`] returns a handle that tests can stop; `main` only
//! parses flags and calls [`run`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::api::{self, HttpResponse};
pub use crate::app::AppState;
use crate::app::reloader;
use crate::config::{RulesError, Ruleset};
use crate::connectors::{HttpClient, Sensitive};
use crate::metrics::{Metrics, MetricsError};
use crate::payments::{Engine, Live};
use crate::store::{self, StoreError};

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub ops_listen: String,
    pub rules: PathBuf,
    pub store: String,
    /// Also run the gateway simulator on this address.
    pub sandbox_listen: Option<String>,
    /// SQLite `synchronous=FULL`: survive power loss, not just a crash.
    pub synchronous_full: bool,
    pub admin_token: Option<Sensitive>,
    /// Key of the card fingerprint HMAC; random per process when unset.
    pub fingerprint_key: Option<Sensitive>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Watch the rules folder and reload on change.
    pub watch_rules: bool,
    /// Merchant webhook retry schedule.
    pub delivery: crate::webhooks::outbound::DeliveryPolicy,
    /// Holds stored gateway events back before applying them (test hook for
    /// crash-after-ack tests; zero in production).
    pub apply_delay: Duration,
    /// The clock for webhook signature ages (tests set a manual one).
    pub clock: crate::payments::ids::Clock,
    pub reconcile: crate::reconcile::ReconcileConfig,
    /// An in-flight idempotency claim older than this was abandoned by a
    /// crash: a retry may settle it (see `api::idempotency`).
    pub idempotency_stale: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen: "127.0.0.1:8080".into(),
            ops_listen: "127.0.0.1:9191".into(),
            rules: PathBuf::from("routing-rules"),
            store: "sqlite://data/payroute.db".into(),
            sandbox_listen: None,
            synchronous_full: false,
            admin_token: None,
            fingerprint_key: None,
            shutdown_grace: Duration::from_secs(30),
            watch_rules: true,
            delivery: Default::default(),
            apply_delay: Duration::ZERO,
            clock: Default::default(),
            reconcile: Default::default(),
            idempotency_stale: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("rules: {0}")]
    Rules(#[from] RulesError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("signal handling: {0}")]
    Signal(std::io::Error),
    #[error("start-up task failed: {0}")]
    Task(String),
}

/// A running payroute; dropping it does not stop it, [`Running::shutdown`] does.
pub struct Running {
    pub api_addr: SocketAddr,
    pub ops_addr: SocketAddr,
    pub sandbox_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    shutdown_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
    sandbox: Option<crate::sandbox::SandboxHandle>,
    _watcher: Option<crate::config::watch::RulesWatcher>,
}

impl Running {
    /// Not ready, stop accepting, let in-flight requests finish within the
    /// grace period, then return.
    pub async fn shutdown(mut self) {
        self.state.draining.store(true, Ordering::SeqCst);
        let _ = self.shutdown_tx.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Some(s) = self.sandbox.take() {
            s.shutdown().await;
        }
    }
}

async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Builds the whole service and starts serving; returns once listening.
pub async fn start(settings: Settings) -> Result<Running, ServerError> {
    let metrics = Metrics::new()?;
    let ruleset = {
        let path = settings.rules.clone();
        tokio::task::spawn_blocking(move || Ruleset::load(&path))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??
    };
    let store = store::open(&settings.store, settings.synchronous_full).await?;
    let api_listener = bind(&settings.listen).await?;
    let ops_listener = bind(&settings.ops_listen).await?;
    let sandbox = match &settings.sandbox_listen {
        Some(addr) => Some(
            crate::sandbox::start(bind(addr).await?, crate::sandbox::SandboxConfig::default())
                .await
                .map_err(|e| ServerError::Sandbox(e.to_string()))?,
        ),
        None => None,
    };
    let client = HttpClient::new();
    metrics.set_rules_version(&ruleset.version);
    let fingerprint_key = settings.fingerprint_key.clone().unwrap_or_else(|| {
        tracing::warn!("PAYROUTE_FINGERPRINT_KEY is unset: card fingerprints change on restart");
        Sensitive(crate::payments::ids::new_id("fpk"))
    });
    let engine = Engine::new(
        Live::build(ruleset, &client),
        store,
        metrics,
        client,
        fingerprint_key,
    );
    let (reload_tx, reload_rx) = mpsc::channel(16);
    let mut engine = engine;
    engine.clock = settings.clock.clone();
    let engine = Arc::new(engine);
    let state = Arc::new(AppState {
        engine: engine.clone(),
        idempotency_stale: settings.idempotency_stale,
        reconcile: settings.reconcile.clone(),
        draining: AtomicBool::new(false),
        admin_token: settings.admin_token.clone(),
        rules_path: settings.rules.clone(),
        reload_tx,
        last_reload: Mutex::new(Value::Null),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let api_addr = local_addr(&api_listener)?;
    let ops_addr = local_addr(&ops_listener)?;
    let mut tasks = JoinSet::new();
    let s = state.clone();
    tasks.spawn(serve(
        api_listener,
        shutdown_rx.clone(),
        settings.shutdown_grace,
        move |req| api::handle(s.clone(), req),
    ));
    let s = state.clone();
    tasks.spawn(serve(
        ops_listener,
        shutdown_rx.clone(),
        settings.shutdown_grace,
        move |req| api::ops::handle(s.clone(), req),
    ));
    tasks.spawn(reloader(
        Arc::downgrade(&state),
        reload_rx,
        shutdown_rx.clone(),
    ));
    tasks.spawn(crate::webhooks::apply::run(
        engine.clone(),
        shutdown_rx.clone(),
        settings.apply_delay,
    ));
    tasks.spawn(crate::webhooks::outbound::run(
        engine.clone(),
        settings.delivery.clone(),
        shutdown_rx.clone(),
    ));
    tasks.spawn(crate::reconcile::run(
        engine.clone(),
        settings.reconcile.clone(),
        shutdown_rx.clone(),
    ));
    let watcher = if settings.watch_rules {
        watch_rules(&state, &settings.rules)
    } else {
        None
    };
    if let Some(sb) = &sandbox {
        let ruleset = state.engine.live.load().ruleset.clone();
        connect_sandbox(&sb.state(), &ruleset, sb.addr, api_addr);
    }
    tracing::info!(%api_addr, %ops_addr, rules = %settings.rules.display(), "payroute listening");
    Ok(Running {
        api_addr,
        ops_addr,
        sandbox_addr: sandbox.as_ref().map(|s| s.addr),
        state,
        shutdown_tx,
        tasks,
        sandbox,
        _watcher: watcher,
    })
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, ServerError> {
    l.local_addr().map_err(|source| ServerError::Bind {
        addr: "?".into(),
        source,
    })
}

fn watch_rules(
    state: &Arc<AppState>,
    path: &std::path::Path,
) -> Option<crate::config::watch::RulesWatcher> {
    let tx = state.reload_tx.clone();
    let on_change = move || {
        let (reply, _) = oneshot::channel();
        // A full queue already holds a reload that will see this change.
        let _ = tx.try_send(("watch", reply));
    };
    match crate::config::watch::watch(path.to_path_buf(), on_change) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the rules; reload with SIGHUP or POST /admin/rules/reload");
            None
        }
    }
}

/// Serves HTTP/1.1 until shutdown, then drains connections for `grace`.
async fn serve<F, Fut>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    handler: F,
) where
    F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper::server::conn::http1::Builder::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let h = handler.clone();
        let svc = service_fn(move |req| {
            // The handler runs on its own task: a client that hangs up must
            // not cancel a gateway call that may already be charging.
            let task = tokio::spawn(h(req));
            async move {
                Ok::<_, Infallible>(task.await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "handler panicked");
                    api::error_response(&api::error::ApiError::internal("internal error"))
                }))
            }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => tracing::warn!("grace period over with requests in flight; their attempts stay recorded for reconciliation"),
    }
}

/// Runs until SIGTERM or Ctrl-C; SIGHUP reloads the rules.
pub async fn run(settings: Settings) -> Result<(), ServerError> {
    let running = start(settings).await?;
    let state = running.state.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).map_err(ServerError::Signal)?;
        let mut term = signal(SignalKind::terminate()).map_err(ServerError::Signal)?;
        loop {
            tokio::select! {
                _ = hup.recv() => { state.reload("sighup").await; }
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await;
    Ok(())
}

/// Points the sandbox's webhooks at payroute: each gateway of the ruleset
/// whose `base_url` is this sandbox gets its dialect's events at
/// `/webhooks/{id}`, signed with that gateway's configured secret.
pub fn connect_sandbox(
    sandbox: &crate::sandbox::Sandbox,
    ruleset: &Ruleset,
    sandbox_addr: SocketAddr,
    api_addr: SocketAddr,
) {
    use crate::connectors::GatewayKind;
    use crate::sandbox::{Dialect, WebhookTarget};
    let host = format!("//{sandbox_addr}/");
    for g in ruleset
        .gateways
        .iter()
        .filter(|g| g.base_url.contains(&host))
    {
        let cred = |k: &str| g.credentials.get(k).map(|s| s.expose().to_string());
        let url = format!("http://{api_addr}/webhooks/{}", g.id);
        let (dialect, target) = match g.kind {
            GatewayKind::Stripe => (
                Dialect::Stripe,
                cred("webhook_secret").map(|s| WebhookTarget::new(&url, &s)),
            ),
            GatewayKind::Adyen => {
                let target = cred("hmac_key").map(|k| WebhookTarget::new(&url, &k));
                let target = match (target, cred("webhook_username"), cred("webhook_password")) {
                    (Some(t), Some(u), Some(p)) => Some(t.basic_auth(&u, &p)),
                    (t, _, _) => t,
                };
                (Dialect::Adyen, target)
            }
        };
        if target.is_some() {
            tracing::info!(gateway = %g.id, %url, "sandbox webhooks point at payroute");
            sandbox.set_webhook_target(dialect, target);
        }
    }
}
