//! Packs: once every sample of a 2-hour partition is sealed, its chunks are moved out of
//! `tsdb_chunks` into `tsdb_packs`, many series' chunks per value, in series order.
//!
//! Why: a chunk of a 2-hour partition is a few hundred bytes, so a 4 KiB B-tree leaf holds
//! about eight, and the one that does not fit leaves its room empty: leaves of the chunk
//! table end up ~84 % full. A pack is up to [`PACK_MAX_BYTES`], which redb stores as one
//! leaf of 32 KiB, so what is left empty is at most one chunk in 32 KiB. (64 KiB packs leave
//! the file larger once compacted, 1.02 against 0.97 bytes per sample on the size bench:
//! coarser allocations leave coarser holes; 16 KiB gives 0.97 too.)
//!
//! A pack holds the chunks of consecutive series (and a series' chunks of the partition are
//! in one pack), keyed (partition, first series id): a series' chunks are in the last pack
//! keyed at or before it. A partition is packed once, in transactions that each insert some
//! packs and delete the chunks they hold, so a chunk is always in exactly one of the two
//! tables; chunks sealed into the partition later (late samples) stay in `tsdb_chunks`, and
//! readers look in both.
//!
//! ```text
//! count uvarint | per chunk: series id - previous (the key's first for the first) uvarint,
//!                            byte length uvarint | the chunks' bytes, in that order
//! ```

use std::collections::BTreeSet;

use redb::{Durability, ReadableDatabase as _, ReadableTable, StorageError, TableDefinition};
use tracing::debug;

use crate::codec::{get_uvarint, put_uvarint};
use crate::error::{Error, Result};
use crate::partition::{PARTITION_MS, PartitionSet, partition_range};
use crate::schema::CHUNKS;
use crate::shared::Shared;

/// A table of packs: (partition start, first series id) -> a pack.
pub(crate) type PackTableDefinition = TableDefinition<'static, (i64, u64), &'static [u8]>;

/// (partition start, first series id) -> a pack of chunks.
pub(crate) const PACKS: PackTableDefinition = TableDefinition::new("tsdb_packs");

/// The largest pack (a single larger chunk is a pack alone): 32 KiB less room for redb's
/// leaf header, key and offsets, so a pack fills one order-3 leaf.
pub(crate) const PACK_MAX_BYTES: usize = 32_768 - 64;

/// Packs written per transaction.
const PACKS_PER_TXN: usize = 16;

/// A chunk's key in `tsdb_chunks`.
type ChunkKey = (i64, u64, i64);

/// A finished pack: its first series, bytes, and the chunk keys it took.
type Pack = (u64, Vec<u8>, Vec<ChunkKey>);

/// What a partition's chunks are handed to: series id, first ts (`i64::MIN` when packed),
/// bytes.
type ChunkSink<'a> = dyn FnMut(u64, i64, &[u8]) -> Result<()> + 'a;

/// The key range of a whole partition in [`PACKS`].
pub(crate) fn pack_range(partition: i64) -> std::ops::RangeInclusive<(i64, u64)> {
    (partition, 0)..=(partition, u64::MAX)
}

/// The partitions a pack table (this one, or the 1-hour tier's, see `rollup/packed.rs`)
/// holds, each `width_ms` wide.
pub(crate) fn load_partitions(
    table: &impl ReadableTable<(i64, u64), &'static [u8]>,
    width_ms: i64,
) -> Result<PartitionSet, StorageError> {
    let mut set = BTreeSet::new();
    let mut from = i64::MIN;
    loop {
        let Some(entry) = table.range((from, 0)..)?.next() else { break };
        let partition = entry?.0.value().0;
        set.insert(partition);
        match partition.checked_add(width_ms) {
            Some(next) => from = next,
            None => break,
        }
    }
    Ok(PartitionSet::from_set(set).with_width(width_ms))
}

/// The number of chunks a pack holds.
pub(crate) fn pack_count(pack: &[u8]) -> u64 {
    get_uvarint(pack, &mut 0).unwrap_or(0)
}

/// The number of entries (chunks, or the 1-hour tier's runs) every pack of `table` holds.
pub(crate) fn entries_in(table: &impl ReadableTable<(i64, u64), &'static [u8]>) -> Result<u64, StorageError> {
    let mut entries = 0;
    for pack in table.iter()? {
        entries += pack_count(pack?.1.value());
    }
    Ok(entries)
}

