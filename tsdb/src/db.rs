//! The engine handle: open (recovery, then the writer and sealer threads), submit, queries,
//! stats, close.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;
use tracing::{debug, error, info};

use crate::batch::{CommitOutcome, KeyedBatch, PreparedBatch, WriteBatch};
use crate::config::TsdbConfig;
use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::read::{self, RollupSeries, SampleColumns, SeriesData};
use crate::recovery::recover;
use crate::rollup::Tier;
use crate::schema::create_tables;
use crate::seal::{self, SealerSignal};
use crate::shared::Shared;
use crate::stats::{TsdbStats, add};
use crate::writer::{self, Request, WriterState};

/// The time-series engine over one redb file. Cheap to share behind an `Arc`; every method
/// takes `&self` except [`Tsdb::close`].
///
/// Dropping it without [`Tsdb::close`] stops its threads without sealing the heads: the next
/// open replays them from the WAL, exactly as after a crash.
pub struct Tsdb {
    shared: Arc<Shared>,
    writer_tx: SyncSender<Request>,
    threads: Option<Threads>,
}

struct Threads {
    writer: JoinHandle<()>,
    sealer: JoinHandle<Result<()>>,
    sealer_tx: SyncSender<SealerSignal>,
}

impl Tsdb {
    /// Opens the engine on `db`: creates its tables if needed, loads the series index,
    /// replays the WAL into head chunks, and starts the writer and sealer threads.
    ///
    /// Blocking: run it off async worker threads.
    ///
    /// # Errors
    /// An invalid config, an unreadable file, or a corrupt series key or WAL record (named
    /// with its number).
    pub fn open(db: Arc<redb::Database>, config: TsdbConfig) -> Result<Tsdb> {
        config.validate()?;
        create_tables(&db)?;
        let recovered = recover(&db, &config)?;
        let shared = Arc::new(Shared {
            db,
            index: RwLock::new(recovered.index),
            heads: Mutex::new(recovered.heads),
            producer_seqs: RwLock::new(recovered.producer_seqs),
            counters: Default::default(),
            rolled_up_until: [AtomicI64::new(i64::MIN), AtomicI64::new(i64::MIN)],
            chunk_partitions: recovered.partitions.0,
            rollup_partitions: recovered.partitions.1,
            hour_pack_weeks: recovered.hour_pack_weeks,
            pack_partitions: recovered.pack_partitions,
            loose_partitions: recovered.loose_partitions,
            received_partitions: recovered.received_partitions,
            rollup_done: recovered.rollup_done,
            config,
        });
        shared.publish_rollup_frontier();
        let counters = &shared.counters;
        add(&counters.wal_records, recovered.wal_records);
        add(&counters.wal_bytes, recovered.wal_bytes);
        add(&counters.sealed_chunks, recovered.sealed_chunks);
        counters.pending_seal_chunks.store(shared.heads.lock().pending_seal(), Ordering::Relaxed);

        let (writer_tx, writer_rx) = sync_channel(shared.config.max_queued_batches);
        // One slot: a nudge while one is pending adds nothing.
        let (sealer_tx, sealer_rx) = sync_channel(1);
        let state = WriterState { next_series_id: recovered.next_series_id, next_wal: recovered.next_wal };
        let writer = writer::spawn(shared.clone(), writer_rx, state, sealer_tx.clone())?;
        let sealer = match seal::spawn(shared.clone(), sealer_rx, writer_tx.clone(), recovered.first_wal) {
            Ok(sealer) => sealer,
            Err(err) => {
                let _ = writer_tx.send(Request::Stop);
                let _ = writer.join();
                return Err(err);
            }
        };
        info!(series = shared.index.read().len(), "tsdb opened");
        Ok(Tsdb { shared, writer_tx, threads: Some(Threads { writer, sealer, sealer_tx }) })
    }

