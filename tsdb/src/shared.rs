//! State shared by the handle, the writer thread and the sealer thread.
//!
//! Lock order: never hold two of `index`, `heads` and `producer_seqs` at once, except the
//! writer reading `index` and `producer_seqs` together while it builds a transaction.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;

use crate::config::TsdbConfig;
use crate::head::Heads;
use crate::index::SeriesIndex;
use crate::partition::PartitionSet;
use crate::stats::Counters;

/// Everything the engine's threads share.
pub(crate) struct Shared {
    /// The redb file.
    pub(crate) db: Arc<redb::Database>,
    /// Checked settings.
    pub(crate) config: TsdbConfig,
    /// Series and postings; written only by the writer thread.
    pub(crate) index: RwLock<SeriesIndex>,
    /// Unsealed samples; appended by the writer, sealed by the sealer, copied by readers.
    pub(crate) heads: Mutex<Heads>,
    /// Highest committed seq per producer; written only by the writer thread.
    pub(crate) producer_seqs: RwLock<FxHashMap<String, u64>>,
    /// Figures.
    pub(crate) counters: Counters,
    /// Per tier (see [`crate::Tier::index`]): buckets starting before this are complete.
    pub(crate) rolled_up_until: [AtomicI64; 2],
    /// The partitions of the chunk table.
    pub(crate) chunk_partitions: PartitionSet,
    /// Per tier: the partitions of its run table.
    pub(crate) rollup_partitions: [PartitionSet; 2],
}
