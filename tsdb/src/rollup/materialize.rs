//! Materializing rollup tiers: once a 2-hour partition's end is `rollup_after` old (by the
//! wall clock, default the raw retention) and none of its samples is still in a head chunk,
//! the background retention pass folds every series' chunks of the partition into 1-minute
//! and 1-hour points and writes them as runs, then records the partition in
//! `tsdb_rollup_done`. Raw retention deletes a partition only after that.
//!
//! A partition's runs are a pure function of its chunks, so the pass is idempotent: a pass
//! cut short (kill -9) left runs of some series but no `tsdb_rollup_done` entry; the next
//! pass deletes each series' runs of the partition before writing them again, so no bucket
//! counts a sample twice. A chunk sealed later into a done partition (a late series) removes
//! the entry in its own transaction, and the next pass redoes the partition.

use redb::{Durability, ReadableDatabase as _};
use tracing::debug;

use super::done::tier_bit;
use super::point::{RollupPoint, fold_samples};
use super::run::{RunScratch, replace_span, split_runs};
use super::tier::Tier;
use crate::codec::decode_chunk;
use crate::config::millis;
use crate::error::{Error, Result};
use crate::pack::{PACKS, for_each_partition_chunk};
use crate::partition::{PARTITION_MS, insert_sorted};
use crate::schema::{CHUNKS, DataKey, ROLLUP_DONE};
use crate::shared::Shared;
use crate::stats::add;

/// What one write transaction writes: the 1-minute runs, `(key, bytes)`, and each series'
/// 1-hour points of the partition (written into the week's run, see
/// [`super::run::replace_span`]).
#[derive(Default)]
struct Staged {
    minutes: Vec<(DataKey, Vec<u8>)>,
    hours: Vec<(u64, Vec<RollupPoint>)>,
}

/// Materializes every partition old enough whose kept tiers are not all done yet, oldest
/// first. `tier_cutoffs`: buckets ending at or before a tier's cutoff are past its retention
/// and not written.
pub(crate) fn materialize(shared: &Shared, now_ms: i64, tier_cutoffs: &[(Tier, i64)]) -> Result<()> {
    let tiers = shared.config.tiers();
    let want = tiers.iter().fold(0u8, |mask, &t| mask | tier_bit(t));
    if want == 0 {
        return Ok(());
    }
    let oldest_unsealed = shared.heads.lock().oldest_unsealed_ts().unwrap_or(i64::MAX);
    let ready_before = now_ms.saturating_sub(millis(shared.config.rollup_after())).min(oldest_unsealed);
    for partition in shared.chunk_partitions.before(i64::MAX) {
        if partition.saturating_add(PARTITION_MS) > ready_before {
            break;
        }
        let done = shared.rollup_done.mask(partition);
        if done & want == want {
            continue;
        }
        // Tiers whose every bucket of the partition is past retention only get the mark.
        let write: Vec<Tier> = tiers
            .iter()
            .copied()
            .filter(|&t| done & tier_bit(t) == 0)
            .filter(|&t| {
                tier_cutoffs.iter().all(|&(c, cutoff)| c != t || partition.saturating_add(PARTITION_MS) > cutoff)
            })
            .collect();
        materialize_partition(shared, partition, &write)?;
        mark_done(shared, partition, done | want)?;
        add(&shared.counters.materialized_partitions_total, 1);
    }
    Ok(())
}