    /// Queues a batch for the next group commit. The receiver answers once the batch is
    /// durable (fsynced), or was a replay, or was refused.
    ///
    /// Never blocks: when the queue is full (`max_queued_batches`, `max_queued_samples`), or
    /// the sealer lags too far behind (`max_pending_seal_chunks`), the batch is refused at
    /// once with [`Error::QueueFull`]; the producer keeps it and retries.
    pub fn submit(&self, batch: WriteBatch) -> oneshot::Receiver<Result<CommitOutcome>> {
        self.submit_prepared(PreparedBatch::new(batch))
    }

    /// [`Tsdb::submit`] for a batch whose series are given by keys the caller keeps between
    /// batches ([`crate::SeriesKey`]).
    pub fn submit_keyed(&self, batch: KeyedBatch) -> oneshot::Receiver<Result<CommitOutcome>> {
        self.submit_prepared(PreparedBatch::from_keys(batch))
    }

    fn submit_prepared(&self, batch: Result<PreparedBatch>) -> oneshot::Receiver<Result<CommitOutcome>> {
        let (reply, rx) = oneshot::channel();
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                let _ = reply.send(Err(err));
                return rx;
            }
        };
        let counters = &self.shared.counters;
        let pending_seal = counters.pending_seal_chunks.load(Ordering::Relaxed);
        let seal_limit = self.shared.config.max_pending_seal_chunks;
        if pending_seal > seal_limit {
            self.refuse(reply, pending_seal, "unsealed chunks", "max_pending_seal_chunks", seal_limit);
            return rx;
        }
        let samples = batch.samples.len();
        let limit = self.shared.config.max_queued_samples;
        let queued = counters.queued_samples.fetch_add(samples, Ordering::Relaxed) + samples;
        // A batch larger than the whole limit still goes when nothing else waits.
        if queued > limit && queued > samples {
            counters.queued_samples.fetch_sub(samples, Ordering::Relaxed);
            self.refuse(reply, queued - samples, "samples", "max_queued_samples", limit);
            return rx;
        }
        counters.queued_batches.fetch_add(1, Ordering::Relaxed);
        match self.writer_tx.try_send(Request::Batch { batch, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(Request::Batch { reply, .. })) => {
                counters.queued_samples.fetch_sub(samples, Ordering::Relaxed);
                let batches = counters.queued_batches.fetch_sub(1, Ordering::Relaxed);
                let limit = self.shared.config.max_queued_batches;
                self.refuse(reply, batches, "batches", "max_queued_batches", limit);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                counters.queued_samples.fetch_sub(samples, Ordering::Relaxed);
                counters.queued_batches.fetch_sub(1, Ordering::Relaxed);
                // The request (and its reply sender) is dropped: the receiver reports a closed
                // channel, which callers treat as the writer having stopped.
            }
        }
        rx
    }

    /// Whether a batch of `samples` samples would be taken now with room to spare (under
    /// three quarters of every queue limit), rather than refused with [`Error::QueueFull`].
    /// A caller that can wait (an ingest stream) checks this before [`Tsdb::submit`] and
    /// holds back while it is false, which pushes back on its producer instead of refusing;
    /// the margin covers other callers that checked at the same moment.
    pub fn has_room_for(&self, samples: usize) -> bool {
        let config = &self.shared.config;
        let counters = &self.shared.counters;
        let under = |value: usize, limit: usize| value.saturating_mul(4) < limit.saturating_mul(3);
        let queued = counters.queued_samples.load(Ordering::Relaxed);
        under(counters.pending_seal_chunks.load(Ordering::Relaxed), config.max_pending_seal_chunks)
            && under(counters.queued_batches.load(Ordering::Relaxed), config.max_queued_batches)
            && (queued == 0 || under(queued + samples, config.max_queued_samples))
    }

    fn refuse(
        &self,
        reply: oneshot::Sender<Result<CommitOutcome>>,
        queued: usize,
        unit: &'static str,
        limit_name: &'static str,
        limit: usize,
    ) {
        add(&self.shared.counters.refused_batches_total, 1);
        debug!(queued, unit, limit, "tsdb batch refused: queue full");
        let _ = reply.send(Err(Error::QueueFull { queued, unit, limit_name, limit }));
    }

    /// The highest committed seq of `producer`, 0 if none.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for a store that must read it from disk.
    pub fn producer_seq(&self, producer: &str) -> Result<u64> {
        Ok(self.shared.producer_seqs.read().get(producer).copied().unwrap_or(0))
    }

    /// Every series matching all `matchers` (none: every series) with at least one sample in
    /// `start_ms..=end_ms`, with those samples, sorted by labels. Stale markers are kept.
    ///
    /// # Errors
    /// The file cannot be read, or a chunk is corrupt ([`Error::CorruptChunk`]).
    pub fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesData>> {
        read::select(&self.shared, matchers, start_ms, end_ms)
    }

    /// What `per_series` gives for each series [`Tsdb::select`] would return and its
    /// samples, where it gives something, sorted by labels. The samples are lent as the
    /// columns they were decoded into, reused for the next series, so a caller that reduces
    /// them (a range function) never holds all of them at once and nothing copies them;
    /// `per_series` may run on several threads at once.
    ///
    /// # Errors
    /// As [`Tsdb::select`].
    pub fn select_with<T: Send>(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        per_series: &(impl Fn(&Labels, SampleColumns<'_>) -> Option<T> + Sync),
    ) -> Result<Vec<(Labels, T)>> {
        read::select_with(&self.shared, matchers, start_ms, end_ms, per_series)
    }

    /// At most how many series [`Tsdb::select`] returns for `matchers`, whatever the time
    /// range, when the in-memory index tells at a glance: from the `name="value"` matchers'
    /// postings, intersected; `None` without such a matcher. For sizing a query before
    /// running it.
    pub fn series_bound(&self, matchers: &[Matcher]) -> Option<usize> {
        self.shared.index.read().count_bound(matchers)
    }

    /// Labels of every series matching `matchers` whose data overlaps `start_ms..=end_ms`
    /// (by the series' first and last sample), sorted.
    ///
    /// # Errors
    /// None today; see [`Tsdb::producer_seq`].
    pub fn series(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<Labels>> {
        Ok(read::series(&self.shared, matchers, start_ms, end_ms))
    }

    /// Label names of the series [`Tsdb::series`] returns, sorted.
    ///
    /// # Errors
    /// None today; see [`Tsdb::producer_seq`].
    pub fn label_names(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<String>> {
        Ok(read::label_names(&self.shared, matchers, start_ms, end_ms))
    }

    /// Values of label `name` over the series [`Tsdb::series`] returns, sorted.
    ///
    /// # Errors
    /// None today; see [`Tsdb::producer_seq`].
    pub fn label_values(&self, name: &str, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<String>> {
        Ok(read::label_values(&self.shared, name, matchers, start_ms, end_ms))
    }

    /// Rollup buckets of `tier` whose start is in `start_ms..=end_ms`, for every series
    /// matching `matchers`. Buckets starting at or after [`Tsdb::rolled_up_until`] may still
    /// grow.
    ///
    /// # Errors
    /// The file cannot be read, or a point is corrupt ([`Error::CorruptRollup`]).
    pub fn select_rollup(
        &self,
        tier: Tier,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<RollupSeries>> {
        read::select_rollup(&self.shared, tier, matchers, start_ms, end_ms)
    }

    /// The rollup tiers this engine keeps (see [`TsdbConfig::minute_retention`]), finest
    /// first.
    pub fn tiers(&self) -> Vec<Tier> {
        self.shared.config.tiers()
    }

    /// Every bucket of `tier` starting before this time holds exactly the samples a raw read
    /// returns for its span, or returned before they expired: the tier is materialized
    /// there (see [`TsdbConfig::rollup_after`]), nothing of it is unsealed, and it lies
    /// before the newest sample's bucket (`i64::MIN` before any sample). A sample that
    /// arrives later for an older time lowers it again until its partition is materialized
    /// anew.
    pub fn rolled_up_until(&self, tier: Tier) -> i64 {
        self.shared.rolled_up_until[tier.index()].load(Ordering::Relaxed)
    }

    /// How many runs `tier` holds (each a series' consecutive buckets within a partition):
    /// rows of its table, and for the 1-hour tier packed runs too. For benches and tests.
    ///
    /// # Errors
    /// The tables could not be read.
    pub fn rollup_runs(&self, tier: Tier) -> Result<u64> {
        let (rows, packed) = self.rollup_rows_and_packed_runs(tier)?;
        Ok(rows + packed)
    }

    /// The runs of `tier` in its table's rows, and (1-hour tier) packed (see
    /// [`Tsdb::rollup_runs`]).
    ///
    /// # Errors
    /// The tables could not be read.
    pub fn rollup_rows_and_packed_runs(&self, tier: Tier) -> Result<(u64, u64)> {
        use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
        let err = |source: redb::Error| Error::ReadData { what: "rollup runs", source };
        let txn = self.shared.db.begin_read().map_err(|e| err(e.into()))?;
        let table = txn.open_table(tier.table()).map_err(|e| err(e.into()))?;
        let rows = table.len().map_err(|e| err(e.into()))?;
        if tier != Tier::Hour {
            return Ok((rows, 0));
        }
        let packs = txn.open_table(crate::rollup::HOUR_PACKS).map_err(|e| err(e.into()))?;
        Ok((rows, crate::pack::entries_in(&packs).map_err(|e| err(e.into()))?))
    }

    /// Before this time, the 1-hour points of received rollups ([`Tsdb::write_rollups`]) are
    /// put together from every 1-minute point received so far: the start of the oldest
    /// partition whose received runs are not compacted yet (see
    /// [`TsdbConfig::compact_rollups_after`]), `i64::MAX` when there is none. A caller that
    /// knows how far the minutes themselves are complete takes the earlier of the two.
    pub fn received_hours_complete_before(&self) -> i64 {
        self.shared.received_partitions.first().unwrap_or(i64::MAX)
    }

    /// Stores rollup points computed elsewhere (a regional's 1-minute tier, on its master),
    /// replacing stored points of the same buckets, creating series as needed. With a
    /// `producer` (its name and the seq of what carried the points), the seq is committed
    /// with the points, and a seq at or below the producer's committed one is a replay
    /// ([`CommitOutcome::Replay`], nothing written), as for [`Tsdb::submit`]. The receiver
    /// answers once the points are durable, or with [`Error::TierDisabled`] when the engine
    /// does not keep `tier`.
    pub fn write_rollups(
        &self,
        tier: Tier,
        series: Vec<(Labels, Vec<crate::RollupPoint>)>,
        producer: Option<(String, u64)>,
    ) -> oneshot::Receiver<Result<CommitOutcome>> {
        let (reply, rx) = oneshot::channel();
        if let Err(TrySendError::Full(Request::Rollups { reply, .. })) =
            self.writer_tx.try_send(Request::Rollups { tier, series, producer, reply })
        {
            let limit = self.shared.config.max_queued_batches;
            let _ = reply.send(Err(Error::QueueFull {
                queued: limit,
                unit: "batches",
                limit_name: "max_queued_batches",
                limit,
            }));
        }
        rx
    }

    /// Seals every head chunk now, full or not, and trims the WAL. Blocking. The engine
    /// does this by itself for full and old chunks; call it before a backup or in tests.
    ///
    /// # Errors
    /// Sealing failed (nothing is lost: the WAL still holds the samples), or the engine is
    /// closing.
    pub fn flush(&self) -> Result<()> {
        self.ask_sealer(SealerSignal::Flush)
    }

    /// Applies retention now instead of at the next `retention_interval`, including the
    /// removal of series left empty. Blocking.
    ///
    /// # Errors
    /// Deleting failed, or the engine is closing.
    pub fn apply_retention(&self) -> Result<()> {
        self.ask_sealer(SealerSignal::Retention)
    }

    fn ask_sealer(&self, signal: impl FnOnce(SyncSender<Result<()>>) -> SealerSignal) -> Result<()> {
        let Some(threads) = &self.threads else { return Err(Error::WriterStopped) };
        let (reply, answer) = sync_channel(1);
        threads.sealer_tx.send(signal(reply)).map_err(|_| Error::WriterStopped)?;
        answer.recv().map_err(|_| Error::WriterStopped)?
    }

    /// The engine's figures.
    pub fn stats(&self) -> TsdbStats {
        let mut stats = self.shared.counters.snapshot();
        stats.series = self.shared.index.read().len();
        let heads = self.shared.heads.lock();
        stats.head_samples = heads.samples();
        stats.head_chunks = heads.chunks();
        stats.pending_seal_chunks = heads.pending_seal();
        stats.head_bytes = heads.memory_bytes();
        stats
    }

    /// Stops accepting batches, commits what is queued, seals every head chunk, trims the WAL
    /// and stops the threads. Blocking.
    ///
    /// # Errors
    /// The final sealing failed; nothing is lost (the WAL still holds the samples).
    pub fn close(mut self) -> Result<()> {
        self.shutdown(true)
    }

    fn shutdown(&mut self, flush: bool) -> Result<()> {
        let Some(threads) = self.threads.take() else { return Ok(()) };
        // Blocks while the queue is full: the writer is draining it.
        let _ = self.writer_tx.send(Request::Stop);
        if threads.writer.join().is_err() {
            error!("tsdb writer thread panicked");
        }
        let _ = threads.sealer_tx.send(SealerSignal::Stop { flush });
        let result = match threads.sealer.join() {
            Ok(result) => result,
            Err(_) => {
                error!("tsdb sealer thread panicked");
                Err(Error::WriterStopped)
            }
        };
        info!(flushed = flush, "tsdb closed");
        result
    }
}

impl Drop for Tsdb {
    fn drop(&mut self) {
        let _ = self.shutdown(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tsdb>();
    }

    #[test]
    fn a_store_of_another_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        // What a build before the format marker left: series, no marker.
        let txn = db.begin_write().unwrap();
        txn.open_table(crate::schema::META).unwrap().insert(crate::schema::NEXT_SERIES_ID, 3).unwrap();
        txn.commit().unwrap();
        let err = Tsdb::open(db.clone(), TsdbConfig::default()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "the store's tsdb tables are format 1, this build reads format 4 (and upgrades the one before) only; move the data directory aside to start a fresh store"
        );
        // Format 2 (rollups at sealing time, open points) is refused too.
        let txn = db.begin_write().unwrap();
        txn.open_table(crate::schema::META).unwrap().insert(crate::schema::FORMAT_VERSION, 2).unwrap();
        txn.commit().unwrap();
        let err = Tsdb::open(db.clone(), TsdbConfig::default()).err().unwrap();
        assert!(
            err.to_string().starts_with("the store's tsdb tables are format 2, this build reads format 4"),
            "{err}"
        );
        let txn = db.begin_write().unwrap();
        txn.open_table(crate::schema::META).unwrap().insert(crate::schema::FORMAT_VERSION, 9).unwrap();
        txn.commit().unwrap();
        let err = Tsdb::open(db, TsdbConfig::default()).err().unwrap();
        assert!(err.to_string().starts_with("the store's tsdb tables are format 9, "), "{err}");
        // A fresh file gets the marker and opens again.
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        Tsdb::open(db.clone(), TsdbConfig::default()).unwrap().close().unwrap();
        Tsdb::open(db, TsdbConfig::default()).unwrap().close().unwrap();
    }

    #[test]
    fn bad_config_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let config = TsdbConfig { max_queued_batches: 0, ..TsdbConfig::default() };
        let err = Tsdb::open(db, config).err().unwrap();
        assert_eq!(err.to_string(), "tsdb.max_queued_batches: must be at least 1, got 0");
    }
}
