//! The stored form of a [`RollupPoint`]: varints for counts and times relative to the bucket,
//! and each value after the first either written or named as equal to an earlier one
//! (counters have `min == first_v`, `max == last_v`, no correction: three values saved).
//!
//! ```text
//! count uvarint | first_ts - start zigzag | last_ts - first_ts zigzag |
//! last_ts - prev_last_ts zigzag | resets uvarint | changes uvarint |
//! sources uvarint (3 bits per value below) | first_v 8 bytes LE |
//! for last_v, prev_last_v, min, max, sum, counter_correction: 8 bytes LE when source is 0
//! ```

use super::point::RollupPoint;
use crate::codec::{get_uvarint, get_zigzag, put_uvarint, put_zigzag};

/// Where a value comes from: written (0), or equal to first_v (1), last_v (2),
/// prev_last_v (3), or +0.0 (4).
const SOURCE_BITS: u32 = 3;

/// Encodes a point. Allocation-free: the sealer encodes one point per 6 samples at a 10 s
/// interval.
pub(crate) fn encode_point(p: &RollupPoint, out: &mut Vec<u8>) {
    put_uvarint(out, p.count);
    put_zigzag(out, p.first_ts.wrapping_sub(p.start_ms));
    put_zigzag(out, p.last_ts.wrapping_sub(p.first_ts));
    put_zigzag(out, p.last_ts.wrapping_sub(p.prev_last_ts));
    put_uvarint(out, p.resets);
    put_uvarint(out, p.changes);
    let fields = [p.last_v, p.prev_last_v, p.min, p.max, p.sum, p.counter_correction].map(f64::to_bits);
    // first_v, then last_v and prev_last_v once known, can be named.
    let mut known = [p.first_v.to_bits(), 0, 0];
    let mut sources = 0u64;
    let mut written = [0u64; 6];
    let mut n_written = 0;
    for (i, &bits) in fields.iter().enumerate() {
        let n_known = (i + 1).min(3);
        let source =
            known[..n_known].iter().position(|&k| k == bits).map(|k| k as u64 + 1).or((bits == 0).then_some(4));
        match source {
            Some(s) => sources |= s << (SOURCE_BITS * i as u32),
            None => {
                written[n_written] = bits;
                n_written += 1;
            }
        }
        if i < 2 {
            known[i + 1] = bits;
        }
    }
    put_uvarint(out, sources);
    out.extend_from_slice(&p.first_v.to_bits().to_le_bytes());
    for bits in &written[..n_written] {
        out.extend_from_slice(&bits.to_le_bytes());
    }
}

/// Decodes a point of the bucket starting at `start_ms`.
pub(crate) fn decode_point(start_ms: i64, data: &[u8]) -> Result<RollupPoint, String> {
    let truncated = || "point ends early".to_string();
    let mut pos = 0;
    let count = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    if count == 0 {
        return Err("point of zero samples".to_string());
    }
    let first_ts = start_ms.wrapping_add(get_zigzag(data, &mut pos).ok_or_else(truncated)?);
    let last_ts = first_ts.wrapping_add(get_zigzag(data, &mut pos).ok_or_else(truncated)?);
    let prev_last_ts = last_ts.wrapping_sub(get_zigzag(data, &mut pos).ok_or_else(truncated)?);
    let resets = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    let changes = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    let sources = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    let read_f64 = |pos: &mut usize| -> Result<u64, String> {
        let raw: [u8; 8] = data.get(*pos..*pos + 8).and_then(|b| b.try_into().ok()).ok_or_else(truncated)?;
        *pos += 8;
        Ok(u64::from_le_bytes(raw))
    };
    let mut known = [read_f64(&mut pos)?, 0, 0];
    let mut fields = [0u64; 6];
    for (i, field) in fields.iter_mut().enumerate() {
        let n_known = (i + 1).min(3);
        let source = (sources >> (SOURCE_BITS * i as u32)) & 0b111;
        *field = match source {
            0 => read_f64(&mut pos)?,
            4 => 0,
            s if (s as usize) <= n_known => known[s as usize - 1],
            s => return Err(format!("value {i} refers to unknown source {s}")),
        };
        if i < 2 {
            known[i + 1] = *field;
        }
    }
    if pos != data.len() {
        return Err(format!("{} trailing bytes", data.len() - pos));
    }
    let [last, prev_last, min, max, sum, correction] = fields.map(f64::from_bits);
    Ok(RollupPoint {
        start_ms,
        count,
        sum,
        min,
        max,
        first_ts,
        first_v: f64::from_bits(known[0]),
        last_ts,
        last_v: last,
        prev_last_ts,
        prev_last_v: prev_last,
        counter_correction: correction,
        resets,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::Tier;

    fn round_trip(p: &RollupPoint) -> usize {
        let mut buf = Vec::new();
        encode_point(p, &mut buf);
        let back = decode_point(p.start_ms, &buf).unwrap();
        assert_eq!(format!("{back:?}"), format!("{p:?}"));
        buf.len()
    }

    #[test]
    fn counters_store_four_values_and_gauges_round_trip() {
        let mut counter = RollupPoint::new(Tier::Minute, 60_000, 100.5);
        for (t, v) in [(70_000, 101.25), (80_000, 102.0), (90_000, 104.0)] {
            counter.push(t, v);
        }
        // first, last, prev_last and sum written; min, max and correction named.
        let n = round_trip(&counter);
        assert!(n <= 13 + 4 * 8, "{n} bytes");
        let mut gauge = RollupPoint::new(Tier::Minute, 0, -0.0);
        gauge.push(1, f64::NAN);
        gauge.push(2, 5.0);
        gauge.push(3, 1.0);
        round_trip(&gauge);
        round_trip(&RollupPoint::new(Tier::Hour, i64::MIN, f64::INFINITY));
    }

    #[test]
    fn corrupt_points_are_errors() {
        let mut buf = Vec::new();
        encode_point(&RollupPoint::new(Tier::Minute, 0, 3.5), &mut buf);
        for cut in 0..buf.len() {
            assert!(decode_point(0, &buf[..cut]).is_err());
        }
        buf.push(0);
        assert!(decode_point(0, &buf).is_err());
        assert!(decode_point(0, &[1, 0, 0, 0, 0, 0, 0o7]).is_err());
    }
}
