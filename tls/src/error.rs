//! Errors of certificate issuance and TLS configuration.

use std::path::PathBuf;

/// What went wrong while creating, loading or using certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Generating a key or signing a certificate failed.
    #[error("cannot generate {what}")]
    Generate {
        /// What was being generated, e.g. "the CA certificate".
        what: String,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file could not be written.
    #[error("cannot write {}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file that should hold PEM does not hold what it should.
    #[error("{what} in {} is not valid: {reason}", path.display())]
    InvalidPem {
        /// The file (empty when the PEM did not come from a file).
        path: PathBuf,
        /// What the file should hold, e.g. "certificate".
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The rustls configuration was refused (for example a key that does not match its certificate).
    #[error("cannot build the TLS configuration: {reason}")]
    Config {
        /// Why.
        reason: String,
    },
    /// A peer certificate carries no usable identity.
    #[error("peer certificate has no subject common name to use as its identity")]
    NoIdentity,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
