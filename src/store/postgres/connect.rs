//! Reaching the PostgreSQL server: the URL (with the libpq `sslmode` values
//! tokio-postgres does not parse itself), TLS over rustls, the connection
//! pool and single connections kept outside it.
//!
//! `sslmode=require`, `verify-ca` and `verify-full` all connect over TLS and
//! verify the server's certificate chain and name, against the webpki roots
//! or the PEM file named by `sslrootcert`: stricter than libpq's `require`,
//! which checks nothing. `disable`, `allow`, `prefer` or no `sslmode`
//! connect in plain text.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::domain::store::StoreError;

/// Connect timeout when the URL sets none (`connect_timeout`): a dead host
/// must fail an open or a pool checkout within seconds, not minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Unacknowledged data for this long aborts the socket (Linux), so a
/// server gone mid-query surfaces as a closed connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(super) enum Tls {
    Plain,
    Rustls(MakeRustlsConnect),
}

/// Where and how to connect, parsed once from the store URL.
#[derive(Clone)]
pub(super) struct Target {
    pub config: Config,
    pub tls: Tls,
}

/// The URL's TLS wishes, taken out before tokio-postgres parses the rest.
struct TlsParams {
    mode: Option<String>,
    root_cert: Option<String>,
}

pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
    let (rest, params) = split_tls_params(url)?;
    let mut config: Config = rest
        .parse()
        .map_err(|e| StoreError::BadUrl(format!("{}: {e}", redact(url))))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("payroute");
    }
    let tls = match params.mode.as_deref() {
        None | Some("prefer" | "allow") => {
            config.ssl_mode(SslMode::Prefer);
            Tls::Plain
        }
        Some("disable") => {
            config.ssl_mode(SslMode::Disable);
            Tls::Plain
        }
        Some("require" | "verify-ca" | "verify-full") => {
            config.ssl_mode(SslMode::Require);
            Tls::Rustls(rustls_connector(params.root_cert.as_deref())?)
        }
        Some(other) => return Err(StoreError::BadUrl(format!("unknown sslmode {other:?}"))),
    };
    Ok(Target { config, tls })
}

/// Removes `sslmode` and `sslrootcert` from the query string.
fn split_tls_params(url: &str) -> Result<(String, TlsParams), StoreError> {
    let mut params = TlsParams {
        mode: None,
        root_cert: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), params));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => params.mode = Some(percent_decode(value)?),
            "sslrootcert" => params.root_cert = Some(percent_decode(value)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, params))
}

fn percent_decode(s: &str) -> Result<String, StoreError> {
    let bad = || StoreError::BadUrl(format!("bad percent-encoding in {s:?}"));
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The URL without its password, for error messages.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((creds, host)) if creds.contains(':') => {
            let user = creds.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

fn rustls_connector(root_cert: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    let roots = match root_cert {
        Some(path) => pem_roots(path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    // The provider is named here rather than taken from the process default,
    // which other parts of the binary may or may not have installed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::BadUrl(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn pem_roots(path: &str) -> Result<RootCertStore, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::BadUrl(format!("sslrootcert {path}: {e}"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in file"));
    }
    Ok(roots)
}

pub(super) fn pool(
    target: &Target,
    max_size: usize,
    timeout: Duration,
) -> Result<Pool, StoreError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let config = target.config.clone();
    let manager = match &target.tls {
        Tls::Plain => Manager::from_config(config, NoTls, manager_config),
        Tls::Rustls(tls) => Manager::from_config(config, tls.clone(), manager_config),
    };
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| StoreError::Unavailable(format!("building the connection pool: {e}")))
}

/// A connection outside the pool, with the task that drives it; aborting
/// the task closes the socket.
pub(super) async fn connect_one(target: &Target) -> Result<(Client, JoinHandle<()>), StoreError> {
    match &target.tls {
        Tls::Plain => {
            let (client, conn) = target.config.connect(NoTls).await?;
            Ok((client, tokio::spawn(drive(conn))))
        }
        Tls::Rustls(tls) => {
            let (client, conn) = target.config.connect(tls.clone()).await?;
            Ok((client, tokio::spawn(drive(conn))))
        }
    }
}

/// A driver error as an operator needs it. tokio-postgres's Display says
/// only "db error" or "error connecting to server": the server's own
/// message (a missing role or database, a refused password) is in the
/// `DbError`, and the I/O cause (connection refused) in the source chain.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str("; DETAIL: ");
            text.push_str(detail);
        }
        if let Some(hint) = db.hint() {
            text.push_str("; HINT: ");
            text.push_str(hint);
        }
        return text;
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A pool checkout error; a failed connect inside it is described as by
/// [`describe`] (the pool's Display would end in "db error" too).
pub(super) fn describe_pool(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    }
}

