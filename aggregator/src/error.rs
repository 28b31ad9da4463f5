//! Errors of the aggregator, and their mapping to gRPC and HTTP status in one place.

use std::path::PathBuf;

/// What went wrong in the aggregator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store file could not be opened or created.
    #[error("cannot open store at {}", path.display())]
    OpenStore {
        /// The redb file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// The time-series engine could not be opened (e.g. a corrupt WAL record).
    #[error("cannot open the time-series engine in {}", path.display())]
    OpenEngine {
        /// The redb file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<sysmon_tsdb::Error>,
    },
    /// The engine refused or failed to store a batch; the sender keeps it and retries.
    #[error("cannot store the batch")]
    StoreBatch(#[source] Box<sysmon_tsdb::Error>),
    /// The engine could not read series.
    #[error("cannot read series")]
    ReadSeries(#[source] Box<sysmon_tsdb::Error>),
    /// A read or write of the store failed.
    #[error("store {op} failed")]
    Store {
        /// What was being done, e.g. "commit".
        op: &'static str,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// A stored record could not be decoded (the file was written by something else).
    #[error("stored {what} is corrupt: {reason}")]
    CorruptRecord {
        /// Which record.
        what: &'static str,
        /// Why it does not decode.
        reason: String,
    },
    /// The group commit that held this write failed; the sender keeps its batch and retries.
    #[error("group commit failed: {reason}")]
    GroupCommit {
        /// The failure, with its causes.
        reason: String,
    },
    /// The group-commit writer has stopped (shutdown, or a fatal storage error).
    #[error("the store writer has stopped")]
    WriterStopped,
    /// A batch broke a rule or a limit; the batch is refused, the stream goes on.
    #[error("{0}")]
    InvalidBatch(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    BindListener {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS")]
    Tls(#[source] sysmon_tls::Error),
    /// The data directory could not be created.
    #[error("cannot create data directory {}", path.display())]
    CreateDataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No host with this name is known.
    #[error("no host named {0:?}")]
    UnknownHost(String),
    /// A request parameter is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Federation could not start: discovery, announcement, or the replication state.
    #[error("cannot start federation")]
    StartFederation(#[source] sysmon_federation::Error),
    /// The uplink to the master could not be opened (its spool).
    #[error("cannot open the uplink to the master")]
    OpenUplink(#[source] sysmon_uplink::Error),
    /// Federation is configured in a way that cannot work; the message says what to change.
    #[error("{0}")]
    Federation(String),
}

/// Result with the aggregator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn store(op: &'static str) -> impl FnOnce(redb::Error) -> Error {
        move |source| Error::Store { op, source }
    }

    /// The HTTP status this error answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::UnknownHost(_) => 404,
            Error::BadRequest(_) | Error::InvalidBatch(_) => 400,
            Error::WriterStopped => 503,
            _ => 500,
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let message = format!("{:#}", DisplayChain(&err));
        match err {
            Error::InvalidBatch(_) | Error::BadRequest(_) => tonic::Status::invalid_argument(message),
            Error::UnknownHost(_) => tonic::Status::not_found(message),
            // Storage trouble is transient from the agent's point of view: it keeps the batch
            // and retries, so nothing is lost.
            _ => tonic::Status::unavailable(message),
        }
    }
}

/// Formats an error with its whole source chain: `a: b: c`.
pub(crate) struct DisplayChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
