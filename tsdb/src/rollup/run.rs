//! Stored rollup points: completed points are written once, in runs of consecutive buckets
//! keyed (series id, start of the run's first bucket), like chunks; the one bucket of a
//! series that may still grow (its "open" point) is kept apart in `tsdb_rollup_open` and is
//! the only thing rewritten as chunks are sealed. A 240-sample chunk at a 10 s interval
//! becomes one run of 40 minute points and at most one hour point.
//!
//! ```text
//! count uvarint | (last bucket start - first) / width uvarint |
//! per point: (start - previous start) / width uvarint (0 for the first) |
//!            length u8 | point (see codec.rs)
//! ```

use super::codec::{decode_point, encode_point};
use super::point::RollupPoint;
use super::tier::Tier;
use crate::codec::{get_uvarint, put_uvarint};

/// Most points a run may claim; more is corruption.
const MAX_RUN_POINTS: u64 = 1 << 20;

/// Encodes points (at least one, sorted by start, distinct starts) as a run.
pub(crate) fn encode_run(tier: Tier, points: &[RollupPoint], out: &mut Vec<u8>) {
    let width = tier.width_ms();
    let first = points.first().map_or(0, |p| p.start_ms);
    let last = points.last().map_or(0, |p| p.start_ms);
    put_uvarint(out, points.len() as u64);
    put_uvarint(out, (last.wrapping_sub(first) / width) as u64);
    out.reserve(points.len() * 48);
    let mut previous = first;
    for p in points {
        put_uvarint(out, (p.start_ms.wrapping_sub(previous) / width) as u64);
        previous = p.start_ms;
        // A point is at most 6 varints (10 bytes each), a 3-byte source map and 7 values:
        // under 128 bytes, so its length is one byte, filled in after it is written.
        let len_at = out.len();
        out.push(0);
        encode_point(p, out);
        let len = out.len() - len_at - 1;
        debug_assert!(len < 128, "a point of {len} bytes");
        out[len_at] = len as u8;
    }
}

/// The start of a run's last bucket, from its header.
pub(crate) fn run_last_start(tier: Tier, first_start: i64, data: &[u8]) -> Result<i64, String> {
    let mut pos = 0;
    get_uvarint(data, &mut pos).ok_or("run header ends early")?;
    let span = get_uvarint(data, &mut pos).ok_or("run header ends early")?;
    Ok(first_start.wrapping_add((span as i64).wrapping_mul(tier.width_ms())))
}

/// Decodes a run whose first bucket starts at `first_start`, appending its points to `out`.
pub(crate) fn decode_run(tier: Tier, first_start: i64, data: &[u8], out: &mut Vec<RollupPoint>) -> Result<(), String> {
    let truncated = || "run ends early".to_string();
    let mut pos = 0;
    let count = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    if count == 0 || count > MAX_RUN_POINTS || count > data.len() as u64 {
        return Err(format!("{count} points in {} bytes", data.len()));
    }
    let span = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    let mut start = first_start;
    for i in 0..count {
        let step = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
        if (i == 0) != (step == 0) {
            return Err(format!("point {i} steps {step} buckets"));
        }
        start = start.wrapping_add((step as i64).wrapping_mul(tier.width_ms()));
        let len = usize::from(*data.get(pos).ok_or_else(truncated)?);
        pos += 1;
        let bytes = data.get(pos..pos + len).ok_or_else(truncated)?;
        pos += len;
        out.push(decode_point(start, bytes).map_err(|e| format!("point {i}: {e}"))?);
    }
    if start.wrapping_sub(first_start) / tier.width_ms() != span as i64 {
        return Err("the last point disagrees with the header".to_string());
    }
    if pos != data.len() {
        return Err(format!("{} trailing bytes", data.len() - pos));
    }
    Ok(())
}

/// Encodes one point on its own (the open point of a series), its bucket start included.
pub(crate) fn encode_open(p: &RollupPoint, out: &mut Vec<u8>) {
    out.extend_from_slice(&p.start_ms.to_le_bytes());
    encode_point(p, out);
}

/// Decodes a point written by [`encode_open`].
pub(crate) fn decode_open(data: &[u8]) -> Result<RollupPoint, String> {
    let start: [u8; 8] = data.get(..8).and_then(|b| b.try_into().ok()).ok_or("open point ends early")?;
    decode_point(i64::from_le_bytes(start), &data[8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_and_corruption_is_an_error() {
        let mut a = RollupPoint::new(Tier::Minute, 120_000, 1.0);
        a.push(130_000, 2.0);
        let b = RollupPoint::new(Tier::Minute, 180_000, -3.0);
        let c = RollupPoint::new(Tier::Minute, 600_000, f64::NAN);
        let mut buf = Vec::new();
        encode_run(Tier::Minute, &[a, b, c], &mut buf);
        assert_eq!(run_last_start(Tier::Minute, 120_000, &buf), Ok(600_000));
        let mut out = Vec::new();
        decode_run(Tier::Minute, 120_000, &buf, &mut out).unwrap();
        assert_eq!(format!("{out:?}"), format!("{:?}", [a, b, c]));
        for cut in 0..buf.len() {
            assert!(decode_run(Tier::Minute, 120_000, &buf[..cut], &mut Vec::new()).is_err());
        }
        let mut open = Vec::new();
        encode_open(&a, &mut open);
        assert_eq!(decode_open(&open).unwrap(), a);
        assert!(decode_open(&open[..5]).is_err());
    }
}
