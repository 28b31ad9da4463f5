//! Errors of the agent: collection, configuration and shipping.

use std::path::PathBuf;

/// What went wrong in the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A /proc or /sys file could not be read.
    #[error("cannot read {}", path.display())]
    ReadSource {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A /proc or /sys file did not have the expected format.
    #[error("cannot parse {}: {reason}", path.display())]
    ParseSource {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// Result with the agent's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
