//! Time partitions: the chunk and rollup tables are keyed by (partition, series, time), so
//! that what one sealing round writes (every series' chunk of the same two hours) lands at
//! the end of the table in key order, where redb packs it into full leaves with one cursor,
//! instead of one insert in the middle of every series' key range, each splitting a leaf.
//!
//! A partition is [`PARTITION_MS`] wide and starts at a multiple of it. Head chunks are cut
//! at partition boundaries and rollup runs split there, so every stored chunk and run lies
//! within one partition: a read walks the partitions its range covers, retention deletes a
//! partition whole once all of it is past the cutoff.

use std::collections::BTreeSet;

use parking_lot::RwLock;
use std::ops::Bound;

use redb::{ReadableTable, StorageError, Table};

use crate::schema::DataKey;

/// The width of a partition: 2 hours, like Prometheus's head blocks. A multiple of every
/// rollup tier's width, so no bucket straddles two partitions.
pub(crate) const PARTITION_MS: i64 = 2 * 3_600_000;

/// The start of the partition holding `ts` (saturating at the far ends of time).
pub(crate) const fn partition_of(ts: i64) -> i64 {
    ts.saturating_sub(ts.rem_euclid(PARTITION_MS))
}

/// The partitions a table holds, kept in memory (loaded at open, a seek per partition) so that
/// a read visits only partitions that exist. A writer adds a partition before its commit and
/// retention removes one after its commit: a reader may look into an empty partition, never
/// miss a full one.
///
/// A set has the width of its table's partitions: [`PARTITION_MS`] but for the 1-hour runs'
/// (see [`crate::Tier::partition_ms`]).
#[derive(Debug)]
pub(crate) struct PartitionSet(RwLock<BTreeSet<i64>>, i64);

impl Default for PartitionSet {
    fn default() -> Self {
        PartitionSet(RwLock::default(), PARTITION_MS)
    }
}

impl PartitionSet {
    /// The same set, of partitions `width_ms` wide.
    pub(crate) fn with_width(self, width_ms: i64) -> PartitionSet {
        PartitionSet(self.0, width_ms)
    }

    /// The width of the set's partitions.
    pub(crate) fn width_ms(&self) -> i64 {
        self.1
    }

    /// The start of the set's partition holding `ts`.
    pub(crate) fn partition_of(&self, ts: i64) -> i64 {
        ts.saturating_sub(ts.rem_euclid(self.1))
    }

