//! Compacting received rollups: [`crate::Tsdb::write_rollups`] stores what each call brings
//! as runs of its own (a master receives every series' minute once a minute: one run of one
//! point per series per minute, most of each row its key). Every call that writes 1-minute
//! points notes their partitions in `tsdb_rollup_received` (partition -> a count of writes).
//! Once a noted partition's end is `compact_rollups_after` old, the background retention pass
//! rewrites each received series' runs of it as one, and writes its 1-hour points, put
//! together from the minutes ([`RollupPoint::absorb`]), replacing any it had. The note is
//! removed only if no write came since the pass read it; a later write notes the partition
//! again, and the next pass redoes it. The hour points go into the series' run of the week
//! (see `Tier::partition_ms`), replacing the partition's two hours there. Until a partition is compacted, the 1-hour tier is
//! not complete there ([`crate::Tsdb::received_hours_complete_before`]).
//!
//! Each series is rewritten in one transaction (its old runs deleted, the merged one
//! inserted), so a pass cut short leaves every bucket stored once, and the next pass starts
//! the partition over: merging merged runs changes nothing.

use redb::{Durability, ReadableDatabase as _, ReadableTable as _};
use tracing::debug;

use super::point::RollupPoint;
use super::run::{RunScratch, corrupt_run, decode_run, latest_per_bucket, replace_span, split_runs};
use super::tier::Tier;
use crate::config::millis;
use crate::error::{Error, Result};
use crate::partition::{PARTITION_MS, insert_sorted};
use crate::schema::{DataKey, ROLLUP_EXTENT, ROLLUP_RECEIVED};
use crate::shared::Shared;
use crate::stats::add;

/// Compacts every noted partition old enough, oldest first. `tier_cutoffs`: a partition whose
/// minutes retention has started deleting gets no hour points from what is left of it.
pub(crate) fn compact_received(shared: &Shared, now_ms: i64, tier_cutoffs: &[(Tier, i64)]) -> Result<()> {
    let ready_before = now_ms.saturating_sub(millis(shared.config.compact_rollups_after));
    let minute_cutoff = tier_cutoffs.iter().find(|(t, _)| *t == Tier::Minute).map_or(i64::MIN, |&(_, c)| c);
    let hours = shared.config.tier_enabled(Tier::Hour);
    for partition in shared.received_partitions.before(i64::MAX) {
        if partition.saturating_add(PARTITION_MS) > ready_before {
            break;
        }
        let writes = noted_writes(shared, partition)?;
        let runs = compact_partition(shared, partition, hours && partition >= minute_cutoff)?;
        unnote(shared, partition, writes)?;
        add(&shared.counters.compacted_partitions_total, 1);
        debug!(partition_ms = partition, runs, "tsdb compacted received rollups");
    }
    Ok(())
}

fn compact_err(partition: i64) -> impl Fn(redb::Error) -> Error {
    move |source| Error::CompactRollups { partition, source }
}

/// The partition's write count as noted now.
fn noted_writes(shared: &Shared, partition: i64) -> Result<u64> {
    let err = compact_err(partition);
    let txn = shared.db.begin_read().map_err(|e| err(e.into()))?;
    let table = txn.open_table(ROLLUP_RECEIVED).map_err(|e| err(e.into()))?;
    Ok(table.get(partition).map_err(|e| err(e.into()))?.map_or(0, |v| v.value()))
}

/// Removes the partition's note, unless a write came since it said `writes`.
fn unnote(shared: &Shared, partition: i64, writes: u64) -> Result<()> {
    let err = compact_err(partition);
    let mut txn = shared.db.begin_write().map_err(|e| err(e.into()))?;
    txn.set_durability(Durability::Immediate).map_err(|e| err(e.into()))?;
    {
        let mut table = txn.open_table(ROLLUP_RECEIVED).map_err(|e| err(e.into()))?;
        let now = table.get(partition).map_err(|e| err(e.into()))?.map_or(0, |v| v.value());
        if now != writes {
            return Ok(());
        }
        table.remove(partition).map_err(|e| err(e.into()))?;
        // Within the transaction, as the writer notes one within its own: the two never
        // interleave, so the in-memory set never misses a noted partition.
        shared.received_partitions.remove(partition);
    }
    txn.commit().map_err(|e| err(e.into()))
}

