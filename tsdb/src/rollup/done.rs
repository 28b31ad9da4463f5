//! Which partitions have their rollup runs materialized, per tier: the in-memory copy of
//! `tsdb_rollup_done`, and from it the time before which a tier answers exactly what the raw
//! samples do.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use redb::{ReadableTable, StorageError};

use super::tier::Tier;

/// Partition start -> tier mask (bit [`Tier::index`]) of the runs materialized from every
/// chunk the partition holds.
#[derive(Debug, Default)]
pub(crate) struct Materialized(RwLock<BTreeMap<i64, u8>>);

/// The bit of `tier` in a mask.
pub(crate) const fn tier_bit(tier: Tier) -> u8 {
    1 << tier.index()
}

impl Materialized {
    /// The entries of `table` (`tsdb_rollup_done`).
    pub(crate) fn load(table: &impl ReadableTable<i64, u8>) -> Result<Materialized, StorageError> {
        let mut map = BTreeMap::new();
        for entry in table.iter()? {
            let (partition, mask) = entry?;
            map.insert(partition.value(), mask.value());
        }
        Ok(Materialized(RwLock::new(map)))
    }

    /// The tiers materialized for `partition`.
    pub(crate) fn mask(&self, partition: i64) -> u8 {
        self.0.read().get(&partition).copied().unwrap_or(0)
    }

    /// Records `partition`'s materialized tiers (after the commit that wrote them).
    pub(crate) fn set(&self, partition: i64, mask: u8) {
        self.0.write().insert(partition, mask);
    }

    /// Forgets `partition`'s runs as complete (after the commit that added a chunk to it).
    pub(crate) fn unset(&self, partition: i64) {
        self.0.write().remove(&partition);
    }

    /// Forgets every partition before `bound` (their chunks are deleted).
    pub(crate) fn forget_before(&self, bound: i64) {
        let mut map = self.0.write();
        *map = map.split_off(&bound);
    }

    /// The first of `partitions` (sorted) not materialized for every tier of `mask`; `None`
    /// when all are.
    pub(crate) fn first_missing(&self, partitions: &[i64], mask: u8) -> Option<i64> {
        let map = self.0.read();
        partitions.iter().copied().find(|p| map.get(p).is_none_or(|m| m & mask != mask))
    }
}

/// The time before which `tier`'s buckets hold exactly the samples a raw read returns: the
/// start of the oldest partition holding chunks whose runs are not materialized, the bucket
/// of the oldest unsealed sample, or the bucket after the newest sample ever stored
/// (`newest`), whichever comes first (`i64::MIN` before any sample).
pub(crate) fn complete_before(
    tier: Tier,
    done: &Materialized,
    chunk_partitions: &[i64],
    oldest_unsealed: Option<i64>,
    newest: i64,
) -> i64 {
    if newest == i64::MIN {
        return i64::MIN;
    }
    let missing = done.first_missing(chunk_partitions, tier_bit(tier)).unwrap_or(i64::MAX);
    // A later sample may still fall in the newest sample's bucket.
    let bound = missing.min(tier.bucket_start(newest.saturating_add(1)));
    oldest_unsealed.map_or(bound, |ts| bound.min(tier.bucket_start(ts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_is_complete_up_to_its_first_missing_partition_or_unsealed_bucket() {
        let done = Materialized::default();
        let (p0, p1, p2) = (0, 7_200_000, 14_400_000);
        let parts = [p0, p1, p2];
        let newest = p2 + 5_400_000;
        assert_eq!(complete_before(Tier::Minute, &done, &parts, None, i64::MIN), i64::MIN);
        assert_eq!(complete_before(Tier::Minute, &done, &parts, None, newest), p0);
        done.set(p0, tier_bit(Tier::Minute) | tier_bit(Tier::Hour));
        done.set(p1, tier_bit(Tier::Hour));
        assert_eq!(complete_before(Tier::Minute, &done, &parts, None, newest), p1);
        assert_eq!(complete_before(Tier::Hour, &done, &parts, None, newest), p2);
        assert_eq!(complete_before(Tier::Hour, &done, &parts, Some(p1 + 90_000), newest), p1);
        assert_eq!(complete_before(Tier::Minute, &done, &parts, Some(p0 + 90_000), newest), p0 + 60_000);
        assert_eq!(done.first_missing(&parts, tier_bit(Tier::Hour)), Some(p2));
        done.set(p2, tier_bit(Tier::Hour));
        // All materialized: complete up to the newest sample's bucket, which may still grow.
        assert_eq!(complete_before(Tier::Hour, &done, &parts, None, newest), p2 + 3_600_000);
        assert_eq!(complete_before(Tier::Hour, &done, &parts, None, p2 + 3_599_999), p2 + 3_600_000);
        done.unset(p1);
        assert_eq!(complete_before(Tier::Hour, &done, &parts, None, newest), p1);
        done.forget_before(p2);
        assert_eq!((done.mask(p0), done.mask(p2)), (0, tier_bit(Tier::Hour)));
    }
}
