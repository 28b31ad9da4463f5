//! The group-commit writer: one thread that takes every batch waiting (up to a cap), writes
//! their new series, one WAL record per batch and the producers' seqs in ONE redb write
//! transaction, commits it (fsync), and only then appends the samples to the heads and
//! answers the senders (DESIGN.md, data path step 4).
//!
//! It is also the only thread that adds or removes series, so series ids are handed out
//! without locks and never race with retention.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

use redb::{Durability, ReadableTable as _, WriteTransaction};
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;
use tracing::{debug, error, warn};

use crate::batch::{CommitOutcome, PreparedBatch, PreparedKeys};
use crate::error::{Error, Result};
use crate::head::AppendOutcome;
use crate::labels::Labels;
use crate::partition::insert_sorted;
use crate::rollup::{
    RollupPoint, RunScratch, Tier, corrupt_run, decode_run, latest_per_bucket, run_extent, split_runs,
};
use crate::schema::{DataKey, META, NEXT_SERIES_ID, PRODUCER_SEQ, ROLLUP_EXTENT, ROLLUP_RECEIVED, SEALED, SERIES, WAL};
use crate::seal::SealerSignal;
use crate::shared::Shared;
use crate::stats::add;
use crate::wal::WalEncoder;

/// Nudge the sealer once this many chunks wait, rather than waiting for its next tick.
const NUDGE_PENDING_CHUNKS: usize = 256;

/// What the writer thread is asked to do.
pub(crate) enum Request {
    /// Store a batch.
    Batch { batch: PreparedBatch, reply: oneshot::Sender<Result<CommitOutcome>> },
    /// Store rollup points received from elsewhere.
    Rollups {
        tier: Tier,
        series: Vec<(Labels, Vec<RollupPoint>)>,
        producer: Option<(String, u64)>,
        reply: oneshot::Sender<Result<CommitOutcome>>,
    },
    /// Remove series that retention found empty as of `cutoffs` (checked again here); `done`
    /// is told when that is over.
    RemoveSeries { ids: Vec<u64>, cutoffs: Cutoffs, done: Option<SyncSender<()>> },
    /// Commit what is queued before this, then stop.
    Stop,
}

/// Retention's cutoffs at one time: raw samples before `raw`, and buckets of each tier
/// ending at or before its cutoff, are deleted (a disabled tier's cutoff is the time itself).
#[derive(Debug, Clone)]
pub(crate) struct Cutoffs {
    pub(crate) raw: i64,
    pub(crate) tiers: Vec<(Tier, i64)>,
}

impl Cutoffs {
    /// The cutoffs of `config`'s retentions at `now_ms`.
    pub(crate) fn at(config: &crate::config::TsdbConfig, now_ms: i64) -> Cutoffs {
        let cutoff = |retention| now_ms.saturating_sub(crate::config::millis(retention));
        Cutoffs {
            raw: cutoff(config.raw_retention),
            tiers: Tier::ALL.into_iter().map(|tier| (tier, cutoff(config.tier_retention(tier)))).collect(),
        }
    }
}

/// Counters only the writer advances.
pub(crate) struct WriterState {
    pub(crate) next_series_id: u64,
    pub(crate) next_wal: u64,
}

/// Starts the writer thread.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    requests: Receiver<Request>,
    state: WriterState,
    sealer: SyncSender<SealerSignal>,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sysmon-tsdb-writer".into())
        .spawn(move || {
            let _span = tracing::info_span!("tsdb_writer").entered();
            Writer::new(shared, state, sealer).run(&requests)
        })
        .map_err(|source| Error::SpawnThread { thread: "writer", source })
}

struct Writer {
    shared: Arc<Shared>,
    state: WriterState,
    sealer: SyncSender<SealerSignal>,
    wal: WalEncoder,
    /// Per producer, its last batch's series and their ids. An agent sends the same series
    /// in the same order scrape after scrape; comparing one string then replaces a hash
    /// lookup per series. Cleared when series are removed.
    last_series: FxHashMap<String, SeriesList>,
}

/// A batch's series keys and the ids they resolved to.
struct SeriesList {
    keys: PreparedKeys,
    ids: Vec<u64>,
}

/// A batch's place in a group: its WAL record and series ids, or a replay.
enum Staged {
    Record { number: u64, ids: Vec<u64> },
    Replay,
}

