//! The engine's redb tables. Every name starts with `tsdb_`: the file is shared with the
//! aggregator's other tables.

use redb::{ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, TableDefinition};

use crate::error::{Error, Result};

/// Series id -> canonical labels key (`name\0value\0...`, see [`crate::Labels`]).
pub(crate) const SERIES: TableDefinition<u64, &str> = TableDefinition::new("tsdb_series");
/// Engine counters that must survive restarts: [`NEXT_SERIES_ID`], [`FORMAT_VERSION`],
/// [`RAW_CUTOFF_APPLIED`].
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("tsdb_meta");
/// Producer -> highest committed seq.
pub(crate) const PRODUCER_SEQ: TableDefinition<&str, u64> = TableDefinition::new("tsdb_producer_seq");
/// WAL record number -> one batch's record (see `wal.rs`).
pub(crate) const WAL: TableDefinition<u64, &[u8]> = TableDefinition::new("tsdb_wal");
/// The key of a chunk or a rollup run: (partition start, series id, first sample ts or first
/// bucket start). See `partition.rs`.
pub(crate) type DataKey = (i64, u64, i64);
/// A table of chunks or rollup runs.
pub(crate) type DataTable = TableDefinition<'static, DataKey, &'static [u8]>;
/// (partition, series id, first sample ts) -> sealed chunk (see `codec/chunk.rs`).
pub(crate) const CHUNKS: DataTable = TableDefinition::new("tsdb_chunks");
/// Series id -> (first sealed ts, last sealed ts, last sealed value bits). WAL replay skips
/// what this says is sealed; the last value tells a duplicate from an out-of-order sample.
pub(crate) const SEALED: TableDefinition<u64, (i64, i64, u64)> = TableDefinition::new("tsdb_sealed");
/// (partition, series id, first bucket start) -> a run of 1-minute rollup points (see
/// `rollup/run.rs`), materialized from the partition's chunks once it is old (see
/// `rollup/materialize.rs`).
pub(crate) const ROLLUP_1M: DataTable = TableDefinition::new("tsdb_rollup_1m");
/// (partition, series id, first bucket start) -> a run of 1-hour rollup points.
pub(crate) const ROLLUP_1H: DataTable = TableDefinition::new("tsdb_rollup_1h");
/// Series id -> the newest bucket start of the rollups received from elsewhere
/// ([`crate::Tsdb::write_rollups`]): with the last sealed sample, it tells retention when a
/// series holds nothing anymore without searching every partition.
pub(crate) const ROLLUP_EXTENT: TableDefinition<u64, i64> = TableDefinition::new("tsdb_rollup_extent");
/// Partition start -> how many [`crate::Tsdb::write_rollups`] calls have written 1-minute
/// points into it since its received runs were last compacted (see `rollup/compact.rs`).
pub(crate) const ROLLUP_RECEIVED: TableDefinition<i64, u64> = TableDefinition::new("tsdb_rollup_received");
/// Partition start -> the tiers (bit [`crate::Tier::index`]) whose runs were materialized from
/// every chunk the partition holds. The sealer removes a partition's entry in the
/// transaction that adds a chunk to it, so the entry is never stale.
pub(crate) const ROLLUP_DONE: TableDefinition<i64, u8> = TableDefinition::new("tsdb_rollup_done");

/// The format of the engine's tables, in [`META`]: bumped whenever a table's key or value
/// layout changes, so that a file from another build is refused at open with
/// [`Error::UnsupportedFormat`] instead of being misread. Files written before the marker
/// existed are format 1.
pub(crate) const FORMAT_VERSION: &str = "format_version";

/// The format this build reads and writes. 2: chunks and rollup runs keyed by time partition
/// first, rollup runs stored column by column. 3: rollup runs materialized from old
/// partitions (`tsdb_rollup_done`), no open points (`tsdb_rollup_open` is gone). 4: final
/// weeks of the 1-hour tier packed (`tsdb_rollup_1h_packs`), runs with decimal counter
/// corrections; a build of format 3 would miss both, so it must refuse the file.
pub(crate) const CURRENT_FORMAT: u64 = 4;

