//! Opening: load the index, what is sealed and the producers' seqs, then replay the WAL into
//! head chunks.
//!
//! Replay applies every record in order with the same rules as the live writer, starting
//! from each series' last sealed sample (`tsdb_sealed`). Samples already sealed are at or
//! before that sample and are refused exactly as the live writer would refuse a repeat, so
//! every committed sample ends up once in the heads or the chunks, never twice.

use redb::{ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _};
use rustc_hash::FxHashMap;
use tracing::info;

use crate::config::{TsdbConfig, millis};
use crate::error::{Error, Result};
use crate::head::{HeadLimits, Heads};
use crate::index::SeriesIndex;
use crate::pack::{PACKS, entries_in, load_partitions as load_pack_partitions};
use crate::partition::{PARTITION_MS, PartitionSet};
use crate::rollup::{HOUR_PACKS, Materialized, Tier};
use crate::schema::{
    CHUNKS, META, PRODUCER_SEQ, RAW_CUTOFF_APPLIED, ROLLUP_DONE, ROLLUP_EXTENT, ROLLUP_RECEIVED, SEALED, WAL,
};
use crate::wal::{WalDecoder, WalRecord};

/// What [`recover`] rebuilt.
pub(crate) struct Recovered {
    pub(crate) index: SeriesIndex,
    pub(crate) next_series_id: u64,
    pub(crate) heads: Heads,
    pub(crate) producer_seqs: FxHashMap<String, u64>,
    /// The number the next WAL record gets.
    pub(crate) next_wal: u64,
    /// The lowest WAL record number stored (`next_wal` when none).
    pub(crate) first_wal: u64,
    pub(crate) wal_records: u64,
    pub(crate) wal_bytes: u64,
    pub(crate) sealed_chunks: u64,
    /// The partitions holding chunks (packed or not) and of each tier's run table.
    pub(crate) partitions: (PartitionSet, [PartitionSet; 2]),
    /// The partitions of the pack table.
    pub(crate) pack_partitions: PartitionSet,
    /// The weeks of the 1-hour pack table.
    pub(crate) hour_pack_weeks: PartitionSet,
    /// The partitions of the chunk table (unpacked chunks).
    pub(crate) loose_partitions: PartitionSet,
    pub(crate) received_partitions: PartitionSet,
    /// The partitions whose runs are materialized.
    pub(crate) rollup_done: Materialized,
}

/// The head limits a config sets.
pub(crate) fn head_limits(config: &TsdbConfig) -> HeadLimits {
    HeadLimits {
        max_samples: u32::try_from(config.chunk_max_samples).unwrap_or(u32::MAX),
        max_span_ms: millis(config.chunk_max_span),
    }
}

