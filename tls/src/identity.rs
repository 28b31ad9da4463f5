//! The identity a peer certificate proves: its subject common name.

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