impl Writer {
    fn new(shared: Arc<Shared>, state: WriterState, sealer: SyncSender<SealerSignal>) -> Writer {
        let wal = WalEncoder::new(shared.config.wal_zstd_level);
        Writer { shared, state, sealer, wal, last_series: FxHashMap::default() }
    }

    fn run(mut self, requests: &Receiver<Request>) {
        let config = &self.shared.config;
        let (max_batches, max_samples) = (config.max_group_batches, config.max_group_samples);
        let mut group: Vec<(PreparedBatch, oneshot::Sender<Result<CommitOutcome>>)> = Vec::new();
        let mut others = Vec::new();
        while let Ok(first) = requests.recv() {
            let (mut stop, mut samples) = (false, 0);
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Batch { batch, reply } => {
                        samples += batch.samples.len();
                        group.push((batch, reply));
                    }
                    Request::Stop => stop = true,
                    other => others.push(other),
                }
                if !stop && group.len() < max_batches && samples < max_samples {
                    next = requests.try_recv().ok();
                }
            }
            if !group.is_empty() {
                self.commit_group(&mut group);
            }
            for request in others.drain(..) {
                match request {
                    Request::Rollups { tier, series, producer, reply } => {
                        let _ = reply.send(self.write_rollups(tier, series, producer));
                    }
                    Request::RemoveSeries { ids, cutoffs, done } => {
                        if let Err(err) = self.remove_series(&ids, &cutoffs) {
                            warn!(error = %err, series = ids.len(), "removing empty series failed");
                        }
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    Request::Batch { .. } | Request::Stop => {}
                }
            }
            if stop {
                break;
            }
        }
        debug!("tsdb writer stopped");
    }

    /// Commits a group and answers every batch in it.
    fn commit_group(&mut self, group: &mut Vec<(PreparedBatch, oneshot::Sender<Result<CommitOutcome>>)>) {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        let queued: usize = group.iter().map(|(b, _)| b.samples.len()).sum();
        counters.queued_samples.fetch_sub(queued, Ordering::Relaxed);
        counters.queued_batches.fetch_sub(group.len(), Ordering::Relaxed);

        let saved = (self.state.next_series_id, self.state.next_wal);
        let mut new_series: Vec<(u64, usize, usize)> = Vec::new();
        let mut seqs: FxHashMap<String, u64> = FxHashMap::default();
        let mut wal_bytes = 0u64;
        let staged = self.stage(group, &mut new_series, &mut seqs, &mut wal_bytes);
        let staged = match staged {
            Ok(staged) => staged,
            Err(source) => {
                self.state.next_series_id = saved.0;
                self.state.next_wal = saved.1;
                add(&counters.commit_errors_total, 1);
                let source = Arc::new(source);
                let batches = group.len();
                error!(error = %source, batches, "tsdb group commit failed");
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(Error::CommitWal { batches, source: source.clone() }));
                }
                return;
            }
        };
        add(&counters.commits_total, 1);
        add(&counters.wal_bytes, wal_bytes);
        add(&counters.wal_bytes_written_total, wal_bytes);
        add(&counters.wal_records, staged.iter().filter(|s| matches!(s, Staged::Record { .. })).count() as u64);

        if !new_series.is_empty() {
            let mut index = self.shared.index.write();
            for &(id, b, s) in &new_series {
                let (batch, _) = &group[b];
                let key = batch.key(s);
                // Keys are built from checked labels, so they parse back.
                if let Ok(labels) = Labels::from_key(key) {
                    index.insert(id, key.into(), labels);
                }
            }
        }
        if !seqs.is_empty() {
            self.shared.producer_seqs.write().extend(seqs);
        }

        let now_ms = self.shared.config.clock.now_ms();
        let mut outcomes = Vec::with_capacity(group.len());
        let (mut appended_total, mut out_of_order_total, mut duplicates_total, mut replays) = (0, 0, 0, 0);
        let pending_seal = {
            let mut heads = self.shared.heads.lock();
            for ((batch, _), staged) in group.iter().zip(&staged) {
                let Staged::Record { number, ids } = staged else {
                    replays += 1;
                    outcomes.push(CommitOutcome::Replay);
                    continue;
                };
                let (mut appended, mut out_of_order, mut duplicates) = (0, 0, 0);
                for &(series_ref, ts, value) in &batch.samples {
                    match heads.append(ids[series_ref as usize], ts, value, *number, now_ms) {
                        AppendOutcome::Appended => appended += 1,
                        AppendOutcome::OutOfOrder => out_of_order += 1,
                        AppendOutcome::Duplicate => duplicates += 1,
                    }
                }
                appended_total += appended;
                out_of_order_total += out_of_order;
                duplicates_total += duplicates;
                outcomes.push(CommitOutcome::Stored { appended, out_of_order, duplicates });
            }
            heads.set_applied_wal(self.state.next_wal);
            heads.pending_seal()
        };
        counters.pending_seal_chunks.store(pending_seal, Ordering::Relaxed);
        add(&counters.appended_total, appended_total as u64);
        add(&counters.out_of_order_total, out_of_order_total as u64);
        add(&counters.duplicates_total, duplicates_total as u64);
        add(&counters.replays_total, replays);
        debug!(
            batches = group.len(),
            samples = queued,
            replays,
            out_of_order = out_of_order_total,
            "tsdb group committed"
        );
        for (((batch, reply), outcome), staged) in group.drain(..).zip(outcomes).zip(staged) {
            let _ = reply.send(Ok(outcome));
            if let (Some((producer, _)), Staged::Record { ids, .. }) = (batch.producer, staged) {
                self.last_series.insert(producer, SeriesList { keys: batch.keys, ids });
            }
        }
        if pending_seal >= NUDGE_PENDING_CHUNKS {
            let _ = self.sealer.try_send(SealerSignal::Nudge);
        }
    }

    /// Writes the group's transaction and commits it. `new_series` gets (id, batch, series
    /// index) of every series created, `seqs` the producers' new seqs.
    fn stage(
        &mut self,
        group: &[(PreparedBatch, oneshot::Sender<Result<CommitOutcome>>)],
        new_series: &mut Vec<(u64, usize, usize)>,
        seqs: &mut FxHashMap<String, u64>,
        wal_bytes: &mut u64,
    ) -> std::result::Result<Vec<Staged>, redb::Error> {
        let mut txn = self.shared.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut staged = Vec::with_capacity(group.len());
        let mut any_record = false;
        {
            let mut series_table = txn.open_table(SERIES)?;
            let mut wal_table = txn.open_table(WAL)?;
            let mut seq_table = txn.open_table(PRODUCER_SEQ)?;
            let index = self.shared.index.read();
            let committed = self.shared.producer_seqs.read();
            let mut created: FxHashMap<&str, u64> = FxHashMap::default();
            for (b, (batch, _)) in group.iter().enumerate() {
                if let Some((producer, seq)) = &batch.producer {
                    let last = seqs.get(producer).or_else(|| committed.get(producer)).copied().unwrap_or(0);
                    if *seq <= last {
                        staged.push(Staged::Replay);
                        continue;
                    }
                    seqs.insert(producer.clone(), *seq);
                    seq_table.insert(producer.as_str(), *seq)?;
                }
                let known = batch
                    .producer
                    .as_ref()
                    .and_then(|(producer, _)| self.last_series.get(producer))
                    .filter(|last| last.keys == batch.keys);
                if let Some(last) = known {
                    let record = self.wal.encode(&last.ids, &batch.samples);
                    *wal_bytes += record.len() as u64;
                    wal_table.insert(self.state.next_wal, record.as_slice())?;
                    staged.push(Staged::Record { number: self.state.next_wal, ids: last.ids.clone() });
                    self.state.next_wal += 1;
                    any_record = true;
                    continue;
                }
                let mut ids = Vec::with_capacity(batch.series_count());
                for s in 0..batch.series_count() {
                    let key = batch.key(s);
                    let id = match index.id(key).or_else(|| created.get(key).copied()) {
                        Some(id) => id,
                        None => {
                            let id = self.state.next_series_id;
                            self.state.next_series_id += 1;
                            series_table.insert(id, key)?;
                            created.insert(key, id);
                            new_series.push((id, b, s));
                            id
                        }
                    };
                    ids.push(id);
                }
                let record = self.wal.encode(&ids, &batch.samples);
                *wal_bytes += record.len() as u64;
                wal_table.insert(self.state.next_wal, record.as_slice())?;
                staged.push(Staged::Record { number: self.state.next_wal, ids });
                self.state.next_wal += 1;
                any_record = true;
            }
            if !new_series.is_empty() {
                txn.open_table(META)?.insert(NEXT_SERIES_ID, self.state.next_series_id)?;
            }
        }
        if any_record {
            txn.commit()?;
        } else {
            // Only replays: nothing to make durable.
            txn.abort()?;
        }
        Ok(staged)
    }

    /// Resolves (creating when needed) the ids of `labels` in `txn`.
    fn resolve_ids(
        &mut self,
        txn: &WriteTransaction,
        labels: &[&Labels],
    ) -> Result<Vec<(u64, Option<String>)>, redb::Error> {
        let mut series_table = txn.open_table(SERIES)?;
        let index = self.shared.index.read();
        let mut out = Vec::with_capacity(labels.len());
        let mut created: FxHashMap<String, u64> = FxHashMap::default();
        for l in labels {
            let mut key = String::new();
            l.write_key(&mut key);
            if let Some(id) = index.id(&key).or_else(|| created.get(&key).copied()) {
                out.push((id, None));
                continue;
            }
            let id = self.state.next_series_id;
            self.state.next_series_id += 1;
            series_table.insert(id, key.as_str())?;
            created.insert(key.clone(), id);
            out.push((id, Some(key)));
        }
        if !created.is_empty() {
            txn.open_table(META)?.insert(NEXT_SERIES_ID, self.state.next_series_id)?;
        }
        Ok(out)
    }

    /// Stores rollup points received from elsewhere, creating their series as needed, and
    /// the producer's seq in the same transaction; a seq already committed is a replay.
    fn write_rollups(
        &mut self,
        tier: Tier,
        series: Vec<(Labels, Vec<RollupPoint>)>,
        producer: Option<(String, u64)>,
    ) -> Result<CommitOutcome> {
        if !self.shared.config.tier_enabled(tier) {
            return Err(Error::TierDisabled { tier });
        }
        if let Some((labels, _)) = series.iter().find(|(l, _)| l.key_error().is_some()) {
            let reason = labels.key_error().unwrap_or_default();
            return Err(Error::InvalidBatch { reason: format!("rollup series {labels}: {reason}") });
        }
        let points: usize = series.iter().map(|(_, p)| p.len()).sum();
        if let Some((name, seq)) = &producer
            && *seq <= self.shared.producer_seqs.read().get(name).copied().unwrap_or(0)
        {
            return Ok(CommitOutcome::Replay);
        }
        let saved = self.state.next_series_id;
        let err = |source: redb::Error| Error::WriteRollups { tier, points, source };
        type Written = (Vec<(u64, Option<String>)>, Vec<(u64, i64)>);
        let result = (|| -> std::result::Result<Written, redb::Error> {
            let mut txn = self.shared.db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            let labels: Vec<&Labels> = series.iter().map(|(l, _)| l).collect();
            let ids = self.resolve_ids(&txn, &labels)?;
            let mut extents = Vec::with_capacity(ids.len());
            {
                let mut table = txn.open_table(tier.table())?;
                let mut encoded = Vec::new();
                let mut touched = BTreeSet::new();
                for ((id, _), (_, points)) in ids.iter().zip(&series) {
                    // Runs per series and call (split at partitions and every few thousand
                    // points), keyed by their first bucket; a later point of the same bucket
                    // wins.
                    let mut sorted: Vec<RollupPoint> =
                        points.iter().map(|p| RollupPoint { start_ms: tier.bucket_start(p.start_ms), ..*p }).collect();
                    latest_per_bucket(&mut sorted);
                    if let Some(last) = sorted.last() {
                        extents.push((*id, last.start_ms));
                    }
                    for in_partition in
                        sorted.chunk_by(|a, b| tier.partition_of(a.start_ms) == tier.partition_of(b.start_ms))
                    {
                        let partition = tier.partition_of(in_partition[0].start_ms);
                        touched.insert(partition);
                        let merged = merge_stored_runs(&mut table, tier, (partition, *id), in_partition)?;
                        for (first, bytes) in split_runs(tier, merged.as_deref().unwrap_or(in_partition)) {
                            encoded.push(((partition, *id, first), bytes));
                        }
                    }
                }
                let mut rows: Vec<(DataKey, &[u8])> = encoded.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                insert_sorted(&mut table, &mut rows, &self.shared.rollup_partitions[tier.index()])?;
                if tier == Tier::Minute {
                    // Noted for compaction (see `rollup/compact.rs`).
                    let mut received = txn.open_table(ROLLUP_RECEIVED)?;
                    for partition in touched {
                        let writes = received.get(partition)?.map_or(0, |v| v.value());
                        received.insert(partition, writes + 1)?;
                        self.shared.received_partitions.add(partition);
                    }
                }
                let mut extent_table = txn.open_table(ROLLUP_EXTENT)?;
                for (id, last) in &mut extents {
                    if let Some(stored) = extent_table.get(*id)? {
                        *last = (*last).max(stored.value());
                    }
                    extent_table.insert(*id, *last)?;
                }
                if let Some((name, seq)) = &producer {
                    txn.open_table(PRODUCER_SEQ)?.insert(name.as_str(), *seq)?;
                }
            }
            txn.commit()?;
            Ok((ids, extents))
        })();
        let (ids, extents) = result.map_err(|e| {
            self.state.next_series_id = saved;
            err(e)
        })?;
        {
            let mut index = self.shared.index.write();
            for ((id, key), (labels, _)) in ids.into_iter().zip(series) {
                if let Some(key) = key {
                    index.insert(id, key.into(), labels);
                }
            }
        }
        if let Some((name, seq)) = producer {
            self.shared.producer_seqs.write().insert(name, seq);
        }
        let mut heads = self.shared.heads.lock();
        for (id, last) in extents {
            heads.note_rollup_extent(id, last);
        }
        Ok(CommitOutcome::Stored { appended: points, out_of_order: 0, duplicates: 0 })
    }

    /// Removes series that hold nothing anymore as of `cutoffs`: no unsealed sample, no chunk,
    /// no rollup (see [`crate::head::Heads::holds_nothing`]).
    fn remove_series(&mut self, ids: &[u64], cutoffs: &Cutoffs) -> Result<()> {
        let err = |source: redb::Error| Error::ApplyRetention { what: "series", source };
        let removed: Vec<u64> = {
            let heads = self.shared.heads.lock();
            ids.iter().copied().filter(|&id| heads.holds_nothing(id, cutoffs.raw, &cutoffs.tiers)).collect()
        };
        if removed.is_empty() {
            return Ok(());
        }
        (|| -> std::result::Result<(), redb::Error> {
            let mut txn = self.shared.db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            {
                let mut series = txn.open_table(SERIES)?;
                let mut sealed = txn.open_table(SEALED)?;
                let mut extent = txn.open_table(ROLLUP_EXTENT)?;
                for &id in &removed {
                    series.remove(id)?;
                    sealed.remove(id)?;
                    extent.remove(id)?;
                }
            }
            txn.commit()?;
            Ok(())
        })()
        .map_err(err)?;
        if removed.is_empty() {
            return Ok(());
        }
        {
            let mut index = self.shared.index.write();
            for &id in &removed {
                index.remove(id);
            }
        }
        let mut heads = self.shared.heads.lock();
        for &id in &removed {
            heads.remove(id);
        }
        // Cached ids may name a removed series.
        self.last_series.clear();
        add(&self.shared.counters.removed_series_total, removed.len() as u64);
        debug!(series = removed.len(), "tsdb removed empty series");
        Ok(())
    }
}

