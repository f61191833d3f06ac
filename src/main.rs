//! The `payroute` command line: parse flags, set up logging, call the library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use payroute::domain::sensitive::Sensitive;

#[derive(Parser)]
#[command(name = "payroute", version, about = "Payment-gateway routing proxy")]
struct Cli {
    #[arg(
        long,
        env = "PAYROUTE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve(Box<ServeArgs>),
    /// Validate or explain rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Run the gateway simulator alone.
    Sandbox {
        #[arg(
            long,
            env = "PAYROUTE_SANDBOX_LISTEN",
            default_value = "127.0.0.1:4010"
        )]
        listen: String,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, env = "PAYROUTE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[arg(long, env = "PAYROUTE_OPS_LISTEN", default_value = "127.0.0.1:9191")]
    ops_listen: String,
    #[arg(long, env = "PAYROUTE_RULES", default_value = "routing-rules")]
    rules: PathBuf,
    #[arg(
        long,
        env = "PAYROUTE_STORE",
        default_value = "sqlite://data/payroute.db"
    )]
    store: String,
    /// Also run the gateway simulator in this process.
    #[arg(long)]
    sandbox: bool,
    #[arg(
        long,
        env = "PAYROUTE_SANDBOX_LISTEN",
        default_value = "127.0.0.1:4010"
    )]
    sandbox_listen: String,
    /// SQLite synchronous=FULL: survive power loss, not only process crashes.
    #[arg(long, env = "PAYROUTE_SQLITE_SYNC_FULL")]
    sqlite_sync_full: bool,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "PAYROUTE_SHUTDOWN_GRACE", default_value_t = 30)]
    shutdown_grace: u64,
    /// Merchant webhook retries: first delay in milliseconds (doubles each try).
    #[arg(long, env = "PAYROUTE_DELIVERY_BASE_MS", default_value_t = 30_000)]
    delivery_base_ms: u64,
    /// Merchant webhook retries: longest delay between tries, in seconds.
    #[arg(long, env = "PAYROUTE_DELIVERY_MAX_DELAY_S", default_value_t = 6 * 3600)]
    delivery_max_delay_s: u64,
    /// Merchant webhook retries: give up after this many seconds (3 days).
    #[arg(long, env = "PAYROUTE_DELIVERY_MAX_AGE_S", default_value_t = 3 * 24 * 3600)]
    delivery_max_age_s: u64,
    /// Deadline of one merchant webhook request; a replica that dies
    /// mid-send has the delivery re-sent this plus 5 s later.
    #[arg(long, env = "PAYROUTE_DELIVERY_TIMEOUT_S", default_value_t = 10)]
    delivery_timeout_s: u64,
    /// Seconds between reconciliation passes.
    #[arg(long, env = "PAYROUTE_RECONCILE_INTERVAL_S", default_value_t = 10)]
    reconcile_interval_s: u64,
    /// Reconcile payments unchanged for this many seconds.
    #[arg(long, env = "PAYROUTE_RECONCILE_MIN_AGE_S", default_value_t = 30)]
    reconcile_min_age_s: u64,
    /// Trust a gateway's "no such payment" only for attempts this old (Stripe Search lags).
    #[arg(
        long,
        env = "PAYROUTE_RECONCILE_NOT_FOUND_GRACE_S",
        default_value_t = 120
    )]
    reconcile_not_found_grace_s: u64,
    /// Reverse (cancel by reference) an authorization still unknown after this many seconds.
    #[arg(
        long,
        env = "PAYROUTE_RECONCILE_REVERSE_AFTER_S",
        default_value_t = 900
    )]
    reconcile_reverse_after_s: u64,
    /// Seconds after which an in-flight Idempotency-Key is taken as abandoned by a crash.
    #[arg(long, env = "PAYROUTE_IDEMPOTENCY_STALE_S", default_value_t = 300)]
    idempotency_stale_s: u64,
    /// Seconds a client has to send a request's headers (also closes idle
    /// keep-alive connections after this long).
    #[arg(long, env = "PAYROUTE_HEADER_READ_TIMEOUT_S", default_value_t = 10)]
    header_read_timeout_s: u64,
    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "PAYROUTE_BODY_TIMEOUT_S", default_value_t = 15)]
    body_timeout_s: u64,
    /// Open connections on the API listener beyond which new ones are closed at once.
    #[arg(long, env = "PAYROUTE_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// API requests handled at once beyond which new ones get 503 `overloaded`.
    #[arg(long, env = "PAYROUTE_MAX_IN_FLIGHT", default_value_t = 512)]
    max_in_flight: usize,
    /// Bytes all request bodies still being read may hold together.
    #[arg(long, env = "PAYROUTE_BODY_BUDGET_BYTES", default_value_t = 16 * 1024 * 1024)]
    body_budget_bytes: usize,
    /// PEM certificate chain: serve the API over TLS (with --tls-key).
    #[arg(long, env = "PAYROUTE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "PAYROUTE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM certificate chain: serve the ops listener over TLS (with --ops-tls-key).
    #[arg(long, env = "PAYROUTE_OPS_TLS_CERT", requires = "ops_tls_key")]
    ops_tls_cert: Option<PathBuf>,
    /// PEM private key of --ops-tls-cert.
    #[arg(long, env = "PAYROUTE_OPS_TLS_KEY", requires = "ops_tls_cert")]
    ops_tls_key: Option<PathBuf>,
    /// PEM CA certificates: /admin/* accepts client certificates they signed (mTLS).
    #[arg(long, env = "PAYROUTE_OPS_TLS_CLIENT_CA", requires = "ops_tls_cert")]
    ops_tls_client_ca: Option<PathBuf>,
    /// Testing aid: hold stored gateway events this long before applying them.
    #[arg(
        long,
        env = "PAYROUTE_WEBHOOK_APPLY_DELAY_MS",
        default_value_t = 0,
        hide = true
    )]
    webhook_apply_delay_ms: u64,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate the rules; exit 1 with file:line:col on the first error.
    Check {
        #[arg(long, env = "PAYROUTE_RULES", default_value = "routing-rules")]
        rules: PathBuf,
    },
    /// Show which rule a payment matches, its candidates and its risk score.
    Explain {
        #[arg(long, env = "PAYROUTE_RULES", default_value = "routing-rules")]
        rules: PathBuf,
        /// The create-payment JSON body.
        #[arg(long)]
        payment: String,
        /// The merchant id the payment is for.
        #[arg(long, default_value = "demo")]
        merchant: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Kept to the end of `main`: dropping it flushes the last log lines.
    let _logs = init_logging(cli.log_format);
    match cli.command {
        Command::Rules { command } => rules(command),
        Command::Serve(args) => runtime()?.block_on(serve(*args)),
        Command::Sandbox { listen } => runtime()?.block_on(sandbox(listen)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Log lines go to stderr from a thread of their own: a request never
/// waits on a slow log pipe. When the pipe falls behind by more than the
/// buffer, lines are dropped rather than payments held up.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("payroute-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

/// Log lines held for the log thread before new ones are dropped.
const LOG_BUFFER_LINES: usize = 64 * 1024;

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let secret = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Sensitive)
    };
    let edge = {
        let mut e = payroute::edge::EdgeConfig {
            body_budget: a.body_budget_bytes,
            ..Default::default()
        };
        for limits in [&mut e.api, &mut e.ops] {
            limits.header_read_timeout = Duration::from_secs(a.header_read_timeout_s.max(1));
            limits.handshake_timeout = limits.header_read_timeout;
            limits.body_timeout = Duration::from_secs(a.body_timeout_s.max(1));
        }
        e.api.max_connections = a.max_connections.max(1);
        e.api.max_in_flight = a.max_in_flight.max(1);
        e
    };
    let settings = payroute::server::Settings {
        edge,
        tls: tls_files(a.tls_cert, a.tls_key, None),
        ops_tls: tls_files(a.ops_tls_cert, a.ops_tls_key, a.ops_tls_client_ca),
        tls_reload_every: Duration::from_secs(5),
        allow_shipped_secrets: a.sandbox,
        listen: a.listen,
        ops_listen: a.ops_listen,
        rules: a.rules,
        store: a.store,
        sandbox_listen: a.sandbox.then_some(a.sandbox_listen),
        synchronous_full: a.sqlite_sync_full,
        admin_token: secret("PAYROUTE_ADMIN_TOKEN"),
        fingerprint_key: secret("PAYROUTE_FINGERPRINT_KEY"),
        shutdown_grace: Duration::from_secs(a.shutdown_grace),
        watch_rules: true,
        delivery: payroute::webhooks::outbound::DeliveryPolicy {
            base: Duration::from_millis(a.delivery_base_ms.max(1)),
            max_delay: Duration::from_secs(a.delivery_max_delay_s),
            max_age: Duration::from_secs(a.delivery_max_age_s),
            timeout: Duration::from_secs(a.delivery_timeout_s.max(1)),
        },
        apply_delay: Duration::from_millis(a.webhook_apply_delay_ms),
        clock: Default::default(),
        idempotency_stale: Duration::from_secs(a.idempotency_stale_s),
        reconcile: payroute::reconcile::ReconcileConfig {
            interval: Duration::from_secs(a.reconcile_interval_s.max(1)),
            min_age: Duration::from_secs(a.reconcile_min_age_s),
            not_found_grace: Duration::from_secs(a.reconcile_not_found_grace_s),
            reverse_after: Duration::from_secs(a.reconcile_reverse_after_s),
        },
    };
    if let Err(e) = payroute::server::run(settings).await {
        // Every `ServerError` names its cause in its own message; anyhow's
        // report would print that cause a second time, with a backtrace.
        tracing::error!(error = %e, "payroute cannot run");
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    Ok(())
}

fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> Option<payroute::edge::tls::TlsFiles> {
    Some(payroute::edge::tls::TlsFiles {
        cert: cert?,
        key: key?,
        client_ca,
    })
}

async fn sandbox(listen: String) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let handle =
        payroute_sandbox::start(listener, payroute_sandbox::SandboxConfig::default()).await?;
    tracing::info!(addr = %handle.addr, "sandbox listening");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}

fn rules(command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Check { rules } => match payroute::config::load(&rules) {
            Ok(rs) => print_out(&rs.summary()),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
        RulesCommand::Explain {
            rules,
            payment,
            merchant,
        } => {
            let rs = match payroute::config::load(&rules) {
                Ok(rs) => rs,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            };
            // The server's parser: the same checks and the same refusals.
            let facts = match payroute::api::request::parse_explain(&merchant, payment.as_bytes()) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("--payment: {e}");
                    std::process::exit(1);
                }
            };
            let decision = rs.decide(&facts, &payroute::risk::Velocity::default());
            print_out(&payroute::routing::explain_text(&decision))
        }
    }
}

/// Prints a command's output. A reader that stops early (`| head`) closes
/// the pipe: that ends the output, it is not an error (`println!` would
/// panic on it).
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
