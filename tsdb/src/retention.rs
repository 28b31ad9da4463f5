//! Retention: first materializes the rollup tiers of partitions old enough (see
//! `rollup/materialize.rs`) and compacts the rollups received into them (see
//! `rollup/compact.rs`), then deletes sealed chunks and rollup runs older than their
//! tier's retention (by the configured wall clock), in transactions of bounded size, then
//! asks the writer to remove series that hold nothing anymore.
//!
//! Chunks and runs lie within one time partition each (see `partition.rs`). Chunks go a whole
//! partition at a time, once all of it is past the raw cutoff and its runs are materialized
//! in every kept tier (so raw samples may outlive the raw retention by up to a partition,
//! 2 h); samples for a deleted partition are refused from then on. A rollup run goes when
//! its last bucket ends at or before its tier's cutoff: partitions wholly past it as one key
//! range, which frees whole leaves, the partition the cutoff falls in entry by entry. Before
//! deleting, it packs the 1-hour tier's final weeks (see `rollup/packed.rs`), whose packs go
//! once the whole week is past the cutoff.

use std::sync::mpsc::{SyncSender, sync_channel};

use redb::{Durability, ReadableDatabase as _, ReadableTable as _, WriteTransaction};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::pack::{PACKS, PackTableDefinition, pack_count, pack_range};
use crate::partition::{PartitionSet, partition_of, partition_range};
use crate::rollup::{HOUR_PACKS, Tier, compact_received, materialize, pack_final_weeks, run_last_start, tier_bit};
use crate::schema::{CHUNKS, DataTable, META, RAW_CUTOFF_APPLIED, ROLLUP_DONE};
use crate::shared::Shared;
use crate::stats::{add, sub};
use crate::writer::{Cutoffs, Request};

/// Applies every tier's retention as of `now_ms`. With `wait`, also waits until the writer
/// has removed the series left empty.
pub(crate) fn apply(shared: &Shared, now_ms: i64, writer: &SyncSender<Request>, wait: bool) -> Result<()> {
    let mut cutoffs = Cutoffs::at(&shared.config, now_ms);
    let materialized = materialize(shared, now_ms, &cutoffs.tiers);
    // Published even when materializing failed part way: what it marked done is done.
    shared.publish_rollup_frontier();
    materialized?;
    compact_received(shared, now_ms, &cutoffs.tiers)?;
    pack_final_weeks(shared, now_ms)?;
    cutoffs.raw = raw_bound(shared, cutoffs.raw);
    let ids: Vec<u64> = shared.index.read().all().to_vec();
    expire_chunks(shared, cutoffs.raw)?;
    shared.publish_rollup_frontier();
    for &(tier, cutoff) in &cutoffs.tiers {
        expire_rollups(shared, tier, cutoff)?;
    }
    let empty: Vec<u64> = {
        let heads = shared.heads.lock();
        ids.into_iter().filter(|&id| heads.holds_nothing(id, cutoffs.raw, &cutoffs.tiers)).collect()
    };
    if !empty.is_empty() {
        if wait {
            let (done, wait_done) = sync_channel(1);
            if writer.send(Request::RemoveSeries { ids: empty, cutoffs, done: Some(done) }).is_ok() {
                let _ = wait_done.recv();
            }
        } else {
            // When the writer's queue is full, the next run asks again.
            let _ = writer.try_send(Request::RemoveSeries { ids: empty, cutoffs, done: None });
        }
    }
    Ok(())
}

fn retention_err(what: &'static str, source: impl Into<redb::Error>) -> Error {
    Error::ApplyRetention { what, source: source.into() }
}

/// A write transaction for retention, committed every `max_deletes_per_retention_txn`.
struct Batcher<'a> {
    shared: &'a Shared,
    what: &'static str,
    txn: Option<WriteTransaction>,
    deletes: usize,
}