/// Where the chunks of `pack` (keyed with `first` as its first series) lie in it, in order:
/// `(series id, start, length)`.
pub(crate) fn index(first: u64, pack: &[u8]) -> Result<Vec<(u64, usize, usize)>, String> {
    let corrupt = || "pack directory ends early".to_string();
    let mut pos = 0;
    let count = get_uvarint(pack, &mut pos).ok_or_else(corrupt)?;
    let mut lens = Vec::with_capacity(usize::try_from(count.min(1 << 16)).unwrap_or(0));
    let mut id = first;
    for _ in 0..count {
        id = id.wrapping_add(get_uvarint(pack, &mut pos).ok_or_else(corrupt)?);
        let len = usize::try_from(get_uvarint(pack, &mut pos).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        lens.push((id, pos, len));
    }
    // Starts were directory positions so far; the bytes begin where the directory ends.
    let mut start = pos;
    for entry in &mut lens {
        entry.1 = start;
        start = start.checked_add(entry.2).filter(|&end| end <= pack.len()).ok_or("pack ends early")?;
    }
    if start != pack.len() {
        return Err(format!("{} bytes after the pack's last chunk", pack.len() - start));
    }
    Ok(lens)
}

/// The chunks of `pack` (keyed with `first` as its first series), in order: `(series id,
/// bytes)`.
pub(crate) fn entries(first: u64, pack: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    Ok(index(first, pack)?.into_iter().map(|(id, start, len)| (id, &pack[start..start + len])).collect())
}

/// Calls `f(series id, first ts or i64::MIN when packed, chunk bytes)` for every chunk of
/// `partition`, packed or not, in (series, time) order: a series' packed chunks come before
/// its later ones in `tsdb_chunks`.
pub(crate) fn for_each_partition_chunk(
    packs: &impl ReadableTable<(i64, u64), &'static [u8]>,
    chunks: &impl ReadableTable<ChunkKey, &'static [u8]>,
    partition: i64,
    mut f: impl FnMut(u64, i64, &[u8]) -> Result<()>,
) -> Result<()> {
    let err = |source: redb::StorageError| Error::ReadData { what: "chunks", source: source.into() };
    let mut table = chunks.range(partition_range(partition)).map_err(err)?.peekable();
    // Feeds the chunks of `tsdb_chunks` of series before `id` (with `id` itself when
    // `including`).
    let mut drain = |id: u64, including: bool, f: &mut ChunkSink<'_>| -> Result<()> {
        let before = |key: ChunkKey| key.1 < id || (key.1 == id && including);
        // An error is taken too, to be reported.
        while let Some(entry) = table.next_if(|e| e.as_ref().map_or(true, |(key, _)| before(key.value()))) {
            let (key, value) = entry.map_err(err)?;
            let key = key.value();
            f(key.1, key.2, value.value())?;
        }
        Ok(())
    };
    for entry in packs.range(pack_range(partition)).map_err(err)? {
        let (key, value) = entry.map_err(err)?;
        let first = key.value().1;
        let corrupt =
            |reason| Error::CorruptChunk { series: first, start_ms: partition, reason: format!("pack: {reason}") };
        let mut last = None;
        for (id, chunk) in entries(first, value.value()).map_err(corrupt)? {
            if last != Some(id) {
                if let Some(previous) = last {
                    drain(previous, true, &mut f)?;
                }
                drain(id, false, &mut f)?;
                last = Some(id);
            }
            f(id, i64::MIN, chunk)?;
        }
        if let Some(previous) = last {
            drain(previous, true, &mut f)?;
        }
    }
    drain(u64::MAX, true, &mut f)
}

/// A pack being built: entries of series in increasing order (a series may have several),
/// and the keys of the rows they came from (`K`), for the caller to delete.
pub(crate) struct PackBuilder<K> {
    first: Option<u64>,
    last: u64,
    directory: Vec<u8>,
    bytes: Vec<u8>,
    count: u64,
    /// The keys of the rows it holds, to delete from their table.
    pub(crate) keys: Vec<K>,
}

impl<K> Default for PackBuilder<K> {
    fn default() -> Self {
        PackBuilder { first: None, last: 0, directory: Vec::new(), bytes: Vec::new(), count: 0, keys: Vec::new() }
    }
}

impl<K> PackBuilder<K> {
    /// Whether an entry of `len` bytes of another series still fits.
    pub(crate) fn fits(&self, len: usize) -> bool {
        // Directory: at most 10 bytes per varint, 2 per entry, and the count.
        self.first.is_none() || self.directory.len() + self.bytes.len() + len + 30 <= PACK_MAX_BYTES
    }

    /// The series of the entry pushed last.
    pub(crate) fn last_series(&self) -> Option<u64> {
        self.first.map(|_| self.last)
    }

    /// Appends an entry of series `id` (not below the last one's).
    pub(crate) fn push(&mut self, id: u64, entry: &[u8]) {
        let first = *self.first.get_or_insert(id);
        let previous = if self.count == 0 { first } else { self.last };
        put_uvarint(&mut self.directory, id - previous);
        put_uvarint(&mut self.directory, entry.len() as u64);
        self.bytes.extend_from_slice(entry);
        self.last = id;
        self.count += 1;
    }

    /// `(first series, pack bytes, keys)`, or `None` when empty.
    pub(crate) fn finish(self) -> Option<(u64, Vec<u8>, Vec<K>)> {
        let first = self.first?;
        let mut out = Vec::with_capacity(self.directory.len() + self.bytes.len() + 10);
        put_uvarint(&mut out, self.count);
        out.extend_from_slice(&self.directory);
        out.extend_from_slice(&self.bytes);
        Some((first, out, self.keys))
    }
}

