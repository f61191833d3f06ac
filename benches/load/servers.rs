//! The system under test, in-process on loopback: the sandbox gateway,
//! payroute on a copy of the shipped rules pointed at it (SQLite in a
//! tempdir), the sandbox's gateway webhooks pointed at payroute (as
//! `tests/common` does), and a merchant webhook sink, so that the events
//! payroute forwards cost what they cost in production, a real POST answered
//! 200, rather than a refused connection retried later.
//!
//! Further payroutes on the same rules and sandbox start on any store URL
//! (the stores scenario's PostgreSQL replicas).
//!
//! The failover scenario also points `adyen_sandbox`'s `base_url` at a
//! loopback port nothing listens on, so every call to it is refused at
//! connect.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::{LoadError, setup};

pub struct Servers {
    _dir: tempfile::TempDir,
    /// The rewritten rules every payroute of the run loads.
    rules: PathBuf,
    pub sandbox: payroute_sandbox::SandboxHandle,
    /// The first payroute, on SQLite in the tempdir.
    pub payroute: payroute::server::Running,
    sink: JoinHandle<()>,
    /// Merchant events the sink received.
    sink_hits: Arc<AtomicU64>,
}

impl Servers {
    /// `webhooks`: point the sandbox's gateway webhooks at payroute.
    /// `dead_gateway`: a gateway id whose `base_url` is pointed at a closed
    /// loopback port.
    pub async fn start(webhooks: bool, dead_gateway: Option<&str>) -> Result<Servers, LoadError> {
        let sandbox = payroute_sandbox::start(bind("sandbox").await?, Default::default())
            .await
            .map_err(setup("start sandbox"))?;
        let sink_listener = bind("webhook sink").await?;
        let sink_addr = sink_listener.local_addr().map_err(setup("webhook sink"))?;
        let sink_hits = Arc::new(AtomicU64::new(0));
        let sink = tokio::spawn(sink(sink_listener, sink_hits.clone()));
        let dir = tempfile::tempdir().map_err(setup("tempdir"))?;
        let rules = dir.path().join("rules");
        let dead = match dead_gateway {
            Some(id) => Some((id, closed_port()?)),
            None => None,
        };
        write_rules(
            &rules,
            sandbox.addr,
            &format!("http://{sink_addr}/payment-events"),
            dead,
        )?;
        let sqlite = format!("sqlite://{}", dir.path().join("payroute.db").display());
        let payroute = start_payroute(&rules, &sqlite).await?;
        let servers = Servers {
            _dir: dir,
            rules,
            sandbox,
            payroute,
            sink,
            sink_hits,
        };
        if webhooks {
            servers.webhook_route(&servers.payroute).apply();
        }
        Ok(servers)
    }

    /// Another payroute on the same rules and sandbox, on `store` (a store
    /// URL as `--store` takes it); the caller shuts it down.
    pub async fn start_payroute(
        &self,
        store: &str,
    ) -> Result<payroute::server::Running, LoadError> {
        start_payroute(&self.rules, store).await
    }

    /// What points the sandbox's gateway webhooks at `replica`.
    pub fn webhook_route(&self, replica: &payroute::server::Running) -> WebhookRoute {
        WebhookRoute {
            sandbox: self.sandbox.state(),
            sandbox_addr: self.sandbox.addr,
            replica: replica.state.clone(),
            api_addr: replica.api_addr,
        }
    }

    pub fn sink_hits(&self) -> u64 {
        self.sink_hits.load(Ordering::Relaxed)
    }

    /// Gateway webhooks the sandbox delivered to payroute and got a 2xx for.
    pub fn webhooks_acknowledged(&self) -> u64 {
        self.sandbox.state().webhook_stats().acknowledged
    }

    pub async fn shutdown(self) {
        self.payroute.shutdown().await;
        self.sandbox.shutdown().await;
        // Dropping the sink's JoinSet with it closes its connections.
        self.sink.abort();
    }
}

/// Points the sandbox's gateway webhooks at one payroute, from any thread
/// and at any time (a phase makes its own payroute their target).
#[derive(Clone)]
pub struct WebhookRoute {
    sandbox: Arc<payroute_sandbox::Sandbox>,
    sandbox_addr: SocketAddr,
    replica: Arc<payroute::server::AppState>,
    api_addr: SocketAddr,
}

