//! The engine's redb tables. Every name starts with `tsdb_`: the file is shared with the
//! aggregator's other tables.

use redb::{ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, TableDefinition};

use crate::error::{Error, Result};

/// Series id -> canonical labels key (`name\0value\0...`, see [`crate::Labels`]).
pub(crate) const SERIES: TableDefinition<u64, &str> = TableDefinition::new("tsdb_series");
/// Engine counters that must survive restarts: [`NEXT_SERIES_ID`].
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("tsdb_meta");
/// Producer -> highest committed seq.
pub(crate) const PRODUCER_SEQ: TableDefinition<&str, u64> = TableDefinition::new("tsdb_producer_seq");
/// WAL record number -> one batch's record (see `wal.rs`).
pub(crate) const WAL: TableDefinition<u64, &[u8]> = TableDefinition::new("tsdb_wal");
/// (series id, first sample ts) -> sealed chunk (see `codec/chunk.rs`).
pub(crate) const CHUNKS: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("tsdb_chunks");
/// Series id -> (first sealed ts, last sealed ts, last sealed value bits). WAL replay skips
/// what this says is sealed; the last value tells a duplicate from an out-of-order sample.
pub(crate) const SEALED: TableDefinition<u64, (i64, i64, u64)> = TableDefinition::new("tsdb_sealed");
/// (series id, first bucket start) -> a run of completed 1-minute rollup points (see
/// `rollup/run.rs`).
pub(crate) const ROLLUP_1M: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("tsdb_rollup_1m");
/// (series id, first bucket start) -> a run of completed 1-hour rollup points.
pub(crate) const ROLLUP_1H: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("tsdb_rollup_1h");
/// (series id, tier index) -> the series' bucket that may still grow, start included.
pub(crate) const ROLLUP_OPEN: TableDefinition<(u64, u8), &[u8]> = TableDefinition::new("tsdb_rollup_open");

/// The format of the engine's tables, in [`META`]: bumped whenever a table's key or value
/// layout changes, so that a file from another build is refused at open with
/// [`Error::UnsupportedFormat`] instead of being misread. Files written before the marker
/// existed are format 1.
pub(crate) const FORMAT_VERSION: &str = "format_version";

/// The format this build reads and writes. 2: rollup runs stored column by column.
pub(crate) const CURRENT_FORMAT: u64 = 2;

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
            Some(found) => return Err(Error::UnsupportedFormat { found, expected: CURRENT_FORMAT }),
            None if older => return Err(Error::UnsupportedFormat { found: 1, expected: CURRENT_FORMAT }),
            None => {
                meta.insert(FORMAT_VERSION, CURRENT_FORMAT).map_err(|e| err(e.into()))?;
            }
        }
        txn.open_table(PRODUCER_SEQ).map_err(|e| err(e.into()))?;
        txn.open_table(WAL).map_err(|e| err(e.into()))?;
        txn.open_table(CHUNKS).map_err(|e| err(e.into()))?;
        txn.open_table(SEALED).map_err(|e| err(e.into()))?;
        txn.open_table(ROLLUP_1M).map_err(|e| err(e.into()))?;
        txn.open_table(ROLLUP_1H).map_err(|e| err(e.into()))?;
        txn.open_table(ROLLUP_OPEN).map_err(|e| err(e.into()))?;
    }
    txn.commit().map_err(|e| err(e.into()))?;
    // Fail here, not on the first query, if the file cannot be read.
    db.begin_read().map_err(|e| err(e.into()))?;
    Ok(())
}
