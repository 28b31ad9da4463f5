//! Retention: deletes sealed chunks and rollup buckets older than their tier's retention (by
//! the configured wall clock), in transactions of bounded size, then asks the writer to
//! remove series that hold nothing anymore.
//!
//! A chunk goes only when its last sample is past the cutoff; a rollup run when its last
//! bucket ends at or before it. Chunks and runs lie within one time partition each (see
//! `partition.rs`): a partition wholly past the cutoff is deleted as one key range, which
//! frees whole leaves; only the partition the cutoff falls in is looked at entry by entry.

use std::sync::mpsc::{SyncSender, sync_channel};

use redb::{Durability, ReadableDatabase as _, ReadableTable as _, WriteTransaction};
use tracing::{debug, warn};

use crate::codec::read_header;
use crate::error::{Error, Result};
use crate::partition::{PARTITION_MS, PartitionSet, partition_of, partition_range};
use crate::rollup::{Tier, decode_open, run_last_start};
use crate::schema::{CHUNKS, DataTable, META, RAW_CUTOFF_APPLIED, ROLLUP_OPEN};
use crate::shared::Shared;
use crate::stats::{add, sub};
use crate::writer::{Cutoffs, Request};

/// Applies every tier's retention as of `now_ms`. With `wait`, also waits until the writer
/// has removed the series left empty.
pub(crate) fn apply(shared: &Shared, now_ms: i64, writer: &SyncSender<Request>, wait: bool) -> Result<()> {
    let cutoffs = Cutoffs::at(&shared.config, now_ms);
    let ids: Vec<u64> = shared.index.read().all().to_vec();
    expire_chunks(shared, cutoffs.raw)?;
    for &(tier, cutoff) in &cutoffs.tiers {
        expire_rollups(shared, &ids, tier, cutoff)?;
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

fn expire_chunks(shared: &Shared, cutoff: i64) -> Result<()> {
    let expired =
        expire_partitions(
            shared,
            "raw",
            CHUNKS,
            &shared.chunk_partitions,
            cutoff,
            |id, start, value| match read_header(value) {
                Ok(header) => header.last_ts < cutoff,
                Err(reason) => {
                    warn!(series = id, start_ms = start, reason, "corrupt chunk header; its start decides its age");
                    start < cutoff
                }
            },
        )?;
    // Recorded so that the next open knows what is gone (`tsdb_sealed` keeps each series'
    // first sealed sample as it was sealed).
    let record = || -> std::result::Result<(), redb::Error> {
        let mut txn = shared.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(META)?.insert(RAW_CUTOFF_APPLIED, cutoff as u64)?;
        txn.commit()?;
        Ok(())
    };
    record().map_err(|e| retention_err("raw", e))?;
    shared.heads.lock().raise_min_ts(cutoff);
    sub(&shared.counters.sealed_chunks, expired);
    add(&shared.counters.expired_chunks_total, expired);
    if expired > 0 {
        debug!(chunks = expired, cutoff_ms = cutoff, "tsdb expired raw chunks");
    }
    Ok(())
}

fn expire_rollups(shared: &Shared, ids: &[u64], tier: Tier, cutoff: i64) -> Result<()> {
    let what = match tier {
        Tier::Minute => "1m rollup",
        Tier::Hour => "1h rollup",
    };
    // A bucket expires when it ends at or before the cutoff; a run when its last bucket does.
    let expired_start = |start: i64| start.saturating_add(tier.width_ms()) <= cutoff;
    let partitions = &shared.rollup_partitions[tier.index()];
    let mut expired = expire_partitions(shared, what, tier.table(), partitions, cutoff, |id, first, value| {
        let last = run_last_start(tier, first, value).unwrap_or_else(|reason| {
            warn!(series = id, tier = %tier, start_ms = first, reason, "corrupt rollup run; its start decides its age");
            first
        });
        expired_start(last)
    })?;
    // Open points, one per series.
    let mut batcher = Batcher::new(shared, what);
    for &id in ids {
        let err = |e: redb::Error| retention_err(what, e);
        let txn = batcher.txn()?;
        let stale = {
            let mut open = txn.open_table(ROLLUP_OPEN).map_err(|e| err(e.into()))?;
            let stale = open
                .get((id, tier.open_key()))
                .map_err(|e| err(e.into()))?
                .is_some_and(|g| decode_open(tier, g.value()).map_or(true, |p| expired_start(p.start_ms)));
            if stale {
                open.remove((id, tier.open_key())).map_err(|e| err(e.into()))?;
            }
            stale
        };
        if stale {
            expired += 1;
            batcher.deleted(1)?;
        }
    }
    batcher.commit()?;
    add(&shared.counters.expired_rollup_rows_total, expired);
    if expired > 0 {
        debug!(tier = %tier, rows = expired, cutoff_ms = cutoff, "tsdb expired rollup rows");
    }
    Ok(())
}

/// Deletes the entries of `table` that `expired(series, key time, value)` says are past
/// `cutoff`: whole partitions that end by the cutoff without looking, the partition the cutoff
/// falls in entry by entry. Returns how many entries went.
fn expire_partitions(
    shared: &Shared,
    what: &'static str,
    table: DataTable,
    partitions: &PartitionSet,
    cutoff: i64,
    expired: impl Fn(u64, i64, &[u8]) -> bool,
) -> Result<u64> {
    let limit = shared.config.max_deletes_per_retention_txn;
    let mut batcher = Batcher::new(shared, what);
    let mut total = 0u64;
    let mut emptied = Vec::new();
    for partition in partitions.before(partition_of(cutoff).saturating_add(1)) {
        let whole = partition.saturating_add(PARTITION_MS) <= cutoff;
        loop {
            let err = |e: redb::Error| retention_err(what, e);
            let txn = batcher.txn()?;
            let deleted = {
                let mut t = txn.open_table(table).map_err(|e| err(e.into()))?;
                let mut keys = Vec::new();
                for entry in t.range(partition_range(partition)).map_err(|e| err(e.into()))? {
                    let (key, value) = entry.map_err(|e| err(e.into()))?;
                    let (_, id, start) = key.value();
                    if whole || expired(id, start, value.value()) {
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
