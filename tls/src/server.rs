//! The rustls server configuration that requires a client certificate from the fleet CA.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// Builds a server configuration that presents `cert`/`key`, offers HTTP/2 (gRPC), and
/// accepts only clients whose certificate is signed by the CA in `ca`.
///
/// # Errors
/// A file cannot be read or parsed, or the key does not match the certificate.
pub fn server_config(ca: &Path, cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    let mut roots = RootCertStore::empty();
    for ca_cert in load_certs(ca, "CA certificate")? {
        roots.add(ca_cert).map_err(|e| invalid(ca, "CA certificate", e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Config { reason: e.to_string() })?;
    let certs = load_certs(cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(key, "private key", e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| Error::Config { reason: e.to_string() })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config { reason: format!("{} does not fit {}: {e}", key_name(cert), cert.display()) })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn key_name(cert: &Path) -> String {
    format!("the key for {}", cert.display())
}

pub(crate) fn load_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(path, what, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, what, e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(path, what, "no PEM certificate found".to_string()));
    }
    Ok(certs)
}

pub(crate) fn invalid(path: &Path, what: &'static str, reason: String) -> Error {
    Error::InvalidPem { path: path.to_path_buf(), what, reason }
}