async fn drive<F>(conn: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(e) = conn.await {
        tracing::warn!(error = %e, "postgres connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_are_taken_out_and_the_rest_kept_verbatim() {
        let (rest, p) = split_tls_params(
            "postgres://u@h/db?sslmode=verify-full&options=-c%20search_path%3Dx&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db?options=-c%20search_path%3Dx");
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/tmp/ca.pem"));
        let (rest, p) = split_tls_params("postgres://u@h/db").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert!(p.mode.is_none());
    }

    #[test]
    fn sslmode_picks_the_connector() {
        let plain = parse("postgres://u@h/db?sslmode=disable").unwrap();
        assert!(matches!(plain.tls, Tls::Plain));
        assert_eq!(plain.config.get_ssl_mode(), SslMode::Disable);
        assert!(matches!(
            parse("postgres://u@h/db").unwrap().tls,
            Tls::Plain
        ));
        for mode in ["require", "verify-ca", "verify-full"] {
            let t = parse(&format!("postgresql://u@h/db?sslmode={mode}")).unwrap();
            assert!(matches!(t.tls, Tls::Rustls(_)), "{mode}");
            assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        }
        let bad = parse("postgres://u@h/db?sslmode=sometimes").err();
        assert!(matches!(bad, Some(StoreError::BadUrl(_))), "{bad:?}");
        let missing = parse("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent.pem").err();
        assert!(
            matches!(missing, Some(StoreError::BadUrl(_))),
            "{missing:?}"
        );
    }

    #[test]
    fn options_reach_the_config_decoded_and_defaults_fill_the_gaps() {
        let t = parse("postgres://u@h:5433/db?options=-c%20search_path%3Dt_1").unwrap();
        assert_eq!(t.config.get_options(), Some("-c search_path=t_1"));
        assert_eq!(t.config.get_ports(), [5433]);
        assert_eq!(t.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let t = parse("postgres://u@h/db?connect_timeout=2").unwrap();
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    /// The test server's URL (see `test_schema`) with `db` as its database.
    fn test_server_with_database(db: &str) -> String {
        let base = std::env::var(super::super::TEST_URL_ENV)
            .unwrap_or_else(|_| super::super::DEFAULT_TEST_URL.to_owned());
        let (head, query) = base.split_once('?').unwrap_or((&base, ""));
        let (server, _) = head.rsplit_once('/').unwrap();
        let sep = if query.is_empty() { "" } else { "?" };
        format!("{server}/{db}{sep}{query}")
    }

    /// The error text of opening `url` through the pool and of one
    /// connection outside it: both paths must say the same.
    async fn open_errors(url: &str) -> [String; 2] {
        let pooled = super::super::PostgresStore::open_sized(url, 1)
            .await
            .err()
            .expect("opening must fail");
        let single = connect_one(&parse(url).unwrap())
            .await
            .expect_err("connecting must fail");
        [pooled.to_string(), single.to_string()]
    }

    #[tokio::test]
    async fn a_missing_database_is_named_in_the_connect_error() {
        let db = format!("payroute_missing_{}", std::process::id());
        let url = test_server_with_database(&db);
        for text in open_errors(&url).await {
            assert!(
                text.contains(&format!("database \"{db}\" does not exist")),
                "{text}"
            );
            assert!(text.contains("3D000"), "the SQLSTATE is shown: {text}");
        }
    }

    #[tokio::test]
    async fn a_missing_role_is_named_in_the_connect_error() {
        let url = test_server_with_database("test").replacen(
            "://postgres@",
            "://payroute_no_such_role@",
            1,
        );
        assert!(url.contains("payroute_no_such_role"), "{url}");
        for text in open_errors(&url).await {
            assert!(
                text.contains("role \"payroute_no_such_role\" does not exist"),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_named_as_a_refused_connection() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("postgres://postgres@127.0.0.1:{port}/test");
        for text in open_errors(&url).await {
            assert!(text.to_lowercase().contains("connection refused"), "{text}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://me:secret@h/db"),
            "postgres://me:***@h/db"
        );
        assert_eq!(redact("postgres://me@h/db"), "postgres://me@h/db");
    }
}
