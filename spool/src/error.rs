//! Errors of the spool.

use std::path::{Path, PathBuf};

/// What went wrong in a spool operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spool directory could not be created or listed.
    #[error("cannot open spool directory {}", dir.display())]
    OpenDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another [`Spool`](crate::Spool) in this one) holds the directory.
    #[error("spool directory {} is in use by another process (lock file {})", dir.display(), lock.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// A segment file could not be read while opening or reading the spool.
    #[error("cannot read spool segment {}", path.display())]
    ReadSegment {
        /// The segment file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A segment file could not be created, written, synced, truncated or removed.
    #[error("cannot write spool segment {}", path.display())]
    WriteSegment {
        /// The segment file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file (removal cursor and unreported drops) could not be written.
    #[error("cannot write spool state {}", path.display())]
    WriteState {
        /// The state file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An append used a seq that is not above every seq the spool has seen.
    #[error("seq {seq} is not above the spool's last seq; the next append needs seq >= {next_seq}")]
    SeqNotIncreasing {
        /// The seq given.
        seq: u64,
        /// The lowest seq an append may use.
        next_seq: u64,
    },
    /// An entry that could never fit, whatever is dropped.
    #[error("entry of {payload_bytes} bytes does not fit in the spool; limit max_bytes = {max_bytes}")]
    EntryTooLarge {
        /// The payload's size.
        payload_bytes: usize,
        /// The spool's limit.
        max_bytes: u64,
    },
    /// The spool is full and its policy is [`WhenFull::Block`](crate::WhenFull::Block):
    /// nothing was written; retry after [`Spool::ack`](crate::Spool::ack) frees room.
    #[error(
        "spool is full: {needed_bytes} more bytes needed, {spool_bytes} bytes in use; limit max_bytes = {max_bytes}"
    )]
    Full {
        /// The bytes the entry needs (record and, when a new segment starts, its header).
        needed_bytes: u64,
        /// The bytes the segment files take now.
        spool_bytes: u64,
        /// The spool's limit.
        max_bytes: u64,
    },
    /// The configuration is unusable.
    #[error("invalid spool config: {0}")]
    Config(String),
}

impl Error {
    /// Whether this is [`Error::Full`]: the entry was refused for now, not for good.
    pub fn is_full(&self) -> bool {
        matches!(self, Error::Full { .. })
    }

    /// The file or directory the error is about, when it is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::OpenDir { dir, .. } | Error::Locked { dir, .. } => Some(dir),
            Error::ReadSegment { path, .. } | Error::WriteSegment { path, .. } | Error::WriteState { path, .. } => {
                Some(path)
            }
            _ => None,
        }
    }

    /// The operating system's error underneath, when there is one (e.g. `ENOSPC`, `EIO`).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::OpenDir { source, .. }
            | Error::ReadSegment { source, .. }
            | Error::WriteSegment { source, .. }
            | Error::WriteState { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result with the spool's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
