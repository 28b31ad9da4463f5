//! A bounded, crash-safe, on-disk FIFO queue of opaque payloads keyed by rising `u64` seqs.
//!
//! This is the disk spool of DESIGN.md's data path (step 2): the agent appends every batch
//! here before sending it and acks it once the aggregator has it on disk; a regional
//! aggregator will do the same for its federation upstream. The crate knows nothing of
//! batches or protobuf: an entry is a seq and some bytes.
//!
//! - [`Spool::append`] returns once the entry is written and fdatasync'ed.
//! - [`Spool::ack`] removes every entry up to a seq; [`Spool::read_after`] and
//!   [`Spool::iter_after`] read the rest in seq order.
//! - The segment files never take more than [`SpoolConfig::max_bytes`] once an append
//!   returns; when the next entry does not fit, [`WhenFull`] drops the oldest segment
//!   (reporting the seqs in [`Appended::dropped`] and in [`Spool::unreported_drops`] until
//!   the caller says it reported them) or refuses with [`Error::Full`].
//! - [`Spool::open`] recovers after a crash: a torn record at the end is cut off, a damaged
//!   record elsewhere is skipped without losing the records or segments after it.
//!
//! Durability: an appended entry is on disk before `append` returns (record written with
//! one `pwrite`, then `fdatasync`; a new segment file and its directory are synced before
//! the first record goes in). Acks are written lazily, at most once a second and without
//! fsync, because losing one only makes the caller resend entries that the receiver already
//! holds and drops by seq. Drops are synced before the dropped segments are deleted, so a
//! drop is never forgotten. The on-disk format is in the crate's README.md.
//!
//! The crate has no feature flags. Every call blocks on file I/O.
#![warn(missing_docs, unreachable_pub)]

mod config;
mod drops;
mod error;
mod record;
mod segment;
mod spool;
mod state;

pub use config::{DEFAULT_MAX_BYTES, MAX_PAYLOAD_BYTES, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, SpoolConfig, WhenFull};
pub use drops::{DropReason, Dropped};
pub use error::{Error, Result};
pub use spool::{Appended, Entry, Iter, Recovery, Spool};
