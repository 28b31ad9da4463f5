//! The engine's figures, for `/metrics` and the status page.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of the engine's figures. Totals count since open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsdbStats {
    /// Series in the index.
    pub series: usize,
    /// Samples in head chunks, not yet sealed.
    pub head_samples: u64,
    /// Head chunks (open, and cut but not yet sealed).
    pub head_chunks: usize,
    /// Approximate memory held by head chunks and per-series state, in bytes.
    pub head_bytes: usize,
    /// Head chunks cut and waiting for the sealer.
    pub pending_seal_chunks: usize,
    /// Sealed chunks stored.
    pub sealed_chunks: u64,
    /// Bytes of sealed chunks written since open.
    pub sealed_bytes_total: u64,
    /// Samples sealed since open.
    pub sealed_samples_total: u64,
    /// WAL records stored.
    pub wal_records: u64,
    /// Bytes of WAL records stored.
    pub wal_bytes: u64,
    /// Bytes of WAL records written since open.
    pub wal_bytes_written_total: u64,
    /// Batches waiting for the writer.
    pub queued_batches: usize,
    /// Samples waiting for the writer.
    pub queued_samples: usize,
    /// Group commits since open.
    pub commits_total: u64,
    /// Samples stored since open.
    pub appended_total: u64,
    /// Samples refused as out of order since open.
    pub out_of_order_total: u64,
    /// Duplicate samples ignored since open.
    pub duplicates_total: u64,
    /// Replayed batches answered without storing since open.
    pub replays_total: u64,
    /// Batches refused because the queue was full, since open.
    pub refused_batches_total: u64,
    /// Group commits that failed since open.
    pub commit_errors_total: u64,
    /// Sealing transactions that failed since open.
    pub seal_errors_total: u64,
    /// Sealed chunks deleted by retention since open.
    pub expired_chunks_total: u64,
    /// Rollup runs deleted by retention since open.
    pub expired_rollup_rows_total: u64,
    /// Partitions whose rollup runs were materialized from their chunks since open.
    pub materialized_partitions_total: u64,
    /// Partitions whose received rollup runs were compacted since open.
    pub compacted_partitions_total: u64,
    /// Series' weeks of 1-hour runs moved into packs since open.
    pub packed_hour_runs_total: u64,
    /// Series removed by retention since open.
    pub removed_series_total: u64,
}

/// The live counters behind [`TsdbStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queued_batches: AtomicUsize,
    pub(crate) queued_samples: AtomicUsize,
    /// Mirror of the heads' pending-seal count, read by `submit` without the heads lock.
    pub(crate) pending_seal_chunks: AtomicUsize,
    pub(crate) sealed_chunks: AtomicU64,
    pub(crate) sealed_bytes_total: AtomicU64,
    pub(crate) sealed_samples_total: AtomicU64,
    pub(crate) wal_records: AtomicU64,
    pub(crate) wal_bytes: AtomicU64,
    pub(crate) wal_bytes_written_total: AtomicU64,
    pub(crate) commits_total: AtomicU64,
    pub(crate) appended_total: AtomicU64,
    pub(crate) out_of_order_total: AtomicU64,
    pub(crate) duplicates_total: AtomicU64,
    pub(crate) replays_total: AtomicU64,
    pub(crate) refused_batches_total: AtomicU64,
    pub(crate) commit_errors_total: AtomicU64,
    pub(crate) seal_errors_total: AtomicU64,
    pub(crate) expired_chunks_total: AtomicU64,
    pub(crate) expired_rollup_rows_total: AtomicU64,
    pub(crate) materialized_partitions_total: AtomicU64,
    pub(crate) compacted_partitions_total: AtomicU64,
    pub(crate) packed_hour_runs_total: AtomicU64,
    pub(crate) removed_series_total: AtomicU64,
}

/// Adds to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Subtracts from a gauge, never below zero.
pub(crate) fn sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
}

impl Counters {
    /// The counters' part of a [`TsdbStats`].
    pub(crate) fn snapshot(&self) -> TsdbStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TsdbStats {
            queued_batches: self.queued_batches.load(Ordering::Relaxed),
            queued_samples: self.queued_samples.load(Ordering::Relaxed),
            sealed_chunks: get(&self.sealed_chunks),
            sealed_bytes_total: get(&self.sealed_bytes_total),
            sealed_samples_total: get(&self.sealed_samples_total),
            wal_records: get(&self.wal_records),
            wal_bytes: get(&self.wal_bytes),
            wal_bytes_written_total: get(&self.wal_bytes_written_total),
            commits_total: get(&self.commits_total),
            appended_total: get(&self.appended_total),
            out_of_order_total: get(&self.out_of_order_total),
            duplicates_total: get(&self.duplicates_total),
            replays_total: get(&self.replays_total),
            refused_batches_total: get(&self.refused_batches_total),
            commit_errors_total: get(&self.commit_errors_total),
            seal_errors_total: get(&self.seal_errors_total),
            expired_chunks_total: get(&self.expired_chunks_total),
            expired_rollup_rows_total: get(&self.expired_rollup_rows_total),
            materialized_partitions_total: get(&self.materialized_partitions_total),
            compacted_partitions_total: get(&self.compacted_partitions_total),
            packed_hour_runs_total: get(&self.packed_hour_runs_total),
            removed_series_total: get(&self.removed_series_total),
            ..TsdbStats::default()
        }
    }
}
