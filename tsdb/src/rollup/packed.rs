//! Packed weeks of the 1-hour tier: once a week's 1-hour points are final, every series'
//! runs of it are moved out of `tsdb_rollup_1h` into `tsdb_rollup_1h_packs`, merged into
//! one run per series and many series per value, as `pack.rs` does with chunks and for the
//! same reason. A week's run of a gauge is 2-3 KB: alone in a 4 KiB B-tree leaf (two of
//! them take an 8 KiB one), so the table was 1.5-1.7 times its runs' bytes. A pack fills a
//! 32 KiB leaf.
//!
//! A week is packed once it ended `compact_rollups_after` ago, before the oldest partition
//! whose received minutes are not put together into hours yet, and (in a store with samples
//! of its own) before the 1-hour tier's materialized frontier. 1-hour points written into a
//! packed week later (late minutes compacted, a partition materialized again) go into
//! `tsdb_rollup_1h` as before, and a reader takes them over the packed ones: the later write
//! wins (see `latest_per_bucket`). A week is packed once; what lands in it afterwards stays
//! in `tsdb_rollup_1h`. Retention deletes a week's packs, and the rows written into it since,
//! once the whole week is past the 1-hour cutoff (elsewhere a row goes once its own last
//! bucket is, so a series that stopped mid-week keeps its hours up to a week longer once
//! packed). A pass cut short (a crash between its transactions) leaves the week's remaining
//! series in rows, which are read as before and not packed later.
//!
//! ```text
//! key: (week start, first series id) -> a pack (see `pack.rs`), each entry one series':
//!      (first bucket start - week start) / 1 h uvarint | the run (see `run.rs`)
//! ```

use redb::{Durability, ReadableTable, TableDefinition};
use tracing::debug;

use super::run::{RunScratch, corrupt_run, decode_run, encode_run, latest_per_bucket};
use super::tier::Tier;
use crate::codec::{get_uvarint, put_uvarint};
use crate::config::millis;
use crate::error::{Error, Result};
use crate::pack::{PACK_MAX_BYTES, PackBuilder, PackTableDefinition};
use crate::schema::DataKey;
use crate::shared::Shared;
use crate::stats::add;

/// (week start, first series id) -> a pack of 1-hour runs.
pub(crate) const HOUR_PACKS: PackTableDefinition = TableDefinition::new("tsdb_rollup_1h_packs");

/// Bytes of runs a packing transaction reads (whole series): about 64 packs, so that the
/// transaction's last pack, which is rarely full, wastes little.
const BYTES_PER_TXN: usize = 64 * PACK_MAX_BYTES;

/// The time before which the 1-hour tier's weeks are final (see the module's doc).
fn final_before(shared: &Shared, now_ms: i64) -> i64 {
    let settled = now_ms.saturating_sub(millis(shared.config.compact_rollups_after));
    let received = shared.received_partitions.first().unwrap_or(i64::MAX);
    // i64::MIN until the store holds a sample of its own: then nothing of its own to wait for.
    let own = match shared.rolled_up_until[Tier::Hour.index()].load(std::sync::atomic::Ordering::Relaxed) {
        i64::MIN => i64::MAX,
        until => until,
    };
    settled.min(received).min(own)
}

/// Packs every final week not packed yet, oldest first; returns how many.
pub(crate) fn pack_final_weeks(shared: &Shared, now_ms: i64) -> Result<usize> {
    if !shared.config.tier_enabled(Tier::Hour) {
        return Ok(0);
    }
    let bound = final_before(shared, now_ms);
    let mut packed = 0;
    for week in shared.rollup_partitions[Tier::Hour.index()].before(i64::MAX) {
        if week.saturating_add(Tier::Hour.partition_ms()) > bound {
            break;
        }
        // Partitions an older build keyed narrower are left as they are.
        if Tier::Hour.partition_of(week) != week || shared.hour_pack_weeks.contains(week) {
            continue;
        }
        let runs = pack_week(shared, week)?;
        add(&shared.counters.packed_hour_runs_total, runs as u64);
        debug!(week_ms = week, runs, "tsdb packed a week of 1-hour runs");
        packed += 1;
    }
    Ok(packed)
}

