//! `payroute-sandbox [--listen ADDR]`: the gateway simulator on its own,
//! until Ctrl-C. Everything else lives in the library.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "payroute-sandbox",
    about = "Gateway simulator (Stripe, Adyen, Checkout.com dialects)"
)]
struct Cli {
    /// Address to listen on.
    #[arg(
        long,
        env = "PAYROUTE_SANDBOX_LISTEN",
        default_value = "127.0.0.1:4010"
    )]
    listen: String,
}

#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, #[source] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] payroute_sandbox::SandboxError),
    #[error("waiting for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
}

#[tokio::main]
async fn main() -> Result<(), MainError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .map_err(|e| MainError::Bind(cli.listen.clone(), e))?;
    let handle =
        payroute_sandbox::start(listener, payroute_sandbox::SandboxConfig::default()).await?;
    tracing::info!(addr = %handle.addr, "sandbox listening");
    tokio::signal::ctrl_c().await.map_err(MainError::Signal)?;
    handle.shutdown().await;
    Ok(())
}