/// Writes `tiers`' runs of every series with chunks (packed or not) in `partition`, in
/// transactions of about `max_chunks_per_seal` series.
fn materialize_partition(shared: &Shared, partition: i64, tiers: &[Tier]) -> Result<()> {
    if tiers.is_empty() {
        return Ok(());
    }
    let err = |source: redb::Error| Error::MaterializeRollups { partition, source };
    let txn = shared.db.begin_read().map_err(|e| err(e.into()))?;
    let chunks = txn.open_table(CHUNKS).map_err(|e| err(e.into()))?;
    let packs = txn.open_table(PACKS).map_err(|e| err(e.into()))?;
    let batch = shared.config.max_chunks_per_seal;
    let mut staged: Staged = Default::default();
    let mut ids: Vec<u64> = Vec::new();
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    let mut series = None;
    let mut written = 0usize;
    let flush_series = |id: u64, ts: &mut Vec<i64>, values: &mut Vec<f64>, staged: &mut Staged| {
        for &tier in tiers {
            let mut points: Vec<RollupPoint> = Vec::new();
            let mut open = None;
            fold_samples(tier, ts, values, &mut open, |p| points.push(p));
            points.extend(open);
            match tier {
                Tier::Minute => {
                    for (first, bytes) in split_runs(tier, &points) {
                        staged.minutes.push(((partition, id, first), bytes));
                    }
                }
                Tier::Hour => staged.hours.push((id, points)),
            }
        }
        ts.clear();
        values.clear();
    };
    for_each_partition_chunk(&packs, &chunks, partition, |id, start, chunk| {
        if series != Some(id) {
            if let Some(previous) = series {
                flush_series(previous, &mut ts, &mut values, &mut staged);
                ids.push(previous);
                if ids.len() >= batch {
                    written += write_runs(shared, partition, &ids, &mut staged)?;
                    ids.clear();
                }
            }
            series = Some(id);
        }
        let start_ms = if start == i64::MIN { partition } else { start };
        decode_chunk(chunk, &mut ts, &mut values).map_err(|reason| Error::CorruptChunk {
            series: id,
            start_ms,
            reason,
        })?;
        Ok(())
    })?;
    if let Some(last) = series {
        flush_series(last, &mut ts, &mut values, &mut staged);
        ids.push(last);
    }
    if !ids.is_empty() {
        written += write_runs(shared, partition, &ids, &mut staged)?;
    }
    debug!(partition_ms = partition, runs = written, "tsdb materialized rollups");
    Ok(())
}

/// Replaces the runs of `ids` (sorted) in `partition` by the staged ones; returns how many
/// were written. Not fsynced: the partition's done mark, written after, is.
fn write_runs(shared: &Shared, partition: i64, ids: &[u64], staged: &mut Staged) -> Result<usize> {
    let err = |source: redb::Error| Error::MaterializeRollups { partition, source };
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else { return Ok(0) };
    let mut txn = shared.db.begin_write().map_err(|e| err(e.into()))?;
    if txn.set_durability(Durability::None).is_err() {
        txn.set_durability(Durability::Immediate).map_err(|e| err(e.into()))?;
    }
    let mut written = 0;
    (|| -> std::result::Result<(), redb::Error> {
        let minutes = std::mem::take(&mut staged.minutes);
        if !minutes.is_empty() {
            let mut table = txn.open_table(Tier::Minute.table())?;
            // What an interrupted pass, or a pass before a late chunk, wrote.
            let range = (partition, first, i64::MIN)..=(partition, last, i64::MAX);
            for stale in table.extract_from_if(range, |key, _| ids.binary_search(&key.1).is_ok())? {
                stale?;
            }
            let mut rows: Vec<(DataKey, &[u8])> = minutes.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            written += rows.len();
            insert_sorted(&mut table, &mut rows, &shared.rollup_partitions[Tier::Minute.index()])?;
        }
        let hours = std::mem::take(&mut staged.hours);
        if !hours.is_empty() {
            let mut table = txn.open_table(Tier::Hour.table())?;
            let mut scratch = RunScratch::default();
            let mut rows = Vec::new();
            let span = (partition, partition.saturating_add(PARTITION_MS));
            for (id, points) in &hours {
                // Replacing the partition's span: what an interrupted pass wrote goes.
                rows.extend(replace_span(&mut table, Tier::Hour, *id, span, points, &mut scratch)?);
            }
            let mut rows: Vec<(DataKey, &[u8])> = rows.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            written += rows.len();
            insert_sorted(&mut table, &mut rows, &shared.rollup_partitions[Tier::Hour.index()])?;
        }
        Ok(())
    })()
    .map_err(err)?;
    txn.commit().map_err(|e| err(e.into()))?;
    Ok(written)
}

/// Records (fsynced) that `partition`'s runs of the tiers in `mask` are complete.
fn mark_done(shared: &Shared, partition: i64, mask: u8) -> Result<()> {
    let err = |source: redb::Error| Error::MaterializeRollups { partition, source };
    (|| -> std::result::Result<(), redb::Error> {
        let mut txn = shared.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(ROLLUP_DONE)?.insert(partition, mask)?;
        txn.commit()?;
        Ok(())
    })()
    .map_err(err)?;
    shared.rollup_done.set(partition, mask);
    Ok(())
}