/// The format this build upgrades at open: everything it holds reads the same, and the
/// upgrade is the new marker (and the new table).
const UPGRADED_FORMAT: u64 = 3;

/// The raw cutoff retention last applied (as u64 bits of the i64, a partition start): every
/// partition before it is deleted, and samples before it are refused.
pub(crate) const RAW_CUTOFF_APPLIED: &str = "raw_cutoff_applied";

/// Set once `tsdb_rollup_received` notes every partition with received runs (files written
/// before the table existed get every 1-minute partition noted at their first open).
pub(crate) const RECEIVED_NOTED: &str = "rollup_received_noted";

/// The next series id to hand out; ids are never reused, even after retention removes a
/// series, so a stale WAL reference can never name a different series.
pub(crate) const NEXT_SERIES_ID: &str = "next_series_id";

/// Creates every table, so that readers never meet a missing one.
pub(crate) fn create_tables(db: &redb::Database) -> Result<()> {
    let err = |source: redb::Error| Error::OpenStore { source };
    let txn = db.begin_write().map_err(|e| err(e.into()))?;
    {
        let series = txn.open_table(SERIES).map_err(|e| err(e.into()))?;
        let mut meta = txn.open_table(META).map_err(|e| err(e.into()))?;
        let stored = meta.get(FORMAT_VERSION).map_err(|e| err(e.into()))?.map(|v| v.value());
        let older = meta.get(NEXT_SERIES_ID).map_err(|e| err(e.into()))?.is_some()
            || !series.is_empty().map_err(|e| err(e.into()))?;
        match stored {
            Some(CURRENT_FORMAT) => {}
            Some(UPGRADED_FORMAT) => {
                meta.insert(FORMAT_VERSION, CURRENT_FORMAT).map_err(|e| err(e.into()))?;
            }
            Some(found) => return Err(Error::UnsupportedFormat { found, expected: CURRENT_FORMAT }),
            None if older => return Err(Error::UnsupportedFormat { found: 1, expected: CURRENT_FORMAT }),
            None => {
                meta.insert(FORMAT_VERSION, CURRENT_FORMAT).map_err(|e| err(e.into()))?;
            }
        }
        txn.open_table(PRODUCER_SEQ).map_err(|e| err(e.into()))?;
        txn.open_table(WAL).map_err(|e| err(e.into()))?;
        txn.open_table(CHUNKS).map_err(|e| err(e.into()))?;
        txn.open_table(crate::pack::PACKS).map_err(|e| err(e.into()))?;
        txn.open_table(SEALED).map_err(|e| err(e.into()))?;
        txn.open_table(ROLLUP_1M).map_err(|e| err(e.into()))?;
        txn.open_table(ROLLUP_1H).map_err(|e| err(e.into()))?;
        txn.open_table(crate::rollup::HOUR_PACKS).map_err(|e| err(e.into()))?;
        txn.open_table(ROLLUP_DONE).map_err(|e| err(e.into()))?;
        txn.open_table(ROLLUP_EXTENT).map_err(|e| err(e.into()))?;
        let mut received = txn.open_table(ROLLUP_RECEIVED).map_err(|e| err(e.into()))?;
        if meta.get(RECEIVED_NOTED).map_err(|e| err(e.into()))?.is_none() {
            // A file from before received runs were noted: every partition may hold some.
            let minutes = txn.open_table(ROLLUP_1M).map_err(|e| err(e.into()))?;
            let partitions = crate::partition::PartitionSet::load(&minutes).map_err(|e| err(e.into()))?;
            for partition in partitions.before(i64::MAX) {
                received.insert(partition, 1).map_err(|e| err(e.into()))?;
            }
            meta.insert(RECEIVED_NOTED, 1).map_err(|e| err(e.into()))?;
        }
    }
    txn.commit().map_err(|e| err(e.into()))?;
    // Fail here, not on the first query, if the file cannot be read.
    db.begin_read().map_err(|e| err(e.into()))?;
    Ok(())
}