/// Rewrites the runs of every received series in `partition`, in transactions of about
/// `max_deletes_per_retention_txn` rows; returns how many runs it read.
fn compact_partition(shared: &Shared, partition: i64, hours: bool) -> Result<usize> {
    let err = compact_err(partition);
    let limit = shared.config.max_deletes_per_retention_txn.max(1);
    let (mut from, mut total) = (0u64, 0usize);
    let mut scratch = RunScratch::default();
    loop {
        let mut txn = shared.db.begin_write().map_err(|e| err(e.into()))?;
        // Fsynced by the note's removal (or any commit) after it; lost together with
        // everything after it, the partition is still noted.
        if txn.set_durability(Durability::None).is_err() {
            txn.set_durability(Durability::Immediate).map_err(|e| err(e.into()))?;
        }
        let next = (|| -> std::result::Result<Option<u64>, redb::Error> {
            let mut minutes = txn.open_table(Tier::Minute.table())?;
            let extent = txn.open_table(ROLLUP_EXTENT)?;
            // Whole series, until the slice holds `limit` rows.
            let mut slice: Vec<(DataKey, Vec<u8>)> = Vec::new();
            let mut next = None;
            for entry in minutes.range((partition, from, i64::MIN)..=(partition, u64::MAX, i64::MAX))? {
                let (key, value) = entry?;
                let key = key.value();
                if slice.len() >= limit && slice.last().is_some_and(|(k, _)| k.1 != key.1) {
                    next = Some(key.1);
                    break;
                }
                slice.push((key, value.value().to_vec()));
            }
            total += slice.len();
            let mut hour_table = txn.open_table(Tier::Hour.table())?;
            let mut minute_rows = Vec::new();
            let mut hour_rows = Vec::new();
            for series in slice.chunk_by(|a, b| a.0.1 == b.0.1) {
                let id = series[0].0.1;
                // Series of this store's own samples have runs materialized from chunks.
                if extent.get(id)?.is_none() || (series.len() == 1 && !hours) {
                    continue;
                }
                let mut points = Vec::new();
                for ((_, _, first), bytes) in series {
                    decode_run(Tier::Minute, *first, bytes, &mut scratch, &mut points)
                        .map_err(|reason| corrupt_run(Tier::Minute, id, *first, &reason))?;
                }
                // Runs of a series never overlap (write_rollups merges them), but a bucket
                // stored twice would be read as the later run's.
                latest_per_bucket(&mut points);
                if series.len() > 1 {
                    for (key, _) in series {
                        minutes.remove(*key)?;
                    }
                    let runs = split_runs(Tier::Minute, &points);
                    minute_rows.extend(runs.into_iter().map(|(f, b)| ((partition, id, f), b)));
                }
                if hours {
                    let span = (partition, partition.saturating_add(PARTITION_MS));
                    let hour_points = hours_of(&points);
                    hour_rows.extend(replace_span(&mut hour_table, Tier::Hour, id, span, &hour_points, &mut scratch)?);
                }
            }
            let mut rows: Vec<(DataKey, &[u8])> = minute_rows.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            insert_sorted(&mut minutes, &mut rows, &shared.rollup_partitions[Tier::Minute.index()])?;
            let mut rows: Vec<(DataKey, &[u8])> = hour_rows.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            insert_sorted(&mut hour_table, &mut rows, &shared.rollup_partitions[Tier::Hour.index()])?;
            Ok(next)
        })()
        .map_err(&err)?;
        txn.commit().map_err(|e| err(e.into()))?;
        match next {
            Some(id) => from = id,
            None => return Ok(total),
        }
    }
}

/// The 1-hour points of 1-minute points (sorted, one per bucket).
fn hours_of(minutes: &[RollupPoint]) -> Vec<RollupPoint> {
    let mut hours: Vec<RollupPoint> = Vec::new();
    for m in minutes {
        let start = Tier::Hour.bucket_start(m.start_ms);
        match hours.last_mut() {
            Some(hour) if hour.start_ms == start => hour.absorb(m),
            _ => hours.push(RollupPoint { start_ms: start, ..*m }),
        }
    }
    hours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_become_the_hours_they_fall_in() {
        let minute = |start_ms: i64, v: f64| RollupPoint::new(Tier::Minute, start_ms, v);
        let points = [minute(0, 1.0), minute(60_000, 3.0), minute(3_540_000, 2.0), minute(3_600_000, 5.0)];
        let hours = hours_of(&points);
        assert_eq!(hours.len(), 2);
        assert_eq!((hours[0].start_ms, hours[0].count, hours[0].sum, hours[0].resets), (0, 3, 6.0, 1));
        assert_eq!((hours[0].first_v, hours[0].last_v, hours[0].max), (1.0, 2.0, 3.0));
        assert_eq!((hours[1].start_ms, hours[1].count, hours[1].last_ts), (3_600_000, 1, 3_600_000));
    }
}
