//! State shared by the handle, the writer thread and the sealer thread.
//!
//! Lock order: never hold two of `index`, `heads` and `producer_seqs` at once, except the
//! writer reading `index` and `producer_seqs` together while it builds a transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;

use crate::config::TsdbConfig;
use crate::head::Heads;
use crate::index::SeriesIndex;
use crate::partition::PartitionSet;
use crate::rollup::{Materialized, complete_before};
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
    /// Per tier (see [`crate::Tier::index`]): buckets starting before this are complete
    /// (see `rollup/done.rs`).
    pub(crate) rolled_up_until: [AtomicI64; 2],
    /// The partitions of the pack table.
    pub(crate) pack_partitions: PartitionSet,
    /// The partitions whose rollup runs are materialized.
    pub(crate) rollup_done: Materialized,
    /// The partitions holding chunks, in the chunk table or packed.
    pub(crate) chunk_partitions: PartitionSet,
    /// The partitions that may hold chunks in the chunk table: not packed yet, or with
    /// chunks sealed into them late. A read looks in the chunk table only for these (a
    /// table to open and a tree to descend per partition, for nothing, once packed). The
    /// sealer adds a partition before it commits chunks there and the packer removes one
    /// after it has moved all of them (both on the sealer's thread, so no chunk lands in
    /// between); retention removes the partitions it deletes.
    pub(crate) loose_partitions: PartitionSet,
    /// The partitions noted in `tsdb_rollup_received`: 1-minute runs received there are not
    /// compacted yet, nor its 1-hour points put together (see `rollup/compact.rs`). Changed
    /// only inside the write transactions that change the table.
    pub(crate) received_partitions: PartitionSet,
    /// Per tier: the partitions of its run table (for the 1-hour tier, packed weeks too).
    pub(crate) rollup_partitions: [PartitionSet; 2],
    /// The weeks of the 1-hour tier that are packed (see `rollup/packed.rs`); a read looks
    /// for packs only in these.
    pub(crate) hour_pack_weeks: PartitionSet,
}

impl Shared {
    /// Publishes, per kept tier, the time before which its buckets are complete (see
    /// [`complete_before`]). Called after anything that moves it: a sealing round, a
    /// materialization, retention.
    pub(crate) fn publish_rollup_frontier(&self) {
        let (oldest_unsealed, newest) = {
            let heads = self.heads.lock();
            (heads.oldest_unsealed_ts(), heads.max_ts())
        };
        let partitions = self.chunk_partitions.before(i64::MAX);
        for tier in self.config.tiers() {
            let until = complete_before(tier, &self.rollup_done, &partitions, oldest_unsealed, newest);
            self.rolled_up_until[tier.index()].store(until, Ordering::Relaxed);
        }
    }
}
