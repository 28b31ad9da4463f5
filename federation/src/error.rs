//! What can go wrong in federation.

use std::path::PathBuf;

/// A federation error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The replication cursor's file could not be read.
    #[error("cannot read the replication state {}", path.display())]
    ReadState {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The replication cursor's file could not be written.
    #[error("cannot write the replication state {}", path.display())]
    WriteState {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The replication cursor's file holds something else.
    #[error("the replication state {} is damaged ({reason}); delete it to replicate again from `federation.backfill` ago", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The aggregator's store could not be read for replication.
    #[error("cannot read the store for replication: {0}")]
    ReadSource(String),
    /// The aggregator is stopping.
    #[error("stopping")]
    Cancelled,
}

/// Result with federation's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
