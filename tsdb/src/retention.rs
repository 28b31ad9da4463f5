//! Retention: deletes sealed chunks and rollup buckets older than their tier's retention (by
//! the configured wall clock), in transactions of bounded size, then asks the writer to
//! remove series that hold nothing anymore.
//!
//! A chunk goes only when its last sample is past the cutoff; a rollup run when its last
//! bucket ends at or before it.

use std::sync::mpsc::{SyncSender, sync_channel};

use redb::{Durability, ReadableDatabase as _, ReadableTable as _, Table, WriteTransaction};
use tracing::{debug, warn};

use crate::codec::read_header;
use crate::config::millis;
use crate::error::{Error, Result};
use crate::rollup::{Tier, decode_open, run_last_start};
use crate::schema::{CHUNKS, ROLLUP_OPEN, SEALED};
use crate::shared::Shared;
use crate::stats::{add, sub};
use crate::writer::Request;

/// Applies every tier's retention as of `now_ms`. With `wait`, also waits until the writer
/// has removed the series left empty.
pub(crate) fn apply(shared: &Shared, now_ms: i64, writer: &SyncSender<Request>, wait: bool) -> Result<()> {
    let config = &shared.config;
    let raw_cutoff = now_ms.saturating_sub(millis(config.raw_retention));
    let ids: Vec<u64> = shared.index.read().all().to_vec();
    expire_chunks(shared, &ids, raw_cutoff)?;
    for (tier, retention) in [(Tier::Minute, config.minute_retention), (Tier::Hour, config.hour_retention)] {
        expire_rollups(shared, &ids, tier, now_ms.saturating_sub(millis(retention)))?;
    }
    let empty = empty_series(shared, &ids, raw_cutoff)?;
    if !empty.is_empty() {
        if wait {
            let (done, wait_done) = sync_channel(1);
            if writer.send(Request::RemoveSeries { ids: empty, done: Some(done) }).is_ok() {
                let _ = wait_done.recv();
            }
        } else {
            // When the writer's queue is full, the next run asks again.
            let _ = writer.try_send(Request::RemoveSeries { ids: empty, done: None });
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

fn expire_chunks(shared: &Shared, ids: &[u64], cutoff: i64) -> Result<()> {
    let mut batcher = Batcher::new(shared, "raw");
    let mut trimmed: Vec<(u64, Option<i64>)> = Vec::new();
    let mut expired = 0u64;
    let candidates: Vec<u64> = {
        let heads = shared.heads.lock();
        ids.iter().copied().filter(|&id| heads.overlaps(id, i64::MIN, cutoff.saturating_sub(1))).collect()
    };
    for id in candidates {
        let what = batcher.what;
        let err = |e: redb::Error| retention_err(what, e);
        let txn = batcher.txn()?;
        let (deleted, next_start) = {
            let mut chunks = txn.open_table(CHUNKS).map_err(|e| err(e.into()))?;
            let mut sealed = txn.open_table(SEALED).map_err(|e| err(e.into()))?;
            let (deleted, next_start) = expire_series_chunks(&mut chunks, id, cutoff).map_err(|e| err(e.into()))?;
            let row = if deleted > 0 { sealed.get(id).map_err(|e| err(e.into()))?.map(|g| g.value()) } else { None };
            if let Some(row) = row {
                // Min above max marks "nothing sealed left"; the last sample stays for replay.
                sealed.insert(id, (next_start.unwrap_or(i64::MAX), row.1, row.2)).map_err(|e| err(e.into()))?;
            }
            (deleted, next_start)
        };
        if deleted > 0 {
            expired += deleted as u64;
            trimmed.push((id, next_start));
            batcher.deleted(deleted)?;
        }
    }
    batcher.commit()?;
    let mut heads = shared.heads.lock();
    for (id, next_start) in trimmed {
        heads.set_min_ts(id, next_start.unwrap_or(cutoff).min(cutoff));
    }
    drop(heads);
    sub(&shared.counters.sealed_chunks, expired);
    add(&shared.counters.expired_chunks_total, expired);
    if expired > 0 {
        debug!(chunks = expired, cutoff_ms = cutoff, "tsdb expired raw chunks");
    }
    Ok(())
}

/// Deletes series `id`'s chunks whose last sample is before `cutoff`; returns how many, and
/// the start of the first chunk left.
fn expire_series_chunks(
    chunks: &mut Table<'_, (u64, i64), &'static [u8]>,
    id: u64,
    cutoff: i64,
) -> std::result::Result<(usize, Option<i64>), redb::StorageError> {
    let mut expired = Vec::new();
    let mut next_start = None;
    for entry in chunks.range((id, i64::MIN)..=(id, i64::MAX))? {
        let (key, value) = entry?;
        let start = key.value().1;
        let last = match read_header(value.value()) {
            Ok(header) => header.last_ts,
            Err(reason) => {
                warn!(series = id, start_ms = start, reason, "corrupt chunk header; its start decides its age");
                start
            }
        };
        if last >= cutoff {
            next_start = Some(start);
            break;
        }
        expired.push(start);
    }
    for &start in &expired {
        chunks.remove((id, start))?;
    }
    Ok((expired.len(), next_start))
}

fn expire_rollups(shared: &Shared, ids: &[u64], tier: Tier, cutoff: i64) -> Result<()> {
    let what = match tier {
        Tier::Minute => "1m rollup",
        Tier::Hour => "1h rollup",
    };
    let mut batcher = Batcher::new(shared, what);
    let limit = shared.config.max_deletes_per_retention_txn;
    // A bucket expires when it ends at or before the cutoff; a run when its last bucket does.
    let expired_start = |start: i64| start.saturating_add(tier.width_ms()) <= cutoff;
    let mut expired = 0u64;
    for &id in ids {
        loop {
            let err = |e: redb::Error| retention_err(what, e);
            let txn = batcher.txn()?;
            let deleted = {
                let mut table = txn.open_table(tier.table()).map_err(|e| err(e.into()))?;
                let mut keys = Vec::new();
                for entry in table.range((id, i64::MIN)..=(id, cutoff)).map_err(|e| err(e.into()))? {
                    let (key, value) = entry.map_err(|e| err(e.into()))?;
                    let first = key.value().1;
                    let last = run_last_start(tier, first, value.value()).unwrap_or_else(|reason| {
                        warn!(series = id, tier = %tier, start_ms = first, reason, "corrupt rollup run; its start decides its age");
                        first
                    });
                    if !expired_start(last) || keys.len() >= limit {
                        break;
                    }
                    keys.push(first);
                }
                for &first in &keys {
                    table.remove((id, first)).map_err(|e| err(e.into()))?;
                }
                let mut open = txn.open_table(ROLLUP_OPEN).map_err(|e| err(e.into()))?;
                let stale = open
                    .get((id, tier.open_key()))
                    .map_err(|e| err(e.into()))?
                    .is_some_and(|g| decode_open(tier, g.value()).map_or(true, |p| expired_start(p.start_ms)));
                if stale {
                    open.remove((id, tier.open_key())).map_err(|e| err(e.into()))?;
                }
                keys.len() + usize::from(stale)
            };
            expired += deleted as u64;
            batcher.deleted(deleted)?;
            if deleted < limit {
                break;
            }
        }
    }
    batcher.commit()?;
    add(&shared.counters.expired_rollup_rows_total, expired);
    if expired > 0 {
        debug!(tier = %tier, rows = expired, cutoff_ms = cutoff, "tsdb expired rollup rows");
    }
    Ok(())
}

/// Series with no unsealed sample, no sample since the raw cutoff, and no chunk or rollup
/// bucket left.
fn empty_series(shared: &Shared, ids: &[u64], raw_cutoff: i64) -> Result<Vec<u64>> {
    let candidates: Vec<u64> = {
        let heads = shared.heads.lock();
        ids.iter()
            .copied()
            .filter(|&id| heads.is_sealed_entirely(id) && heads.series_max_ts(id).is_none_or(|t| t < raw_cutoff))
            .collect()
    };
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let err = |source: redb::Error| Error::ApplyRetention { what: "series", source };
    let txn = shared.db.begin_read().map_err(|e| err(e.into()))?;
    let chunks = txn.open_table(CHUNKS).map_err(|e| err(e.into()))?;
    let minute = txn.open_table(Tier::Minute.table()).map_err(|e| err(e.into()))?;
    let hour = txn.open_table(Tier::Hour.table()).map_err(|e| err(e.into()))?;
    let open = txn.open_table(ROLLUP_OPEN).map_err(|e| err(e.into()))?;
    let mut empty = Vec::new();
    for id in candidates {
        let range = (id, i64::MIN)..=(id, i64::MAX);
        let has = |t: &redb::ReadOnlyTable<(u64, i64), &[u8]>| -> Result<bool> {
            Ok(t.range(range.clone()).map_err(|e| err(e.into()))?.next().is_some())
        };
        let has_open = open.range((id, 0)..=(id, u8::MAX)).map_err(|e| err(e.into()))?.next().is_some();
        if !has(&chunks)? && !has(&minute)? && !has(&hour)? && !has_open {
            empty.push(id);
        }
    }
    Ok(empty)
}
