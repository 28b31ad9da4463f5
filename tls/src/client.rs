//! The rustls client configuration an agent (or a regional) uses to reach an aggregator.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use crate::error::{Error, Result};
use crate::server::{invalid, load_certs};

/// Builds a client configuration that trusts only the CA in `ca`, presents `cert`/`key`
/// as the client certificate, and offers HTTP/2 (gRPC).
///
/// # Errors
/// A file cannot be read or parsed, or the key does not match the certificate.
pub fn client_config(ca: &Path, cert: &Path, key: &Path) -> Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    for ca_cert in load_certs(ca, "CA certificate")? {
        roots.add(ca_cert).map_err(|e| invalid(ca, "CA certificate", e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = load_certs(cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(key, "private key", e.to_string()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| Error::Config { reason: e.to_string() })?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| Error::Config { reason: format!("the key does not fit {}: {e}", cert.display()) })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
