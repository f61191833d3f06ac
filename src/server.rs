//! Builds and runs the service: store, ruleset, engine, the API and ops
//! listeners (and the sandbox when asked), the rule reloader, and graceful
//! shutdown. [`start`] returns a handle that tests can stop; `main` only
//! parses flags and calls [`run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::api;
pub use crate::app::AppState;
use crate::app::reloader;
use crate::config::RulesError;
use crate::connectors::HttpClient;
use crate::domain::sensitive::Sensitive;
use crate::domain::store::StoreError;
use crate::edge::tls::{ServerTls, TlsError, TlsFiles};
use crate::edge::{self, BodyBudget, BodyLimits, EdgeConfig, ListenerName, StackConfig};
use crate::metrics::{Metrics, MetricsError};
use crate::payments::{Engine, Live};
use crate::routing::Ruleset;
use crate::store;

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
    /// The service's one source of "now" (engine, store, reconciler,
    /// webhook applier and sender, idempotency staleness, ops endpoints);
    /// tests set a manual one and move it instead of waiting.
    pub clock: crate::domain::clock::Clock,
    pub reconcile: crate::reconcile::ReconcileConfig,
    /// An in-flight idempotency claim older than this was abandoned by a
    /// crash: a retry may settle it (see `api::idempotency`).
    pub idempotency_stale: Duration,
    /// Limits of the network edge (both listeners).
    pub edge: EdgeConfig,
    /// TLS on the API listener.
    pub tls: Option<TlsFiles>,
    /// TLS on the ops listener; its `client_ca` turns on client
    /// certificates for `/admin/*`.
    pub ops_tls: Option<TlsFiles>,
    /// How often the TLS files are checked for a new certificate.
    pub tls_reload_every: Duration,
    /// Accept secrets that resolve to the repository's public defaults
    /// (`serve --sandbox`, tests); otherwise start-up and reloads refuse them.
    pub allow_shipped_secrets: bool,
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
            edge: EdgeConfig::default(),
            tls: None,
            ops_tls: None,
            tls_reload_every: Duration::from_secs(5),
            allow_shipped_secrets: false,
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
    #[error(
        "the ops listener on {addr} is reachable from other machines and /admin/* would be open: \
         set PAYROUTE_ADMIN_TOKEN (at least 16 characters), or give the ops listener a client CA \
         (--ops-tls-client-ca) for mTLS, or bind --ops-listen to a loopback address"
    )]
    AdminUnprotected { addr: SocketAddr },
    #[error(
        "PAYROUTE_ADMIN_TOKEN is too short: use at least 16 characters (e.g. `openssl rand -hex 24`)"
    )]
    WeakAdminToken,
    #[error(
        "refusing to start with secrets anyone can read in the repository ({0}); \
         set those variables, or run `serve --sandbox` for a demo"
    )]
    ShippedSecrets(String),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
}

/// A running payroute; dropping it does not stop it, [`Running::shutdown`] does.
pub struct Running {
    pub api_addr: SocketAddr,
    pub ops_addr: SocketAddr,
    pub sandbox_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    shutdown_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
    sandbox: Option<payroute_sandbox::SandboxHandle>,
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

/// Pending connections the kernel queues before payroute accepts them
/// (capped by `net.core.somaxconn`). The standard library's 128 overflows
/// under a burst of a few hundred new connections, and an overflowed queue
/// drops or resets them silently.
const ACCEPT_BACKLOG: u32 = 4096;

async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    let err = |source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for a in tokio::net::lookup_host(addr).await.map_err(err)? {
        let socket = match a {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        };
        let listener = socket.and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(a)?;
            s.listen(ACCEPT_BACKLOG)
        });
        match listener {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(err(last))
}