/// Packs every partition whose samples are all sealed (it ends by the oldest unsealed
/// sample) and that is not packed yet, oldest first. Returns how many it packed.
pub(crate) fn pack_sealed(shared: &Shared, durability: Durability) -> Result<usize> {
    let sealed_before = shared.heads.lock().oldest_unsealed_ts().unwrap_or(i64::MAX);
    let mut packed = 0;
    for partition in shared.chunk_partitions.before(i64::MAX) {
        if partition.saturating_add(PARTITION_MS) > sealed_before {
            break;
        }
        if shared.pack_partitions.contains(partition) {
            continue;
        }
        pack_partition(shared, partition, durability)?;
        packed += 1;
    }
    Ok(packed)
}

/// Moves `partition`'s chunks into packs, [`PACKS_PER_TXN`] packs per transaction (each
/// moves its chunks whole, so a crash between two leaves every chunk in one table).
fn pack_partition(shared: &Shared, partition: i64, durability: Durability) -> Result<()> {
    let err = |source: redb::Error| Error::PackChunks { partition, source };
    // Noted first: a reader may look for packs that are not there yet, never miss one.
    shared.pack_partitions.add(partition);
    let txn = shared.db.begin_read().map_err(|e| err(e.into()))?;
    let chunks = txn.open_table(CHUNKS).map_err(|e| err(e.into()))?;
    let mut done: Vec<Pack> = Vec::new();
    let mut pack = PackBuilder::<ChunkKey>::default();
    let (mut packs, mut moved) = (0usize, 0usize);
    for entry in chunks.range(partition_range(partition)).map_err(|e| err(e.into()))? {
        let (key, value) = entry.map_err(|e| err(e.into()))?;
        let key = key.value();
        // A series' chunks stay in one pack.
        if pack.last_series() != Some(key.1) && !pack.fits(value.value().len()) {
            done.extend(std::mem::take(&mut pack).finish());
            if done.len() >= PACKS_PER_TXN {
                packs += done.len();
                moved += write_packs(shared, partition, &mut done, durability)?;
            }
        }
        pack.push(key.1, value.value());
        pack.keys.push(key);
    }
    done.extend(pack.finish());
    packs += done.len();
    moved += write_packs(shared, partition, &mut done, durability)?;
    // Every chunk of the partition is packed: only the sealer, whose thread this is, adds
    // chunks to the chunk table.
    shared.loose_partitions.remove(partition);
    debug!(partition_ms = partition, packs, chunks = moved, "tsdb packed a partition");
    Ok(())
}

/// Inserts `packs` and deletes the chunks they hold, in one transaction; returns how many
/// chunks moved.
fn write_packs(shared: &Shared, partition: i64, packs: &mut Vec<Pack>, durability: Durability) -> Result<usize> {
    if packs.is_empty() {
        return Ok(0);
    }
    let err = |source: redb::Error| Error::PackChunks { partition, source };
    let mut txn = shared.db.begin_write().map_err(|e| err(e.into()))?;
    if txn.set_durability(durability).is_err() {
        // A database shared between processes refuses non-durable commits.
        txn.set_durability(Durability::Immediate).map_err(|e| err(e.into()))?;
    }
    let mut moved = 0;
    (|| -> std::result::Result<(), redb::Error> {
        let mut table = txn.open_table(PACKS)?;
        let mut chunks = txn.open_table(CHUNKS)?;
        for (first, bytes, keys) in packs.drain(..) {
            table.insert((partition, first), bytes.as_slice())?;
            for key in keys {
                chunks.remove(key)?;
                moved += 1;
            }
        }
        Ok(())
    })()
    .map_err(err)?;
    txn.commit().map_err(|e| err(e.into()))?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_lists_its_series_chunks_in_order() {
        let mut builder = PackBuilder::default();
        let chunks: [(ChunkKey, &[u8]); 4] =
            [((0, 3, 1), b"abc"), ((0, 3, 9), b"de"), ((0, 7, 2), b""), ((0, 1000, 5), b"fghij")];
        for (key, chunk) in chunks {
            assert!(builder.fits(chunk.len()));
            builder.push(key.1, chunk);
            builder.keys.push(key);
        }
        let (first, pack, keys) = builder.finish().unwrap();
        assert_eq!((first, pack_count(&pack), keys.len()), (3, 4, 4));
        let all = entries(first, &pack).unwrap();
        assert_eq!(all, chunks.iter().map(|((_, id, _), c)| (*id, *c)).collect::<Vec<_>>());
        assert!(entries(first, &pack[..pack.len() - 1]).is_err());
        assert!(entries(first, &pack[..3]).is_err());
        // Full: another series' chunk starts a new pack.
        let mut full = PackBuilder::<ChunkKey>::default();
        full.push(1, &vec![0; PACK_MAX_BYTES - 100]);
        assert!(!full.fits(200));
    }
}
