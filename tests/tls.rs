//! TLS on the listeners, with certificates made in the test (rcgen) and a
//! real TLS client (rustls): HTTPS with HTTP/2 or HTTP/1.1 by ALPN, plain
//! HTTP to a TLS port refused cleanly, a renewed certificate served without
//! a restart, and client certificates (mTLS) guarding `/admin/*` on ops.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{DEMO_KEY, Harness};
use http::{Request, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use payroute::edge::tls::TlsFiles;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Ca = CertifiedIssuer<'static, KeyPair>;

fn new_ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate and key (PEM) signed by `ca`.
fn leaf(ca: &Ca, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(names).unwrap();
    p.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The server's certificate and key files, from `ca`.
fn server_files(dir: &Path, ca: &Ca, client_ca: Option<PathBuf>) -> TlsFiles {
    let (cert, key) = leaf(
        ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    TlsFiles {
        cert: write(dir, "server.pem", &cert),
        key: write(dir, "server.key", &key),
        client_ca,
    }
}

fn client_config(
    ca: &Ca,
    client: Option<(String, String)>,
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    client_config_versions(ca, client, alpn, rustls::DEFAULT_VERSIONS)
}

fn client_config_versions(
    ca: &Ca,
    client: Option<(String, String)>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

struct Answer {
    status: u16,
    version: Version,
    body: String,
}

/// One request over a fresh TLS connection, HTTP/2 when ALPN chose it.
async fn https(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
    auth: Option<&str>,
) -> Result<Answer, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    let mut req = Request::builder()
        .uri(format!("https://localhost{path}"))
        .header("host", "localhost");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    let io = TokioIo::new(tls);
    let resp = if h2 {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(req).await
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(req).await
    }
    .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let version = resp.version();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Answer {
        status,
        version,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_over_https_with_http2_or_http11_chosen_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("test CA");
    let files = server_files(dir.path(), &ca, None);
    let h = Harness::start_opts(|_, _| {}, |s| s.tls = Some(files)).await;
    let api = addr(&h.api);
    let auth = format!("Bearer {DEMO_KEY}");
    for (alpn, version) in [
        (&[b"h2".as_slice()][..], Version::HTTP_2),
        (&[b"http/1.1".as_slice()][..], Version::HTTP_11),
    ] {
        let a = https(
            api,
            client_config(&ca, None, alpn),
            "/v1/payments/pay_none",
            Some(&auth),
        )
        .await
        .unwrap();
        assert_eq!((a.status, a.version), (404, version), "{}", a.body);
        assert!(a.body.contains("resource_missing"), "{}", a.body);
    }
    // TLS 1.2 clients are served too (rustls offers nothing older).
    let tls12 = client_config_versions(&ca, None, &[], &[&rustls::version::TLS12]);
    let a = https(api, tls12, "/v1/payments/x", None).await.unwrap();
    assert_eq!(a.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_the_tls_port_is_refused_cleanly_and_https_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("test CA");
    let files = server_files(dir.path(), &ca, None);
    let h = Harness::start_opts(|_, _| {}, |s| s.tls = Some(files)).await;
    let api = addr(&h.api);
    let mut plain = TcpStream::connect(api).await.unwrap();
    plain
        .write_all(b"GET /v1/payments/x HTTP/1.1\r\nHost: p\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was left open");
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "plain HTTP was answered over a TLS port"
    );
    // Whatever came back is at most a TLS alert record (content type 21).
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");
    let a = https(
        api,
        client_config(&ca, None, &[b"http/1.1"]),
        "/v1/payments/x",
        None,
    )
    .await
    .unwrap();
    assert_eq!(a.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = new_ca("old CA");
    let files = server_files(dir.path(), &old_ca, None);
    let h = Harness::start_opts(
        |_, _| {},
        |s| {
            s.tls = Some(files);
            s.tls_reload_every = Duration::from_millis(100);
        },
    )
    .await;
    let api = addr(&h.api);
    let new_ca = new_ca("new CA");
    assert!(
        https(api, client_config(&new_ca, None, &[]), "/", None)
            .await
            .is_err()
    );
    server_files(dir.path(), &new_ca, None);
    common::eventually(10, "the renewed certificate", || async {
        https(
            api,
            client_config(&new_ca, None, &[]),
            "/v1/payments/x",
            None,
        )
        .await
        .is_ok_and(|a| a.status == 401)
    })
    .await;
    assert!(
        https(api, client_config(&old_ca, None, &[]), "/", None)
            .await
            .is_err(),
        "the old certificate is no longer served"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_on_ops_refuses_admin_to_a_client_without_a_certificate_and_keeps_probes_open() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("ops CA");
    let client_ca = write(dir.path(), "client-ca.pem", &ca.pem());
    let files = server_files(dir.path(), &ca, Some(client_ca));
    let h = Harness::start_opts(|_, _| {}, |s| s.ops_tls = Some(files)).await;
    let ops = addr(&h.ops);
    let anonymous = client_config(&ca, None, &[]);
    let r = https(ops, anonymous.clone(), "/admin/rules", None)
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("client_certificate_required"), "{}", r.body);
    for open in ["/livez", "/readyz", "/metrics"] {
        let r = https(ops, anonymous.clone(), open, None).await.unwrap();
        assert_eq!(r.status, 200, "{open}: {}", r.body);
    }
    let cert = leaf(&ca, &["sre-laptop"], ExtendedKeyUsagePurpose::ClientAuth);
    let r = https(
        ops,
        client_config(&ca, Some(cert), &[]),
        "/admin/rules",
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let stranger = new_ca("someone else's CA");
    let forged = leaf(
        &stranger,
        &["intruder"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let r = https(
        ops,
        client_config(&ca, Some(forged), &[]),
        "/admin/rules",
        None,
    )
    .await;
    assert!(
        r.is_err(),
        "a certificate from another CA completed the handshake"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_the_handshake_is_closed_at_the_handshake_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("test CA");
    let files = server_files(dir.path(), &ca, None);
    let deadline = Duration::from_secs(1);
    let h = Harness::start_opts(
        |_, _| {},
        |s| {
            s.tls = Some(files);
            s.edge.api.handshake_timeout = deadline;
        },
    )
    .await;
    let mut silent = TcpStream::connect(addr(&h.api)).await.unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a silent client kept its TLS connection");
    let lived = started.elapsed();
    assert!(
        lived >= deadline - Duration::from_millis(100),
        "closed after {lived:?}"
    );
    assert!(
        lived < deadline + Duration::from_secs(3),
        "closed after {lived:?}"
    );
}
