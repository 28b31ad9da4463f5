//! What can go wrong on an uplink.

use std::path::PathBuf;

/// An uplink error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The disk spool could not be opened (locked by another process, unreadable, not writable).
    #[error("cannot open the spool in {}", dir.display())]
    OpenSpool {
        /// The spool directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: sysmon_spool::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read {}", path.display())]
    ReadCertificate {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Connecting to an aggregator failed.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// Why, with the transport's causes.
        reason: String,
    },
    /// The aggregator refused or ended the stream.
    #[error("aggregator answered {}: {}", .0.code(), .0.message())]
    Refused(tonic::Status),
    /// The aggregator did not answer in time.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
    },
    /// The aggregator broke the protocol or closed the stream.
    #[error("{0}")]
    Protocol(String),
}

/// Result with the uplink's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