impl WebhookRoute {
    pub fn apply(&self) {
        payroute::server::connect_sandbox(
            &self.sandbox,
            &self.replica.engine.live.load().ruleset,
            self.sandbox_addr,
            self.api_addr,
        );
    }
}

/// One payroute on loopback. Every one of a run shares the fingerprint key,
/// as replicas of one deployment must.
async fn start_payroute(rules: &Path, store: &str) -> Result<payroute::server::Running, LoadError> {
    let settings = payroute::server::Settings {
        listen: "127.0.0.1:0".into(),
        ops_listen: "127.0.0.1:0".into(),
        rules: rules.to_path_buf(),
        store: store.into(),
        fingerprint_key: Some(payroute::domain::sensitive::Sensitive(
            "load-bench-fp-key".into(),
        )),
        shutdown_grace: Duration::from_secs(5),
        watch_rules: false,
        allow_shipped_secrets: true,
        ..Default::default()
    };
    payroute::server::start(settings)
        .await
        .map_err(setup("start payroute"))
}

async fn bind(what: &str) -> Result<TcpListener, LoadError> {
    TcpListener::bind("127.0.0.1:0").await.map_err(setup(what))
}

/// A loopback address nothing listens on: bound, read, released. Another
/// process could take the port in between; on a quiet loopback the kernel
/// hands out ephemeral ports in sequence, so that is unlikely within a run.
fn closed_port() -> Result<SocketAddr, LoadError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup("closed port"))?;
    listener.local_addr().map_err(setup("closed port"))
}

/// The shipped rules with the gateways' sandbox address and every merchant
/// `webhook_url` replaced, and `dead`'s gateway pointed at its address.
fn write_rules(
    dir: &Path,
    sandbox: SocketAddr,
    webhook_url: &str,
    dead: Option<(&str, SocketAddr)>,
) -> Result<(), LoadError> {
    std::fs::create_dir_all(dir).map_err(setup("rules dir"))?;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules");
    let mut killed = false;
    for entry in std::fs::read_dir(&shipped).map_err(setup("read routing-rules"))? {
        let path = entry.map_err(setup("read routing-rules"))?.path();
        let (Some(name), Some(ext)) = (path.file_name(), path.extension()) else {
            continue;
        };
        if ext == "yaml" || ext == "yml" {
            let text = std::fs::read_to_string(&path).map_err(setup("read rule file"))?;
            let mut text = rewrite(&text, sandbox, webhook_url);
            if let Some((id, addr)) = dead {
                let (dead_text, hit) = kill_gateway(&text, id, sandbox, addr);
                text = dead_text;
                killed |= hit;
            }
            std::fs::write(dir.join(name), text).map_err(setup("write rule file"))?;
        }
    }
    match dead {
        Some((id, _)) if !killed => Err(LoadError::Setup(format!(
            "no gateway `{id}` with a sandbox base_url in the shipped rules"
        ))),
        _ => Ok(()),
    }
}

/// Points the `base_url` of gateway `id` (an already rewritten sandbox URL)
/// at `dead`; says whether it found one. Line-based: the shipped files list
/// `id` before `base_url` in each gateway entry.
fn kill_gateway(text: &str, id: &str, sandbox: SocketAddr, dead: SocketAddr) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let (mut current, mut hit) = (false, false);
    for line in text.lines() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(value) = trimmed.strip_prefix("id:") {
            current = value.trim() == id;
        }
        if current && trimmed.starts_with("base_url:") && line.contains(&sandbox.to_string()) {
            out.push_str(&line.replace(&sandbox.to_string(), &dead.to_string()));
            hit = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    (out, hit)
}

fn rewrite(text: &str, sandbox: SocketAddr, webhook_url: &str) -> String {
    let text = text.replace("127.0.0.1:4010", &sandbox.to_string());
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with("webhook_url:") {
            out.push_str(&format!("{}webhook_url: {webhook_url}\n", &line[..indent]));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Answers every request 200 with an empty body and counts it.
async fn sink(listener: TcpListener, hits: Arc<AtomicU64>) {
    let mut conns = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let hits = hits.clone();
        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let hits = hits.clone();
            async move {
                let _ = req.into_body().collect().await;
                hits.fetch_add(1, Ordering::Relaxed);
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
            }
        });
        conns.spawn(async move {
            let io = TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
        // Reap finished connections so the set does not grow for the whole run.
        while conns.try_join_next().is_some() {}
    }
}