/// Takes the stored runs of series `key.1` in partition `key.0` that overlap `points` (sorted,
/// one per bucket, all in that partition) out of `table`, and returns their points merged
/// with `points`, which win; `None` when no stored run overlaps. So a series' runs within a
/// partition never overlap, and a later write always wins over an earlier one, whatever
/// buckets each run starts at.
fn merge_stored_runs(
    table: &mut redb::Table<'_, DataKey, &'static [u8]>,
    tier: Tier,
    (partition, id): (i64, u64),
    points: &[RollupPoint],
) -> std::result::Result<Option<Vec<RollupPoint>>, redb::Error> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Ok(None) };
    let mut overlapping = Vec::new();
    // Runs do not overlap each other: walking back from the last new bucket, the first run
    // ending before the first new bucket ends the search.
    for entry in table.range((partition, id, i64::MIN)..=(partition, id, last.start_ms))?.rev() {
        let (key, value) = entry?;
        let start = key.value().2;
        let (_, run_last) =
            run_extent(tier, start, value.value()).map_err(|reason| corrupt_run(tier, id, start, &reason))?;
        if run_last < first.start_ms {
            break;
        }
        overlapping.push((start, value.value().to_vec()));
    }
    if overlapping.is_empty() {
        return Ok(None);
    }
    let mut merged = Vec::new();
    let mut scratch = RunScratch::default();
    for (start, bytes) in overlapping.iter().rev() {
        decode_run(tier, *start, bytes, &mut scratch, &mut merged)
            .map_err(|reason| corrupt_run(tier, id, *start, &reason))?;
        table.remove((partition, id, *start))?;
    }
    merged.extend_from_slice(points);
    latest_per_bucket(&mut merged);
    Ok(Some(merged))
}
