//! Gorilla's two streams (Pelkonen et al., VLDB 2015): timestamps as delta-of-delta in
//! variable-length buckets, values as the XOR with the previous value, with the leading and
//! trailing zero window reused when the new XOR fits in it.
//!
//! The timestamp stream holds no first timestamp (the chunk header and the head keep it); the
//! value stream starts with the first value's 64 bits. All arithmetic wraps, so every i64
//! timestamp sequence and every f64 bit pattern round-trips exactly.

use super::bits::{BitReader, BitWriter};

/// Delta-of-delta buckets after the `0` for "same delta": the payload width of prefixes
/// `10`, `110`, `1110` and `1111`. Sized for millisecond timestamps: scrape jitter fits in 7
/// bits, interval changes of a few seconds in 14, and anything else in 24 or 64.
const DOD_WIDTHS: [u32; 4] = [7, 14, 24, 64];

/// No leading/trailing window yet.
const NO_WINDOW: u8 = u8::MAX;

/// Appends samples to Gorilla timestamp and value streams.
#[derive(Debug, Clone)]
pub(crate) struct GorillaEncoder {
    ts: BitWriter,
    values: BitWriter,
    count: u32,
    first_ts: i64,
    last_ts: i64,
    last_delta: i64,
    last_bits: u64,
    leading: u8,
    trailing: u8,
}

impl Default for GorillaEncoder {
    fn default() -> Self {
        GorillaEncoder::new()
    }
}

impl GorillaEncoder {
    /// An empty encoder.
    pub(crate) fn new() -> GorillaEncoder {
        GorillaEncoder {
            ts: BitWriter::new(),
            values: BitWriter::new(),
            count: 0,
            first_ts: 0,
            last_ts: 0,
            last_delta: 0,
            last_bits: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Appends one sample. Timestamps are expected in increasing order but any sequence
    /// round-trips.
    #[inline]
    pub(crate) fn append(&mut self, ts: i64, value: f64) {
        let bits = value.to_bits();
        if self.count == 0 {
            self.first_ts = ts;
            self.values.write_bits(bits, 64);
        } else {
            let delta = ts.wrapping_sub(self.last_ts);
            write_dod(&mut self.ts, delta.wrapping_sub(self.last_delta));
            self.last_delta = delta;
            self.write_xor(bits ^ self.last_bits);
        }
        self.last_ts = ts;
        self.last_bits = bits;
        self.count += 1;
    }

    #[inline]
    fn write_xor(&mut self, xor: u64) {
        if xor == 0 {
            self.values.write_bit(false);
            return;
        }
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        if self.leading != NO_WINDOW && leading >= u32::from(self.leading) && trailing >= u32::from(self.trailing) {
            let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.values.write_bits(0b10, 2);
            self.values.write_bits(xor >> self.trailing, significant);
        } else {
            let significant = 64 - leading - trailing;
            self.values.write_bits(0b11, 2);
            self.values.write_bits(u64::from(leading), 5);
            // 64 significant bits are written as 0: 6 bits cannot hold 64, and 0 never occurs.
            self.values.write_bits(u64::from(significant & 63), 6);
            self.values.write_bits(xor >> trailing, significant);
            self.leading = leading as u8;
            self.trailing = trailing as u8;
        }
    }

    /// How many samples were appended.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The first timestamp (meaningless while empty).
    pub(crate) fn first_ts(&self) -> i64 {
        self.first_ts
    }

    /// The last timestamp (meaningless while empty).
    pub(crate) fn last_ts(&self) -> i64 {
        self.last_ts
    }

    /// The last value's bits (meaningless while empty).
    pub(crate) fn last_bits(&self) -> u64 {
        self.last_bits
    }

    /// Copies of both streams so far, leaving the encoder usable.
    pub(crate) fn snapshot(&self) -> GorillaStreams {
        GorillaStreams {
            ts: self.ts.snapshot(),
            values: self.values.snapshot(),
            first_ts: self.first_ts,
            count: self.count,
        }
    }

    /// Both streams.
    pub(crate) fn finish(self) -> GorillaStreams {
        GorillaStreams {
            ts: self.ts.finish(),
            values: self.values.finish(),
            first_ts: self.first_ts,
            count: self.count,
        }
    }

    /// Bytes held, for memory accounting.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.ts.capacity_bytes() + self.values.capacity_bytes() + std::mem::size_of::<Self>()
    }
}

/// The XOR stream of `values` alone (no timestamps), as [`decode_gorilla_values`] reads it.
pub(crate) fn encode_xor_values(values: &[f64]) -> Vec<u8> {
    let mut encoder = GorillaEncoder::new();
    for (i, &v) in values.iter().enumerate() {
        let bits = v.to_bits();
        if i == 0 {
            encoder.values.write_bits(bits, 64);
        } else {
            encoder.write_xor(bits ^ encoder.last_bits);
        }
        encoder.last_bits = bits;
    }
    encoder.values.finish()
}

/// The finished (or snapshotted) streams of a [`GorillaEncoder`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GorillaStreams {
    /// Delta-of-delta stream of every timestamp after the first.
    pub(crate) ts: Vec<u8>,
    /// XOR stream of every value, the first one raw.
    pub(crate) values: Vec<u8>,
    /// The first timestamp.
    pub(crate) first_ts: i64,
    /// Number of samples.
    pub(crate) count: u32,
}