impl<'a> Batcher<'a> {
    fn new(shared: &'a Shared, what: &'static str) -> Batcher<'a> {
        Batcher { shared, what, txn: None, deletes: 0 }
    }

    fn err(&self, source: impl Into<redb::Error>) -> Error {
        retention_err(self.what, source)
    }

    fn txn(&mut self) -> Result<&WriteTransaction> {
        let txn = match self.txn.take() {
            Some(txn) => txn,
            None => {
                let mut txn = self.shared.db.begin_write().map_err(|e| self.err(e))?;
                txn.set_durability(Durability::Immediate).map_err(|e| self.err(e))?;
                txn
            }
        };
        Ok(self.txn.insert(txn))
    }

    /// Counts deletions; commits once the transaction is full.
    fn deleted(&mut self, n: usize) -> Result<()> {
        self.deletes += n;
        if self.deletes >= self.shared.config.max_deletes_per_retention_txn {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.deletes = 0;
        match self.txn.take() {
            Some(txn) => txn.commit().map_err(|e| self.err(e)),
            None => Ok(()),
        }
    }
}

/// The start of the oldest partition whose chunks stay: the raw cutoff's partition, or the
/// oldest partition not materialized in every kept tier if that is older.
fn raw_bound(shared: &Shared, raw_cutoff: i64) -> i64 {
    let bound = partition_of(raw_cutoff);
    let want = shared.config.tiers().into_iter().fold(0u8, |mask, t| mask | tier_bit(t));
    if want == 0 {
        return bound;
    }
    let partitions = shared.chunk_partitions.before(bound);
    shared.rollup_done.first_missing(&partitions, want).map_or(bound, |p| p.min(bound))
}

/// Deletes every partition of chunks before `bound` (a partition start).
fn expire_chunks(shared: &Shared, bound: i64) -> Result<()> {
    let expired = expire_partitions(shared, "raw", CHUNKS, &shared.chunk_partitions, bound, None)?
        + expire_packs(shared, "raw", PACKS, &shared.pack_partitions, bound)?;
    // Recorded so that the next open knows what is gone (`tsdb_sealed` keeps each series'
    // first sealed sample as it was sealed) and refuses samples there; the done marks of
    // deleted partitions go with it.
    let record = || -> std::result::Result<(), redb::Error> {
        let mut txn = shared.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(META)?.insert(RAW_CUTOFF_APPLIED, bound as u64)?;
        for stale in txn.open_table(ROLLUP_DONE)?.extract_from_if(..bound, |_, _| true)? {
            stale?;
        }
        txn.commit()?;
        Ok(())
    };
    record().map_err(|e| retention_err("raw", e))?;
    for partition in shared.loose_partitions.before(bound) {
        shared.loose_partitions.remove(partition);
    }
    shared.rollup_done.forget_before(bound);
    shared.heads.lock().raise_min_ts(bound);
    sub(&shared.counters.sealed_chunks, expired);
    add(&shared.counters.expired_chunks_total, expired);
    if expired > 0 {
        debug!(chunks = expired, bound_ms = bound, "tsdb expired raw chunks");
    }
    Ok(())
}

/// Deletes every pack of `table` (raw chunks' or the 1-hour tier's) in the `partitions`
/// before `bound`, and forgets those; returns how many entries they held.
fn expire_packs(
    shared: &Shared,
    what: &'static str,
    table: PackTableDefinition,
    partitions: &PartitionSet,
    bound: i64,
) -> Result<u64> {
    let limit = shared.config.max_deletes_per_retention_txn;
    let mut batcher = Batcher::new(shared, what);
    let mut chunks = 0;
    for partition in partitions.before(bound) {
        loop {
            let err = |e: redb::Error| retention_err(what, e);
            let txn = batcher.txn()?;
            let deleted = {
                let mut table = txn.open_table(table).map_err(|e| err(e.into()))?;
                let mut keys = Vec::new();
                for entry in table.range(pack_range(partition)).map_err(|e| err(e.into()))?.take(limit) {
                    let (key, pack) = entry.map_err(|e| err(e.into()))?;
                    chunks += pack_count(pack.value());
                    keys.push(key.value());
                }
                for &key in &keys {
                    table.remove(key).map_err(|e| err(e.into()))?;
                }
                keys.len()
            };
            batcher.deleted(deleted)?;
            if deleted < limit {
                break;
            }
        }
    }
    batcher.commit()?;
    for partition in partitions.before(bound) {
        partitions.remove(partition);
    }
    Ok(chunks)
}

