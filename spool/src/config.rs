//! How a spool is sized and what it does when full.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::segment::SEGMENT_HEADER_BYTES;

/// The default size limit: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The largest segment file the spool starts on its own (8 MiB); see [`SpoolConfig::segment_bytes`].
pub const MAX_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// The smallest segment size (4 KiB).
pub const MIN_SEGMENT_BYTES: u64 = 4 * 1024;
/// The largest payload of one entry (1 GiB), whatever `max_bytes` allows: offsets in a
/// segment are 32-bit.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 30;

/// What [`Spool::append`](crate::Spool::append) does when the new entry does not fit in
/// `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Remove the oldest segment(s), unacknowledged entries included, until the new entry
    /// fits. The append reports what it dropped ([`Appended::dropped`](crate::Appended::dropped))
    /// and the drop is kept in the spool's state until the caller has reported it
    /// ([`Spool::unreported_drops`](crate::Spool::unreported_drops)). Newest data wins.
    #[default]
    DropOldest,
    /// Refuse the new entry with [`Error::Full`] and keep everything already spooled. The
    /// caller waits for acks (which free whole segments) and retries. Oldest data wins.
    Block,
}

/// A spool's settings.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The directory that holds the segment files, the state file and the lock file. It is
    /// created if missing. One spool per directory.
    pub dir: PathBuf,
    /// The most bytes the segment files may take together once an append returns. Default
    /// [`DEFAULT_MAX_BYTES`].
    pub max_bytes: u64,
    /// The size at which a segment is closed and a new one started; 0 picks
    /// `max_bytes / 16` bounded to [`MIN_SEGMENT_BYTES`]..=[`MAX_SEGMENT_BYTES`]. Space is
    /// freed (by acks or drops) a whole segment at a time, so this is also the granularity
    /// of a drop.
    pub segment_bytes: u64,
    /// What to do when full. Default [`WhenFull::DropOldest`].
    pub when_full: WhenFull,
}

impl SpoolConfig {
    /// A config for `dir` with every default.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), max_bytes: DEFAULT_MAX_BYTES, segment_bytes: 0, when_full: WhenFull::default() }
    }

    /// The segment size in force.
    pub(crate) fn effective_segment_bytes(&self) -> u64 {
        if self.segment_bytes > 0 {
            self.segment_bytes
        } else {
            (self.max_bytes / 16).clamp(MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES)
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        let min_max = 4 * MIN_SEGMENT_BYTES;
        if self.max_bytes < min_max {
            return Err(Error::Config(format!("max_bytes must be at least {min_max}, got {}", self.max_bytes)));
        }
        let segment = self.effective_segment_bytes();
        if !(SEGMENT_HEADER_BYTES * 2..=1 << 30).contains(&segment) || segment > self.max_bytes {
            return Err(Error::Config(format!(
                "segment_bytes must be between {} and the smaller of 1 GiB and max_bytes ({}), got {segment}",
                SEGMENT_HEADER_BYTES * 2,
                self.max_bytes
            )));
        }
        Ok(())
    }
}