/// Builds the whole service and starts serving; returns once listening.
pub async fn start(settings: Settings) -> Result<Running, ServerError> {
    let metrics = Metrics::new()?;
    let ruleset = {
        let path = settings.rules.clone();
        tokio::task::spawn_blocking(move || crate::config::load(&path))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??
    };
    refuse_shipped_secrets(&ruleset, settings.allow_shipped_secrets)?;
    check_admin_token(&settings)?;
    let api_tls = load_tls(settings.tls.as_ref())?;
    let ops_tls = load_tls(settings.ops_tls.as_ref())?;
    let store = store::open(
        &settings.store,
        settings.synchronous_full,
        settings.clock.clone(),
    )
    .await?;
    let api_listener = bind(&settings.listen).await?;
    let ops_listener = bind(&settings.ops_listen).await?;
    let api_addr = local_addr(&api_listener)?;
    let ops_addr = local_addr(&ops_listener)?;
    check_admin_protected(ops_addr, &settings)?;
    let sandbox = match &settings.sandbox_listen {
        Some(addr) => Some(
            payroute_sandbox::start(
                bind(addr).await?,
                payroute_sandbox::SandboxConfig::default(),
            )
            .await
            .map_err(|e| ServerError::Sandbox(e.to_string()))?,
        ),
        None => None,
    };
    let client = HttpClient::new();
    metrics.set_rules_version(&ruleset.version);
    let fingerprint_key = settings.fingerprint_key.clone().unwrap_or_else(|| {
        tracing::warn!("PAYROUTE_FINGERPRINT_KEY is unset: card fingerprints change on restart");
        Sensitive(crate::domain::ids::new_id("fpk"))
    });
    let engine = Engine::new(
        Live::build(ruleset, &client, settings.clock.now()),
        store,
        metrics,
        client,
        fingerprint_key,
        settings.clock.clone(),
    );
    let engine = Arc::new(engine);
    let (reload_tx, reload_rx) = mpsc::channel(16);
    let state = Arc::new(AppState {
        engine: engine.clone(),
        idempotency_stale: settings.idempotency_stale,
        reconcile: settings.reconcile.clone(),
        draining: AtomicBool::new(false),
        admin_token: settings.admin_token.clone(),
        allow_shipped_secrets: settings.allow_shipped_secrets,
        admin_mtls: settings
            .ops_tls
            .as_ref()
            .is_some_and(|t| t.client_ca.is_some()),
        rules_path: settings.rules.clone(),
        reload_tx,
        last_reload: Mutex::new(Value::Null),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let listeners = [
        (ListenerName::Api, api_listener, api_tls),
        (ListenerName::Ops, ops_listener, ops_tls),
    ];
    let budget = BodyBudget::new(settings.edge.body_budget);
    for (name, tcp, tls) in listeners {
        let limits = match name {
            ListenerName::Api => settings.edge.api.clone(),
            ListenerName::Ops => settings.edge.ops.clone(),
        };
        let config = StackConfig {
            name,
            limits: limits.clone(),
            body_limits: BodyLimits {
                default: api::MAX_BODY,
                webhooks: api::MAX_WEBHOOK_BODY,
            },
            budget: budget.clone(),
            metrics: engine.metrics.clone(),
        };
        let s = state.clone();
        let svc = match name {
            ListenerName::Api => edge::build_stack(config, move |req| api::handle(s.clone(), req)),
            ListenerName::Ops => {
                edge::build_stack(config, move |req| api::ops::handle(s.clone(), req))
            }
        };
        if let Some(tls) = &tls {
            tasks.spawn(
                tls.clone()
                    .watch(settings.tls_reload_every, shutdown_rx.clone()),
            );
        }
        let listener = edge::Listener {
            tcp,
            tls: tls.map(|t| t.acceptor()),
            name,
        };
        tasks.spawn(edge::serve(
            listener,
            limits,
            svc,
            engine.metrics.clone(),
            shutdown_rx.clone(),
            settings.shutdown_grace,
        ));
    }
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
        let w = watch_rules(&state, &settings.rules);
        // An edit made after the rules were read and before the watcher
        // ran (a PostgreSQL migration lock can take seconds) would not be
        // seen until the next change: look once more now that it runs.
        let (reply, _) = oneshot::channel();
        let _ = state.reload_tx.try_send(("startup", reply));
        w
    } else {
        None
    };
    if let Some(sb) = &sandbox {
        let ruleset = state.engine.live.load().ruleset.clone();
        connect_sandbox(&sb.state(), &ruleset, sb.addr, api_addr);
    }
    tracing::info!(
        %api_addr,
        %ops_addr,
        api_tls = settings.tls.is_some(),
        ops_tls = settings.ops_tls.is_some(),
        rules = %settings.rules.display(),
        "payroute listening"
    );
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

fn load_tls(files: Option<&TlsFiles>) -> Result<Option<Arc<ServerTls>>, ServerError> {
    Ok(files.map(ServerTls::load).transpose()?.map(Arc::new))
}

/// Outside the sandbox, secrets must not be the repository's public defaults.
fn refuse_shipped_secrets(ruleset: &Ruleset, allow: bool) -> Result<(), ServerError> {
    match crate::config::shipped::check(ruleset) {
        Err(found) if allow => {
            tracing::warn!(
                secrets = %found,
                "running with the repository's public test secrets: fine for the sandbox, never for real gateways"
            );
            Ok(())
        }
        Err(found) => Err(ServerError::ShippedSecrets(found.to_string())),
        Ok(()) => Ok(()),
    }
}

fn check_admin_token(settings: &Settings) -> Result<(), ServerError> {
    match &settings.admin_token {
        Some(t) if t.expose().len() < 16 => Err(ServerError::WeakAdminToken),
        _ => Ok(()),
    }
}

/// `/admin/*` changes state and hands out customer data: it is open only to
/// this machine unless a token or client certificates guard it.
fn check_admin_protected(ops: SocketAddr, settings: &Settings) -> Result<(), ServerError> {
    let mtls = settings
        .ops_tls
        .as_ref()
        .is_some_and(|t| t.client_ca.is_some());
    if settings.admin_token.is_some() || mtls {
        return Ok(());
    }
    if ops.ip().is_loopback() {
        tracing::warn!(%ops, "/admin/* has no token: anyone on this machine can use it (set PAYROUTE_ADMIN_TOKEN)");
        return Ok(());
    }
    Err(ServerError::AdminUnprotected { addr: ops })
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
/// whose `base_url` is this sandbox gets the events of its own account (its
/// Stripe or Checkout.com secret key, its Adyen merchant account) at
/// `/webhooks/{id}`,
/// signed with that gateway's configured secret, as the real gateways keep
/// an endpoint per account. A dialect with one such gateway also gets it as
/// its default, for events of accounts payroute does not use.
pub fn connect_sandbox(
    sandbox: &payroute_sandbox::Sandbox,
    ruleset: &Ruleset,
    sandbox_addr: SocketAddr,
    api_addr: SocketAddr,
) {
    use crate::connectors::GatewayKind;
    use payroute_sandbox::{Dialect, WebhookTarget};
    let host = format!("//{sandbox_addr}/");
    let on_sandbox: Vec<_> = ruleset
        .gateways
        .iter()
        .filter(|g| g.base_url.contains(&host))
        .collect();
    for g in &on_sandbox {
        let cred = |k: &str| g.credentials.get(k).map(|s| s.expose().to_string());
        let url = format!("http://{api_addr}/webhooks/{}", g.id);
        let (dialect, account, target) = match g.kind {
            GatewayKind::Stripe => (
                Dialect::Stripe,
                cred("api_key"),
                cred("webhook_secret").map(|s| WebhookTarget::new(&url, &s)),
            ),
            GatewayKind::Adyen => {
                let target = cred("hmac_key").map(|k| WebhookTarget::new(&url, &k));
                let target = match (target, cred("webhook_username"), cred("webhook_password")) {
                    (Some(t), Some(u), Some(p)) => Some(t.basic_auth(&u, &p)),
                    (t, _, _) => t,
                };
                (Dialect::Adyen, g.merchant_account.clone(), target)
            }
            // The simulator scopes Checkout.com payments by the bare secret
            // key, and signs `Cko-Signature` with the workflow's key.
            GatewayKind::Checkout => (
                Dialect::Checkout,
                cred("api_key"),
                cred("webhook_secret").map(|s| WebhookTarget::new(&url, &s)),
            ),
        };
        let Some(target) = target else { continue };
        tracing::info!(gateway = %g.id, %url, "sandbox webhooks point at payroute");
        let alone = on_sandbox.iter().filter(|o| o.kind == g.kind).count() == 1;
        if alone {
            sandbox.set_webhook_target(dialect, Some(target.clone()));
        }
        if let Some(account) = account.filter(|a| !a.is_empty()) {
            sandbox.set_account_webhook_target(dialect, Some(&account), Some(target));
        }
    }
}