/// Loads the persisted state and replays the WAL.
pub(crate) fn recover(db: &redb::Database, config: &TsdbConfig) -> Result<Recovered> {
    let load = |what: &'static str| move |source: redb::Error| Error::LoadState { what, source };
    let txn = db.begin_read().map_err(|e| load("series")(e.into()))?;
    let (index, next_series_id) = SeriesIndex::load(&txn)?;

    let mut producer_seqs = FxHashMap::default();
    let table = txn.open_table(PRODUCER_SEQ).map_err(|e| load("producer seq")(e.into()))?;
    for entry in table.iter().map_err(|e| load("producer seq")(e.into()))? {
        let (producer, seq) = entry.map_err(|e| load("producer seq")(e.into()))?;
        producer_seqs.insert(producer.value().to_string(), seq.value());
    }

    let mut heads = Heads::new(head_limits(config), 0);
    let table = txn.open_table(SEALED).map_err(|e| load("sealed")(e.into()))?;
    for entry in table.iter().map_err(|e| load("sealed")(e.into()))? {
        let (id, sealed) = entry.map_err(|e| load("sealed")(e.into()))?;
        let (min_ts, max_ts, last_bits) = sealed.value();
        if index.contains(id.value()) {
            heads.load_sealed(id.value(), min_ts, max_ts, last_bits);
        }
    }
    let meta = txn.open_table(META).map_err(|e| load("meta")(e.into()))?;
    if let Some(cutoff) = meta.get(RAW_CUTOFF_APPLIED).map_err(|e| load("meta")(e.into()))? {
        heads.raise_min_ts(cutoff.value() as i64);
    }
    let table = txn.open_table(ROLLUP_EXTENT).map_err(|e| load("rollup extent")(e.into()))?;
    for entry in table.iter().map_err(|e| load("rollup extent")(e.into()))? {
        let (id, start) = entry.map_err(|e| load("rollup extent")(e.into()))?;
        if index.contains(id.value()) {
            heads.note_rollup_extent(id.value(), start.value());
        }
    }
    let chunks = txn.open_table(CHUNKS).map_err(|e| load("chunks")(e.into()))?;
    let mut sealed_chunks = chunks.len().map_err(|e| load("chunks")(e.into()))?;
    let chunk_partitions = PartitionSet::load(&chunks).map_err(|e| load("chunks")(e.into()))?;
    let loose_partitions = PartitionSet::from_set(chunk_partitions.before(i64::MAX).into_iter().collect());
    let packs = txn.open_table(PACKS).map_err(|e| load("packs")(e.into()))?;
    sealed_chunks += entries_in(&packs).map_err(|e| load("packs")(e.into()))?;
    let pack_partitions = load_pack_partitions(&packs, PARTITION_MS).map_err(|e| load("packs")(e.into()))?;
    // Packed chunks are chunks of their partition too.
    for partition in pack_partitions.before(i64::MAX) {
        chunk_partitions.add(partition);
    }
    let mut rollup_partitions = [PartitionSet::default(), PartitionSet::default()];
    // (Replaced below, each with its tier's width.)
    for tier in Tier::ALL {
        let what = match tier {
            Tier::Minute => "1m rollup",
            Tier::Hour => "1h rollup",
        };
        let table = txn.open_table(tier.table()).map_err(|e| load(what)(e.into()))?;
        rollup_partitions[tier.index()] =
            PartitionSet::load(&table).map_err(|e| load(what)(e.into()))?.with_width(tier.partition_ms());
    }
    let table = txn.open_table(HOUR_PACKS).map_err(|e| load("1h rollup packs")(e.into()))?;
    let hour_pack_weeks =
        load_pack_partitions(&table, Tier::Hour.partition_ms()).map_err(|e| load("1h rollup packs")(e.into()))?;
    // Packed weeks are partitions of the 1-hour tier too.
    for week in hour_pack_weeks.before(i64::MAX) {
        rollup_partitions[Tier::Hour.index()].add(week);
    }

    let table = txn.open_table(ROLLUP_RECEIVED).map_err(|e| load("rollup received")(e.into()))?;
    let mut received = std::collections::BTreeSet::new();
    for entry in table.iter().map_err(|e| load("rollup received")(e.into()))? {
        received.insert(entry.map_err(|e| load("rollup received")(e.into()))?.0.value());
    }
    let received_partitions = PartitionSet::from_set(received);

    let table = txn.open_table(ROLLUP_DONE).map_err(|e| load("rollup done")(e.into()))?;
    let rollup_done = Materialized::load(&table).map_err(|e| load("rollup done")(e.into()))?;

    let replay = |e: redb::StorageError| Error::ReplayWal { source: e.into() };
    let wal = txn.open_table(WAL).map_err(|e| Error::ReplayWal { source: e.into() })?;
    let now_ms = config.clock.now_ms();
    let (mut decoder, mut record) = (WalDecoder::default(), WalRecord::default());
    let (mut first_wal, mut next_wal, mut wal_records, mut wal_bytes, mut replayed) = (None, 0u64, 0u64, 0u64, 0u64);
    for entry in wal.iter().map_err(replay)? {
        let (number, bytes) = entry.map_err(replay)?;
        let (number, bytes) = (number.value(), bytes.value());
        decoder.decode(bytes, &mut record).map_err(|reason| Error::CorruptWalRecord { record: number, reason })?;
        for &(series_ref, ts, value) in &record.samples {
            let Some(&id) = record.series.get(series_ref as usize) else { continue };
            // A series retention removed had nothing unsealed: its samples here are sealed
            // and expired.
            if index.contains(id) {
                heads.append(id, ts, value, number, now_ms);
            }
        }
        first_wal.get_or_insert(number);
        next_wal = number + 1;
        wal_records += 1;
        wal_bytes += bytes.len() as u64;
        replayed += record.samples.len() as u64;
    }
    heads.set_applied_wal(next_wal);
    info!(
        series = index.len(),
        wal_records,
        replayed_samples = replayed,
        head_samples = heads.samples(),
        "tsdb recovered"
    );
    Ok(Recovered {
        index,
        next_series_id,
        heads,
        producer_seqs,
        next_wal,
        first_wal: first_wal.unwrap_or(next_wal),
        wal_records,
        wal_bytes,
        sealed_chunks,
        partitions: (chunk_partitions, rollup_partitions),
        pack_partitions,
        hour_pack_weeks,
        loose_partitions,
        received_partitions,
        rollup_done,
    })
}