    /// The partitions of `table`.
    pub(crate) fn load(table: &impl ReadableTable<DataKey, &'static [u8]>) -> Result<PartitionSet, StorageError> {
        let mut set = BTreeSet::new();
        let mut from = i64::MIN;
        loop {
            let Some(entry) = table.range((from, 0, i64::MIN)..)?.next() else { break };
            let partition = entry?.0.value().0;
            set.insert(partition);
            // The narrowest width: a table may hold partitions of a narrower width than its
            // set's, written by an older build.
            match partition.checked_add(PARTITION_MS) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(PartitionSet(RwLock::new(set), PARTITION_MS))
    }

    /// A set of these partitions.
    pub(crate) fn from_set(set: BTreeSet<i64>) -> PartitionSet {
        PartitionSet(RwLock::new(set), PARTITION_MS)
    }

    /// Whether `partition` is in the set.
    pub(crate) fn contains(&self, partition: i64) -> bool {
        self.0.read().contains(&partition)
    }

    /// Notes that `partition` holds (or is about to hold) data.
    pub(crate) fn add(&self, partition: i64) {
        if !self.0.read().contains(&partition) {
            self.0.write().insert(partition);
        }
    }

    /// Forgets `partition`, which holds nothing anymore.
    pub(crate) fn remove(&self, partition: i64) {
        self.0.write().remove(&partition);
    }

    /// The partitions that may hold data of `start..=end`, oldest first (and any narrower
    /// ones an older build wrote there).
    pub(crate) fn within(&self, start: i64, end: i64) -> Vec<i64> {
        if start > end {
            return Vec::new();
        }
        self.0.read().range(self.partition_of(start)..=end).copied().collect()
    }

    /// The oldest partition.
    pub(crate) fn first(&self) -> Option<i64> {
        self.0.read().first().copied()
    }

    /// The partitions starting before `bound`, oldest first.
    pub(crate) fn before(&self, bound: i64) -> Vec<i64> {
        self.0.read().range(..bound).copied().collect()
    }
}

/// Inserts `rows` (sorted here) into `table`, noting their partitions in `partitions` first.
/// The rows after the table's last key, which a sealing round's are once its partition is
/// the newest, go in through one cursor at the end of the table, which redb packs into full
/// leaves; the others are plain inserts (replacing a stored value of the same key).
pub(crate) fn insert_sorted(
    table: &mut Table<'_, DataKey, &'static [u8]>,
    rows: &mut Vec<(DataKey, &[u8])>,
    partitions: &PartitionSet,
) -> Result<(), redb::Error> {
    rows.sort_by_key(|(key, _)| *key);
    // The later of two rows of one key wins, as with plain inserts.
    rows.reverse();
    rows.dedup_by_key(|(key, _)| *key);
    rows.reverse();
    for (key, _) in rows.iter() {
        partitions.add(key.0);
    }
    let last = table.last()?.map(|(key, _)| key.value());
    let appended = rows.partition_point(|(key, _)| last.is_some_and(|last| *key <= last));
    for (key, value) in &rows[..appended] {
        table.insert(*key, *value)?;
    }
    if appended < rows.len() {
        let mut cursor = table.upper_bound_mut(Bound::<DataKey>::Unbounded)?;
        for (key, value) in &rows[appended..] {
            cursor.insert_before(*key, *value)?;
        }
        cursor.close()?;
    }
    Ok(())
}

/// The key range of a whole partition.
pub(crate) fn partition_range(partition: i64) -> std::ops::RangeInclusive<DataKey> {
    (partition, 0, i64::MIN)..=(partition, u64::MAX, i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_a_range_and_bound_every_tier() {
        assert_eq!(partition_of(PARTITION_MS + 5), PARTITION_MS);
        assert_eq!(partition_of(-1), -PARTITION_MS);
        assert_eq!(partition_of(i64::MIN), i64::MIN);
        let set = PartitionSet::default();
        for p in [-PARTITION_MS, 0, 3 * PARTITION_MS] {
            set.add(p);
        }
        assert_eq!(set.within(-1, PARTITION_MS), [-PARTITION_MS, 0]);
        assert_eq!(set.within(i64::MIN, i64::MAX), [-PARTITION_MS, 0, 3 * PARTITION_MS]);
        assert_eq!(set.within(6, 5), Vec::<i64>::new());
        assert_eq!(set.before(0), [-PARTITION_MS]);
        set.remove(0);
        assert_eq!(set.within(0, 0), Vec::<i64>::new());
        for tier in crate::rollup::Tier::ALL {
            assert_eq!(PARTITION_MS % tier.width_ms(), 0);
        }
    }

    #[test]
    fn sorted_inserts_append_replace_and_note_their_partitions() {
        use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let set = PartitionSet::default();
        let value = [7u8; 200];
        let write = |rows: &mut Vec<(DataKey, &[u8])>| {
            let txn = db.begin_write().unwrap();
            insert_sorted(&mut txn.open_table(crate::schema::CHUNKS).unwrap(), rows, &set).unwrap();
            txn.commit().unwrap();
        };
        // Rounds of every series' chunk of the newest partition, given out of order.
        for round in 0..40i64 {
            let p = round * PARTITION_MS;
            let mut rows: Vec<(DataKey, &[u8])> = (0..100u64).rev().map(|s| ((p, s, p + 1), &value[..])).collect();
            write(&mut rows);
        }
        // A late chunk of an old partition, and a key written again.
        write(&mut vec![((PARTITION_MS, 5, PARTITION_MS + 9), &value[..50]), ((0, 3, 1), &value[..10])]);
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(crate::schema::CHUNKS).unwrap();
        assert_eq!(table.len().unwrap(), 4001);
        assert_eq!(table.get((0, 3, 1)).unwrap().unwrap().value().len(), 10);
        let stats = table.stats().unwrap();
        let fill = stats.stored_bytes() as f64 / (stats.leaf_pages() * 4096) as f64;
        assert!(fill > 0.85, "leaves {fill:.2} full");
        assert_eq!(PartitionSet::load(&table).unwrap().within(i64::MIN, i64::MAX), set.within(i64::MIN, i64::MAX));
        assert_eq!(set.within(0, i64::MAX).len(), 40);
    }
}