fn expire_rollups(shared: &Shared, tier: Tier, cutoff: i64) -> Result<()> {
    let what = match tier {
        Tier::Minute => "1m rollup",
        Tier::Hour => "1h rollup",
    };
    // Packed weeks wholly past the cutoff first: a partition is forgotten below once its rows
    // are gone.
    let packed = match tier {
        Tier::Hour => {
            let after_last_week = cutoff.saturating_sub(tier.partition_ms()).saturating_add(1);
            expire_packs(shared, what, HOUR_PACKS, &shared.hour_pack_weeks, after_last_week)?
        }
        Tier::Minute => 0,
    };
    // A run expires when its last bucket ends at or before the cutoff.
    let partitions = &shared.rollup_partitions[tier.index()];
    let expired_row = |id: u64, first: i64, value: &[u8]| {
        // Rows written into a packed week since it was packed go with its packs: they take
        // the place of some of its points.
        if tier == Tier::Hour && shared.hour_pack_weeks.contains(tier.partition_of(first)) {
            return false;
        }
        let last = run_last_start(tier, first, value).unwrap_or_else(|reason| {
            warn!(series = id, tier = %tier, start_ms = first, reason, "corrupt rollup run; its start decides its age");
            first
        });
        last.saturating_add(tier.width_ms()) <= cutoff
    };
    let rows = expire_partitions(shared, what, tier.table(), partitions, cutoff, Some(&expired_row))?;
    let expired = packed + rows;
    add(&shared.counters.expired_rollup_rows_total, expired);
    if expired > 0 {
        debug!(tier = %tier, rows = expired, cutoff_ms = cutoff, "tsdb expired rollup rows");
    }
    Ok(())
}

/// Whether an entry (series, key time, value) of the partition a cutoff falls in is past it.
type ExpiredEntry<'a> = &'a dyn Fn(u64, i64, &[u8]) -> bool;

/// Deletes the entries of `table` past `cutoff`: whole partitions that end by the cutoff
/// without looking, and with `expired`, the entries of the partition the cutoff falls in it
/// says are past it. Returns how many entries went.
fn expire_partitions(
    shared: &Shared,
    what: &'static str,
    table: DataTable,
    partitions: &PartitionSet,
    cutoff: i64,
    expired: Option<ExpiredEntry<'_>>,
) -> Result<u64> {
    let limit = shared.config.max_deletes_per_retention_txn;
    let mut batcher = Batcher::new(shared, what);
    let mut total = 0u64;
    let mut emptied = Vec::new();
    for partition in partitions.before(partitions.partition_of(cutoff).saturating_add(1)) {
        let whole = partition.saturating_add(partitions.width_ms()) <= cutoff;
        if !whole && expired.is_none() {
            continue;
        }
        loop {
            let err = |e: redb::Error| retention_err(what, e);
            let txn = batcher.txn()?;
            let deleted = {
                let mut t = txn.open_table(table).map_err(|e| err(e.into()))?;
                let mut keys = Vec::new();
                for entry in t.range(partition_range(partition)).map_err(|e| err(e.into()))? {
                    let (key, value) = entry.map_err(|e| err(e.into()))?;
                    let (_, id, start) = key.value();
                    if whole || expired.is_some_and(|f| f(id, start, value.value())) {
                        keys.push(key.value());
                        if keys.len() >= limit {
                            break;
                        }
                    }
                }
                for &key in &keys {
                    t.remove(key).map_err(|e| err(e.into()))?;
                }
                keys.len()
            };
            total += deleted as u64;
            batcher.deleted(deleted)?;
            if deleted < limit {
                break;
            }
        }
        if whole {
            emptied.push(partition);
        }
    }
    batcher.commit()?;
    // Forgotten only if still empty: rollups received from elsewhere may have landed in it
    // since (to be deleted by the next run).
    let txn = shared.db.begin_read().map_err(|e| retention_err(what, e))?;
    let t = txn.open_table(table).map_err(|e| retention_err(what, e))?;
    for partition in emptied {
        if t.range(partition_range(partition)).map_err(|e| retention_err(what, e))?.next().is_none() {
            partitions.remove(partition);
        }
    }
    Ok(total)
}