/// Moves `week`'s runs into packs, in transactions that each read whole series (about
/// [`BYTES_PER_TXN`]), insert their packs and delete their rows: a run is always in exactly
/// one of the two tables. Returns how many series it packed.
fn pack_week(shared: &Shared, week: i64) -> Result<usize> {
    let err = |source: redb::Error| Error::PackRollups { week, source };
    // Noted first: a reader may look for packs that are not there yet, never miss one.
    shared.hour_pack_weeks.add(week);
    let mut scratch = RunScratch::default();
    let (mut from, mut packed) = (0u64, 0usize);
    loop {
        let mut txn = shared.db.begin_write().map_err(|e| err(e.into()))?;
        // Made durable by the next durable commit; lost with it, the rows are still there.
        if txn.set_durability(Durability::None).is_err() {
            txn.set_durability(Durability::Immediate).map_err(|e| err(e.into()))?;
        }
        let next = (|| -> std::result::Result<Option<u64>, redb::Error> {
            let mut rows = txn.open_table(Tier::Hour.table())?;
            let mut slice: Vec<(DataKey, Vec<u8>)> = Vec::new();
            let (mut bytes, mut next) = (0usize, None);
            for entry in rows.range((week, from, i64::MIN)..=(week, u64::MAX, i64::MAX))? {
                let (key, value) = entry?;
                let key = key.value();
                if bytes >= BYTES_PER_TXN && slice.last().is_some_and(|(k, _)| k.1 != key.1) {
                    next = Some(key.1);
                    break;
                }
                bytes += value.value().len();
                slice.push((key, value.value().to_vec()));
            }
            let mut finished = Vec::new();
            let mut pack = PackBuilder::<DataKey>::default();
            let mut points = Vec::new();
            let mut entry = Vec::new();
            for series in slice.chunk_by(|a, b| a.0.1 == b.0.1) {
                let id = series[0].0.1;
                points.clear();
                for ((_, _, first), run) in series {
                    decode_run(Tier::Hour, *first, run, &mut scratch, &mut points)
                        .map_err(|reason| corrupt_run(Tier::Hour, id, *first, &reason))?;
                }
                latest_per_bucket(&mut points);
                entry.clear();
                put_uvarint(&mut entry, ((points[0].start_ms - week) / Tier::Hour.width_ms()) as u64);
                encode_run(Tier::Hour, &points, &mut entry);
                if !pack.fits(entry.len()) {
                    finished.extend(std::mem::take(&mut pack).finish());
                }
                pack.push(id, &entry);
                pack.keys.extend(series.iter().map(|(key, _)| *key));
                packed += 1;
            }
            finished.extend(pack.finish());
            let mut packs = txn.open_table(HOUR_PACKS)?;
            for (first, bytes, keys) in finished {
                packs.insert((week, first), bytes.as_slice())?;
                for key in keys {
                    rows.remove(key)?;
                }
            }
            Ok(next)
        })()
        .map_err(&err)?;
        txn.commit().map_err(|e| err(e.into()))?;
        match next {
            Some(id) => from = id,
            None => return Ok(packed),
        }
    }
}

/// Appends to `out` the points of a packed run of `week` (an entry of one of its packs, see
/// the module's doc). The error: the bucket start it is about, and why.
pub(crate) fn decode_packed(
    week: i64,
    entry: &[u8],
    scratch: &mut RunScratch,
    out: &mut Vec<crate::rollup::RollupPoint>,
) -> std::result::Result<(), (i64, String)> {
    let mut pos = 0;
    let offset = get_uvarint(entry, &mut pos).ok_or_else(|| (week, "packed run ends early".to_string()))?;
    let first = i64::try_from(offset)
        .ok()
        .and_then(|o| o.checked_mul(Tier::Hour.width_ms()))
        .and_then(|o| week.checked_add(o))
        .ok_or_else(|| (week, format!("packed run starts {offset} hours into its week")))?;
    decode_run(Tier::Hour, first, &entry[pos..], scratch, out).map_err(|reason| (first, reason))
}
