//! Rollup points are stored in blocks: one row per series and block (an hour of 1-minute
//! points, a day of 1-hour points), keyed (series id, block start). A sealed chunk of 240
//! samples at a 10 s interval then updates one or two minute rows instead of forty, which
//! keeps the sealer's transactions short and the table small.
//!
//! ```text
//! count uvarint | per point, by start: bucket index in the block uvarint | length uvarint |
//! point (see codec.rs)
//! ```

use redb::{ReadableTable as _, Table};
use tracing::warn;

use super::codec::{decode_point, encode_point};
use super::point::RollupPoint;
use super::tier::Tier;
use crate::codec::{get_uvarint, put_uvarint};

/// Encodes points (sorted by start, all in the block starting at `block_start`).
pub(crate) fn encode_block(tier: Tier, block_start: i64, points: &[RollupPoint], out: &mut Vec<u8>) {
    put_uvarint(out, points.len() as u64);
    let mut point = Vec::with_capacity(64);
    for p in points {
        put_uvarint(out, (p.start_ms.wrapping_sub(block_start) / tier.width_ms()) as u64);
        point.clear();
        encode_point(p, &mut point);
        put_uvarint(out, point.len() as u64);
        out.extend_from_slice(&point);
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

/// Read-modify-write of one series' blocks inside a write transaction: loads a block on
/// first touch, and writes it back when the next block is touched or on [`BlockEditor::finish`].
pub(crate) struct BlockEditor<'a, 't> {
    table: &'a mut Table<'t, (u64, i64), &'static [u8]>,
    tier: Tier,
    series: u64,
    current: Option<(i64, Vec<RollupPoint>)>,
    buf: Vec<u8>,
}

impl<'a, 't> BlockEditor<'a, 't> {
    /// An editor of series `series` in `table`, the table of `tier`.
    pub(crate) fn new(table: &'a mut Table<'t, (u64, i64), &'static [u8]>, tier: Tier, series: u64) -> Self {
        BlockEditor { table, tier, series, current: None, buf: Vec::new() }
    }

    /// The block holding bucket `bucket_start`, loaded (and the previous one written back)
    /// if needed.
    fn block(&mut self, bucket_start: i64) -> Result<&mut Vec<RollupPoint>, redb::Error> {
        let key = self.tier.block_start(bucket_start);
        if self.current.as_ref().is_none_or(|(k, _)| *k != key) {
            self.flush()?;
            let points = match self.table.get((self.series, key))? {
                None => Vec::new(),
                Some(stored) => match decode_block(self.tier, key, stored.value()) {
                    Ok(points) => points,
                    Err(reason) => {
                        warn!(series = self.series, tier = %self.tier, start_ms = key, reason, "corrupt rollup block replaced");
                        Vec::new()
                    }
                },
            };
            self.current = Some((key, points));
        }
        match &mut self.current {
            Some((_, points)) => Ok(points),
            None => Err(redb::Error::Corrupted("rollup block vanished while editing".to_string())),
        }
    }

    /// Removes and returns the stored point of bucket `bucket_start`.
    pub(crate) fn take(&mut self, bucket_start: i64) -> Result<Option<RollupPoint>, redb::Error> {
        let points = self.block(bucket_start)?;
        Ok(points.iter().position(|p| p.start_ms == bucket_start).map(|i| points.remove(i)))
    }

    /// Stores `point`, replacing the stored point of its bucket.
    pub(crate) fn put(&mut self, point: RollupPoint) -> Result<(), redb::Error> {
        let points = self.block(point.start_ms)?;
        match points.binary_search_by_key(&point.start_ms, |p| p.start_ms) {
            Ok(i) => points[i] = point,
            Err(i) => points.insert(i, point),
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), redb::Error> {
        if let Some((key, points)) = self.current.take() {
            self.buf.clear();
            encode_block(self.tier, key, &points, &mut self.buf);
            self.table.insert((self.series, key), self.buf.as_slice())?;
        }
        Ok(())
    }

    /// Writes back the block being edited.
    pub(crate) fn finish(mut self) -> Result<(), redb::Error> {
        self.flush()
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
