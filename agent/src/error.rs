//! Errors of the agent: collection, configuration and its spool.

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
    /// The filesystem collector's helper thread, which runs `statvfs` with a timeout, could
    /// not be started.
    #[error("cannot start the statvfs thread")]
    SpawnStatWorker {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A collector panicked (a bug); it counts as failed and the others still ran.
    #[error("collector {collector} panicked")]
    CollectorPanicked {
        /// The collector's name.
        collector: &'static str,
    },
    /// The disk spool could not be opened (locked by another agent, unreadable, not writable).
    #[error("cannot open the spool in {} (spool.dir)", dir.display())]
    OpenSpool {
        /// `spool.dir`.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: sysmon_spool::Error,
    },
    /// Starting the agent failed in a way no other variant names (a panicked task).
    #[error("{0}")]
    Protocol(String),
}

/// Result with the agent's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The agent's error for an uplink that would not open: its spool.
    pub(crate) fn from_uplink(error: sysmon_uplink::Error) -> Error {
        match error {
            sysmon_uplink::Error::OpenSpool { dir, source } => Error::OpenSpool { dir, source },
            other => Error::Protocol(other.to_string()),
        }
    }
}