impl GorillaStreams {
    /// Decodes the samples, appending them to `ts` and `values`.
    pub(crate) fn decode_into(&self, ts: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<(), String> {
        decode_gorilla(&self.ts, &self.values, self.first_ts, self.count as usize, ts, values)
    }
}

#[inline]
fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write_bit(false);
        return;
    }
    for (i, &width) in DOD_WIDTHS.iter().enumerate() {
        if fits_signed(dod, width) {
            // `i + 1` ones, then a zero unless this is the last bucket.
            let ones = i as u32 + 1;
            if ones < DOD_WIDTHS.len() as u32 {
                w.write_bits(((1u64 << ones) - 1) << 1, ones + 1);
            } else {
                w.write_bits((1u64 << ones) - 1, ones);
            }
            w.write_bits(dod as u64, width);
            return;
        }
    }
}

#[inline]
fn fits_signed(v: i64, width: u32) -> bool {
    width >= 64 || (v >= -(1i64 << (width - 1)) && v < (1i64 << (width - 1)))
}

#[inline]
fn sign_extend(raw: u64, width: u32) -> i64 {
    if width >= 64 { raw as i64 } else { ((raw << (64 - width)) as i64) >> (64 - width) }
}

/// Decodes `count` samples from Gorilla streams, appending them to `out_ts` and `out_values`.
///
/// # Errors
/// The streams end early or hold an impossible XOR window.
pub(crate) fn decode_gorilla(
    ts_stream: &[u8],
    value_stream: &[u8],
    first_ts: i64,
    count: usize,
    out_ts: &mut Vec<i64>,
    out_values: &mut Vec<f64>,
) -> Result<(), String> {
    decode_gorilla_ts(ts_stream, first_ts, count, out_ts)?;
    decode_gorilla_values(value_stream, count, out_values)
}

/// Decodes `count` timestamps from a delta-of-delta stream.
pub(crate) fn decode_gorilla_ts(stream: &[u8], first_ts: i64, count: usize, out: &mut Vec<i64>) -> Result<(), String> {
    if count == 0 {
        return Ok(());
    }
    out.reserve(count);
    let mut reader = BitReader::new(stream);
    let truncated = || "timestamp stream ends early".to_string();
    let (mut last, mut delta) = (first_ts, 0i64);
    out.push(first_ts);
    for _ in 1..count {
        let bucket = reader.read_unary(DOD_WIDTHS.len() as u32).ok_or_else(truncated)?;
        let dod = if bucket == 0 {
            0
        } else {
            let width = DOD_WIDTHS[bucket as usize - 1];
            sign_extend(reader.read_bits(width).ok_or_else(truncated)?, width)
        };
        delta = delta.wrapping_add(dod);
        last = last.wrapping_add(delta);
        out.push(last);
    }
    Ok(())
}

