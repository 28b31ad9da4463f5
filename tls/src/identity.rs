//! The identity a certificate proves: its subject common name, and whether it is an
//! aggregator's (issued with `sysmon certs issue --server`, so it may also serve) or an
//! agent's.

use std::path::Path;

use crate::error::{Error, Result};

/// Returns the subject common name of a DER certificate: an agent's id, or a server's name.
///
/// Call this only on a certificate the TLS layer has already verified against the fleet CA.
///
/// # Errors
/// The certificate cannot be parsed or has no common name.
pub fn peer_identity(cert_der: &[u8]) -> Result<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|_| Error::NoIdentity)?;
    let cn = cert.subject().iter_common_name().next().ok_or(Error::NoIdentity)?;
    cn.as_str().map(str::to_string).map_err(|_| Error::NoIdentity)
}

/// Whether a DER certificate is an aggregator's: it may authenticate a server (extended key
/// usage serverAuth), which the fleet CA grants only to `sysmon certs issue --server`.
/// Agents' certificates are for client authentication only. Only aggregators may federate.
pub fn is_aggregator_certificate(cert_der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else { return false };
    matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.server_auth)
}

/// The common name of the first certificate in a PEM file: this process's own identity.
///
/// # Errors
/// The file cannot be read, holds no certificate, or the certificate has no common name.
pub fn certificate_identity(path: &Path) -> Result<String> {
    let certs = crate::server::load_certs(path, "certificate")?;
    peer_identity(&certs[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FleetCa;

    #[test]
    fn aggregator_and_agent_certificates_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let ca = FleetCa::create("test CA").unwrap();
        let server = ca.issue_server("agg-eu1", &["127.0.0.1".to_string()], 1).unwrap().write(dir.path(), "s").unwrap();
        let agent = ca.issue_agent("web-01", 1).unwrap().write(dir.path(), "a").unwrap();
        let der = |path: &Path| crate::server::load_certs(path, "certificate").unwrap().remove(0);
        assert!(is_aggregator_certificate(&der(&server.cert)));
        assert!(!is_aggregator_certificate(&der(&agent.cert)));
        assert_eq!(certificate_identity(&server.cert).unwrap(), "agg-eu1");
        assert_eq!(certificate_identity(&agent.cert).unwrap(), "web-01");
    }
}
