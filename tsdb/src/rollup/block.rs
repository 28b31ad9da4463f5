//! Rollup points are stored in blocks: one row per series and block (an hour of 1-minute
//! points, a day of 1-hour points), keyed (series id, block start). A sealed chunk of 240
//! samples at a 10 s interval then updates one or two minute rows instead of forty, which
//! keeps the sealer's transactions short and the table small.
//!
//! ```text
//! count uvarint | per point, by start: bucket index in the block uvarint | length uvarint |
//! point (see codec.rs)
//! ```

use rustc_hash::FxHashMap;
use tracing::warn;

use super::codec::{decode_point, encode_point};
use super::point::RollupPoint;
use super::tier::Tier;
use crate::codec::{get_uvarint, put_uvarint};

/// Encodes points (sorted by start, all in the block starting at `block_start`).
pub(crate) fn encode_block(tier: Tier, block_start: i64, points: &[RollupPoint], out: &mut Vec<u8>) {
    put_uvarint(out, points.len() as u64);
    out.reserve(points.len() * 64);
    for p in points {
        put_uvarint(out, (p.start_ms.wrapping_sub(block_start) / tier.width_ms()) as u64);
        // A point is at most 6 varints (10 bytes each) and 7 values: its length fits in one
        // byte; the byte is written first and filled in after.
        let len_at = out.len();
        out.push(0);
        encode_point(p, out);
        let len = out.len() - len_at - 1;
        debug_assert!(len < 128, "a point of {len} bytes");
        out[len_at] = len as u8;
    }
}

/// Decodes a block's points, sorted by start.
pub(crate) fn decode_block(tier: Tier, block_start: i64, data: &[u8]) -> Result<Vec<RollupPoint>, String> {
    let truncated = || "block ends early".to_string();
    let mut pos = 0;
    let count = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    let per_block = (tier.block_ms() / tier.width_ms()) as u64;
    if count > per_block {
        return Err(format!("{count} points in a block of {per_block}"));
    }
    let mut points = Vec::with_capacity(count as usize);
    let mut last_index = None;
    for _ in 0..count {
        let index = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
        if index >= per_block || last_index.is_some_and(|last| index <= last) {
            return Err(format!("bucket index {index} out of order or range"));
        }
        last_index = Some(index);
        let len = get_uvarint(data, &mut pos).ok_or_else(truncated)? as usize;
        let bytes = data.get(pos..pos.saturating_add(len)).ok_or_else(truncated)?;
        pos += len;
        let start = block_start.wrapping_add(index as i64 * tier.width_ms());
        points.push(decode_point(start, bytes).map_err(|e| format!("bucket {index}: {e}"))?);
    }
    if pos != data.len() {
        return Err(format!("{} trailing bytes", data.len() - pos));
    }
    Ok(points)
}

/// Blocks being changed, staged in memory: loaded once (from a read snapshot or a write
/// transaction), changed point by point, encoded once at the end. The sealer stages a whole
/// round's rollups before it takes the write lock, so the lock is held for inserts only.
#[derive(Debug, Default)]
pub(crate) struct BlockStage {
    blocks: FxHashMap<(Tier, u64, i64), Vec<RollupPoint>>,
}

/// Reads one stored block's bytes: `(series, block start) -> bytes`.
pub(crate) type BlockSource<'s> = dyn FnMut(Tier, u64, i64) -> Result<Option<Vec<u8>>, redb::Error> + 's;

impl BlockStage {
    /// An empty stage.
    pub(crate) fn new() -> BlockStage {
        BlockStage::default()
    }

    fn block(
        &mut self,
        source: &mut BlockSource<'_>,
        tier: Tier,
        series: u64,
        bucket_start: i64,
    ) -> Result<&mut Vec<RollupPoint>, redb::Error> {
        let key = (tier, series, tier.block_start(bucket_start));
        let points = match self.blocks.entry(key) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let points = match source(tier, series, key.2)? {
                    None => Vec::new(),
                    Some(bytes) => decode_block(tier, key.2, &bytes).unwrap_or_else(|reason| {
                        warn!(series, tier = %tier, start_ms = key.2, reason, "corrupt rollup block replaced");
                        Vec::new()
                    }),
                };
                entry.insert(points)
            }
        };
        Ok(points)
    }

    /// Removes and returns the stored point of series `series`' bucket `bucket_start`.
    pub(crate) fn take(
        &mut self,
        source: &mut BlockSource<'_>,
        tier: Tier,
        series: u64,
        bucket_start: i64,
    ) -> Result<Option<RollupPoint>, redb::Error> {
        let points = self.block(source, tier, series, bucket_start)?;
        Ok(points.iter().position(|p| p.start_ms == bucket_start).map(|i| points.remove(i)))
    }

    /// Stores `point` of series `series`, replacing the point of its bucket.
    pub(crate) fn put(
        &mut self,
        source: &mut BlockSource<'_>,
        tier: Tier,
        series: u64,
        point: RollupPoint,
    ) -> Result<(), redb::Error> {
        let points = self.block(source, tier, series, point.start_ms)?;
        match points.binary_search_by_key(&point.start_ms, |p| p.start_ms) {
            Ok(i) => points[i] = point,
            Err(i) => points.insert(i, point),
        }
        Ok(())
    }

    /// Every staged block, encoded: `(tier, series, block start, bytes)`.
    pub(crate) fn encode(self) -> Vec<(Tier, u64, i64, Vec<u8>)> {
        self.blocks
            .into_iter()
            .map(|((tier, series, start), points)| {
                let mut bytes = Vec::with_capacity(points.len() * 48 + 4);
                encode_block(tier, start, &points, &mut bytes);
                (tier, series, start, bytes)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_refuse_disorder() {
        let mut a = RollupPoint::new(Tier::Minute, 3_600_000 + 60_000, 1.0);
        a.push(3_600_000 + 70_000, 2.0);
        let b = RollupPoint::new(Tier::Minute, 3_600_000 + 59 * 60_000 + 5, -3.0);
        let mut buf = Vec::new();
        encode_block(Tier::Minute, 3_600_000, &[a, b], &mut buf);
        assert_eq!(decode_block(Tier::Minute, 3_600_000, &buf).unwrap(), [a, b]);
        let mut swapped = Vec::new();
        encode_block(Tier::Minute, 3_600_000, &[b, a], &mut swapped);
        assert!(decode_block(Tier::Minute, 3_600_000, &swapped).is_err());
        for cut in 0..buf.len() {
            assert!(decode_block(Tier::Minute, 3_600_000, &buf[..cut]).is_err());
        }
        assert!(decode_block(Tier::Minute, 0, &[61]).is_err());
    }
}