/// Decodes `count` values from an XOR stream.
pub(crate) fn decode_gorilla_values(stream: &[u8], count: usize, out: &mut Vec<f64>) -> Result<(), String> {
    if count == 0 {
        return Ok(());
    }
    out.reserve(count);
    let mut reader = BitReader::new(stream);
    let truncated = || "value stream ends early".to_string();
    let mut bits = reader.read_bits(64).ok_or_else(truncated)?;
    out.push(f64::from_bits(bits));
    let (mut leading, mut trailing) = (None::<u32>, 0u32);
    for _ in 1..count {
        if reader.read_bit().ok_or_else(truncated)? {
            if reader.read_bit().ok_or_else(truncated)? {
                let lz = reader.read_bits(5).ok_or_else(truncated)? as u32;
                let mut significant = reader.read_bits(6).ok_or_else(truncated)? as u32;
                if significant == 0 {
                    significant = 64;
                }
                if lz + significant > 64 {
                    return Err(format!("xor window of {lz} leading and {significant} significant bits"));
                }
                leading = Some(lz);
                trailing = 64 - lz - significant;
            }
            let Some(lz) = leading else {
                return Err("xor reuses a window before any was set".to_string());
            };
            let significant = 64 - lz - trailing;
            let xor = reader.read_bits(significant).ok_or_else(truncated)?;
            bits ^= xor << trailing;
        }
        out.push(f64::from_bits(bits));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> GorillaStreams {
        let mut encoder = GorillaEncoder::new();
        for &(t, v) in samples {
            encoder.append(t, v);
        }
        let snapshot = encoder.snapshot();
        let streams = encoder.finish();
        assert_eq!(snapshot, streams);
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        streams.decode_into(&mut ts, &mut values).unwrap();
        assert_eq!(ts, samples.iter().map(|s| s.0).collect::<Vec<_>>());
        let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, samples.iter().map(|s| s.1.to_bits()).collect::<Vec<_>>());
        streams
    }

    #[test]
    fn tricky_values_and_timestamps_round_trip() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        round_trip(&[
            (i64::MIN, -0.0),
            (-5, 0.0),
            (0, stale),
            (1, f64::NAN),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (1_000_000, f64::MIN_POSITIVE),
            (1_000_001, f64::from_bits(1)),
            (i64::MAX - 1, f64::MAX),
            (i64::MAX, -f64::MAX),
        ]);
        round_trip(&[(7, 1.0)]);
        round_trip(&[]);
    }

    #[test]
    fn regular_constant_series_costs_two_bits_per_sample() {
        let samples: Vec<(i64, f64)> = (0..240).map(|i| (1_700_000_000_000 + i * 10_000, 42.0)).collect();
        let streams = round_trip(&samples);
        // 1 bit per timestamp after the first two, 1 bit per value after the first.
        assert!(streams.ts.len() + streams.values.len() < 8 + 8 + 2 * 240 / 8 + 8);
    }

    #[test]
    fn truncated_streams_are_errors() {
        let mut encoder = GorillaEncoder::new();
        for i in 0..50 {
            encoder.append(i * 1000 + (i * i) % 7, i as f64 * 1.5);
        }
        let streams = encoder.finish();
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        assert!(
            decode_gorilla(&streams.ts[..streams.ts.len() / 2], &streams.values, 0, 50, &mut ts, &mut values).is_err()
        );
        assert!(decode_gorilla_values(&streams.values[..streams.values.len() / 2], 50, &mut values).is_err());
        // A window reuse before any window was set.
        assert!(decode_gorilla_values(&[0, 0, 0, 0, 0, 0, 0, 0, 0b1000_0000, 0], 2, &mut values).is_err());
    }
}
