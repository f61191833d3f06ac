//! Inbound TLS with rustls: TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1`, the certificate chain and key read from PEM files and read
//! again when their content changes (a renewed certificate, a Kubernetes
//! secret swapped), and optionally client certificates checked against a CA
//! (mTLS, for the ops listener).
//!
//! With a client CA, a client that presents a certificate must present one
//! the CA signed or the handshake fails; a client that presents none still
//! connects, so that probes and Prometheus reach `/livez`, `/readyz` and
//! `/metrics`, but such requests carry no [`super::ClientCert`] and
//! `/admin/*` refuses them unless they bring the admin token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// Where a listener's certificate, key and (optionally) client CA are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM: CA certificates that sign client certificates (mTLS).
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key in it (PKCS#8, PKCS#1 or SEC1): {message}")]
    NoKey { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("the key in {key} does not match the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
}

/// A listener's TLS: the acceptor, and the certificate it serves, which
/// [`ServerTls::reload`] replaces when the files change.
pub struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
    resolver: Arc<ReloadingCert>,
}

impl ServerTls {
    pub fn load(files: &TlsFiles) -> Result<ServerTls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (key, digest) = read_key(files, &provider)?;
        let resolver = Arc::new(ReloadingCert {
            files: files.clone(),
            provider: provider.clone(),
            current: ArcSwap::from_pointee(key),
            digest: Mutex::new(digest),
        });
        let invalid = |path: &Path, e: rustls::Error| TlsError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| invalid(&files.cert, e))?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca)? {
                    roots.add(cert).map_err(|e| invalid(ca, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| TlsError::Invalid {
                            path: ca.clone(),
                            message: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            resolver,
        })
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.acceptor.clone()
    }

    /// Reads the files again; swaps the certificate in when their content
    /// changed and is valid. `Ok(true)` when it swapped.
    pub fn reload(&self) -> Result<bool, TlsError> {
        self.resolver.reload()
    }

    /// Calls [`ServerTls::reload`] every `every` until shutdown; a bad file
    /// is logged and the certificate in service stays.
    pub async fn watch(self: Arc<Self>, every: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.reload()).await {
                Ok(Ok(true)) => {
                    tracing::info!(cert = %self.resolver.files.cert.display(), "TLS certificate reloaded")
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; the one in service stays")
                }
                Err(e) => tracing::warn!(error = %e, "TLS reload task failed"),
            }
        }
    }
}

#[derive(Debug)]
struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// Of the files' bytes, so an unchanged file is not parsed again.
    digest: Mutex<[u8; 32]>,
}

impl ReloadingCert {
    fn reload(&self) -> Result<bool, TlsError> {
        let (cert, key) = read_pair(&self.files)?;
        let digest = digest(&cert, &key);
        if self.digest.lock().is_ok_and(|d| *d == digest) {
            return Ok(false);
        }
        let (certified, digest) = read_key(&self.files, &self.provider)?;
        self.current.store(Arc::new(certified));
        if let Ok(mut d) = self.digest.lock() {
            *d = digest;
        }
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_pair(files: &TlsFiles) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    Ok((read(&files.cert)?, read(&files.key)?))
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    parse_certs(path, &read(path)?)
}

fn parse_certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn read_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<(CertifiedKey, [u8; 32]), TlsError> {
    let (cert_pem, key_pem) = read_pair(files)?;
    let chain = parse_certs(&files.cert, &cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::NoKey {
        path: files.key.clone(),
        message: e.to_string(),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Invalid {
            path: files.key.clone(),
            message: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    if certified.keys_match().is_err() {
        return Err(TlsError::Mismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        });
    }
    Ok((certified, digest(&cert_pem, &key_pem)))
}
