//! Integer sequences (timestamps, scaled decimals) as frame-of-reference bit-packed deltas or
//! deltas-of-deltas: the smallest value is subtracted, the remainders are divided by their
//! greatest common divisor (page-aligned byte gauges move in multiples of 4096) and packed at
//! the width of the largest. A regular 10 s timestamp series packs at width 0: a few bytes per
//! chunk whatever its length.
//!
//! All arithmetic wraps, so any i64 sequence round-trips.

use super::bits::{BitReader, BitWriter};
use super::varint::{get_uvarint, get_zigzag, put_uvarint, put_zigzag};

const KIND_DELTA: u8 = 0;
const KIND_DOD: u8 = 1;

/// How a block of integers would pack.
#[derive(Debug, Clone, Copy)]
struct Frame {
    min: i64,
    gcd: u64,
    width: u32,
}

impl Frame {
    fn of(values: &[i64]) -> Frame {
        let Some(&min) = values.iter().min() else { return Frame { min: 0, gcd: 0, width: 0 } };
        let gcd = values.iter().fold(0u64, |g, &v| gcd(g, v.wrapping_sub(min) as u64));
        let max_quotient =
            if gcd == 0 { 0 } else { values.iter().map(|&v| v.wrapping_sub(min) as u64 / gcd).max().unwrap_or(0) };
        Frame { min, gcd, width: 64 - max_quotient.leading_zeros() }
    }

    /// Encoded size in bytes of `n` values in this frame.
    fn size(&self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        varint_len(super::varint::zigzag(self.min)) + varint_len(self.gcd) + 1 + (n * self.width as usize).div_ceil(8)
    }

    fn write(&self, values: &[i64], out: &mut Vec<u8>) {
        if values.is_empty() {
            return;
        }
        put_zigzag(out, self.min);
        put_uvarint(out, self.gcd);
        out.push(self.width as u8);
        if self.width == 0 {
            return;
        }
        let mut bits = BitWriter::new();
        if self.gcd.is_power_of_two() {
            // The common case (gcd 1, or 4096 for page-aligned bytes): a shift, not a division.
            let shift = self.gcd.trailing_zeros();
            for &v in values {
                bits.write_bits((v.wrapping_sub(self.min) as u64) >> shift, self.width);
            }
        } else {
            for &v in values {
                bits.write_bits(v.wrapping_sub(self.min) as u64 / self.gcd, self.width);
            }
        }
        out.extend_from_slice(&bits.finish());
    }
}

/// Appends a frame of `n` integers to `out`; when they are all one value (packed at width
/// 0), returns it too.
fn read_frame(data: &[u8], pos: &mut usize, n: usize, out: &mut Vec<i64>) -> Result<Option<i64>, String> {
    if n == 0 {
        return Ok(None);
    }
    let truncated = || "integer frame ends early".to_string();
    let min = get_zigzag(data, pos).ok_or_else(truncated)?;
    let gcd = get_uvarint(data, pos).ok_or_else(truncated)?;
    let width = u32::from(*data.get(*pos).ok_or_else(truncated)?);
    *pos += 1;
    if width > 64 {
        return Err(format!("integer frame width {width}"));
    }
    if width == 0 {
        out.extend(std::iter::repeat_n(min, n));
        return Ok(Some(min));
    }
    let len = (n * width as usize).div_ceil(8);
    let packed = data.get(*pos..*pos + len).ok_or_else(truncated)?;
    let start = *pos;
    *pos += len;
    out.reserve(n);
    if width <= 56 {
        // Every field lies within the 8 bytes from its first byte: one load and two shifts.
        // A load may run past the frame into what follows it in `data` (the bits beyond the
        // field are shifted out); only fields within 8 bytes of the end of `data` take the
        // slow path.
        let (w, shift_back) = (width as usize, 64 - width);
        // The closures own copies of what they read. Holding references instead, they made
        // every value reload `min` and `data`, which a store to `out` might have changed for
        // all the compiler knew.
        let load = move |bit: usize| -> u64 {
            let at = start + bit / 8;
            let word = u64::from_be_bytes(data[at..at + 8].try_into().expect("a slice of 8 bytes"));
            (word << (bit % 8)) >> shift_back
        };
        let room = data.len() - start;
        let fast = if room >= 8 { ((room - 8) * 8 / w + 1).min(n) } else { 0 };
        if gcd == 1 {
            out.extend((0..fast).map(move |i| min.wrapping_add(load(i * w) as i64)));
        } else {
            out.extend((0..fast).map(move |i| min.wrapping_add(load(i * w).wrapping_mul(gcd) as i64)));
        }
        for i in fast..n {
            let bit = i * w;
            let word = packed[bit / 8..]
                .iter()
                .take(8)
                .enumerate()
                .fold(0u64, |word, (k, &b)| word | u64::from(b) << (56 - 8 * k));
            let q = (word << (bit % 8)) >> shift_back;
            out.push(min.wrapping_add(q.wrapping_mul(gcd) as i64));
        }
        return Ok(None);
    }
    let mut reader = BitReader::new(packed);
    for _ in 0..n {
        let q = reader.read_bits(width).ok_or_else(truncated)?;
        out.push(min.wrapping_add(q.wrapping_mul(gcd) as i64));
    }
    Ok(None)
}

/// Binary (Stein's) greatest common divisor: no division.
fn gcd(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 {
        return a | b;
    }
    let shift = (a | b).trailing_zeros();
    let (mut a, mut b) = (a >> a.trailing_zeros(), b);
    while b != 0 {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
    }
    a << shift
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `xs` (at least one value) to `out`, as deltas or deltas-of-deltas, whichever is
/// smaller. With `with_first == false` the first value is left out: the reader knows it.
pub(crate) fn encode_ints(xs: &[i64], with_first: bool, out: &mut Vec<u8>) {
    let deltas: Vec<i64> = xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let dods: Vec<i64> = deltas.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let delta_frame = Frame::of(&deltas);
    let dod_frame = Frame::of(&dods);
    let first_delta_len = deltas.first().map_or(0, |&d| varint_len(super::varint::zigzag(d)));
    let use_dod = dod_frame.size(dods.len()) + first_delta_len < delta_frame.size(deltas.len());
    out.push(if use_dod { KIND_DOD } else { KIND_DELTA });
    if with_first {
        put_zigzag(out, xs.first().copied().unwrap_or(0));
    }
    if use_dod {
        if let Some(&d) = deltas.first() {
            put_zigzag(out, d);
        }
        dod_frame.write(&dods, out);
    } else {
        delta_frame.write(&deltas, out);
    }
}

/// Reads `count` integers written by [`encode_ints`] at `*pos`, advancing it. `first` is the
/// first value when it was left out of the encoding.
pub(crate) fn decode_ints(
    data: &[u8],
    pos: &mut usize,
    count: usize,
    first: Option<i64>,
    out: &mut Vec<i64>,
) -> Result<(), String> {
    if count == 0 {
        return Ok(());
    }
    let truncated = || "integer sequence ends early".to_string();
    let kind = *data.get(*pos).ok_or_else(truncated)?;
    *pos += 1;
    let first = match first {
        Some(first) => first,
        None => get_zigzag(data, pos).ok_or_else(truncated)?,
    };
    out.reserve(count);
    let start = out.len();
    out.push(first);
    match kind {
        KIND_DELTA => {
            if let Some(delta) = read_frame(data, pos, count - 1, out)? {
                evenly_spaced(&mut out[start..], first, delta);
                return Ok(());
            }
            let mut acc = first;
            for v in &mut out[start + 1..] {
                acc = acc.wrapping_add(*v);
                *v = acc;
            }
        }
        KIND_DOD => {
            if count >= 2 {
                let d0 = get_zigzag(data, pos).ok_or_else(truncated)?;
                out.push(d0);
                if read_frame(data, pos, count - 2, out)? == Some(0) {
                    evenly_spaced(&mut out[start..], first, d0);
                    return Ok(());
                }
                let (mut acc, mut delta) = (first, 0i64);
                for (i, v) in out[start + 1..].iter_mut().enumerate() {
                    delta = if i == 0 { *v } else { delta.wrapping_add(*v) };
                    acc = acc.wrapping_add(delta);
                    *v = acc;
                }
            }
        }
        other => return Err(format!("unknown integer sequence kind {other}")),
    }
    Ok(())
}

/// `values[i] = first + i * step` (wrapping): the running sums of a constant step (regular
/// timestamps), from each index instead of along a chain of dependent additions.
fn evenly_spaced(values: &mut [i64], first: i64, step: i64) {
    for (i, v) in values.iter_mut().enumerate() {
        *v = first.wrapping_add(step.wrapping_mul(i as i64));
    }
}

/// Column kinds of [`encode_int_column`].
const COLUMN_ZERO: u8 = 0;
const COLUMN_CONST: u8 = 1;
const COLUMN_PLAIN: u8 = 2;
const COLUMN_DELTA: u8 = 3;
const COLUMN_DOD: u8 = 4;

/// Appends a column of integers (the reader knows how many) as the smallest of: all zero (one
/// byte), one constant, the values frame-of-reference packed, their deltas packed, or their
/// deltas-of-deltas packed. Rollup runs store a dozen short columns each, so an all-zero or
/// constant column must cost a byte or two.
pub(crate) fn encode_int_column(xs: &[i64], out: &mut Vec<u8>) {
    let Some(&first) = xs.first() else { return };
    if xs.iter().all(|&x| x == first) {
        if first == 0 {
            out.push(COLUMN_ZERO);
        } else {
            out.push(COLUMN_CONST);
            put_zigzag(out, first);
        }
        return;
    }
    let plain = Frame::of(xs);
    let deltas: Vec<i64> = xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let delta = Frame::of(&deltas);
    let dods: Vec<i64> = deltas.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let dod = Frame::of(&dods);
    let first_len = varint_len(super::varint::zigzag(first));
    let plain_size = plain.size(xs.len());
    let delta_size = first_len + delta.size(deltas.len());
    let dod_size = first_len + varint_len(super::varint::zigzag(deltas[0])) + dod.size(dods.len());
    if plain_size <= delta_size && plain_size <= dod_size {
        out.push(COLUMN_PLAIN);
        plain.write(xs, out);
    } else if delta_size <= dod_size {
        out.push(COLUMN_DELTA);
        put_zigzag(out, first);
        delta.write(&deltas, out);
    } else {
        out.push(COLUMN_DOD);
        put_zigzag(out, first);
        put_zigzag(out, deltas[0]);
        dod.write(&dods, out);
    }
}

/// Reads a column of `count` integers written by [`encode_int_column`] at `*pos`, advancing
/// it, into `out` (cleared first).
pub(crate) fn decode_int_column(data: &[u8], pos: &mut usize, count: usize, out: &mut Vec<i64>) -> Result<(), String> {
    out.clear();
    if count == 0 {
        return Ok(());
    }
    let truncated = || "integer column ends early".to_string();
    let kind = *data.get(*pos).ok_or_else(truncated)?;
    *pos += 1;
    match kind {
        COLUMN_ZERO => out.resize(count, 0),
        COLUMN_CONST => {
            let v = get_zigzag(data, pos).ok_or_else(truncated)?;
            out.resize(count, v);
        }
        COLUMN_PLAIN => {
            read_frame(data, pos, count, out)?;
        }
        COLUMN_DELTA => {
            let first = get_zigzag(data, pos).ok_or_else(truncated)?;
            out.reserve(count);
            out.push(first);
            read_frame(data, pos, count - 1, out)?;
            let mut acc = first;
            for v in &mut out[1..] {
                acc = acc.wrapping_add(*v);
                *v = acc;
            }
        }
        COLUMN_DOD => {
            let first = get_zigzag(data, pos).ok_or_else(truncated)?;
            out.reserve(count);
            out.push(first);
            if count >= 2 {
                let d0 = get_zigzag(data, pos).ok_or_else(truncated)?;
                out.push(d0);
                read_frame(data, pos, count - 2, out)?;
                let (mut acc, mut delta) = (first, 0i64);
                for (i, v) in out[1..].iter_mut().enumerate() {
                    delta = if i == 0 { *v } else { delta.wrapping_add(*v) };
                    acc = acc.wrapping_add(delta);
                    *v = acc;
                }
            }
        }
        other => return Err(format!("unknown integer column kind {other}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(xs: &[i64], with_first: bool) -> usize {
        let mut buf = Vec::new();
        encode_ints(xs, with_first, &mut buf);
        buf.extend_from_slice(b"tail");
        let (mut pos, mut out) = (0, Vec::new());
        decode_ints(&buf, &mut pos, xs.len(), (!with_first).then(|| xs[0]), &mut out).unwrap();
        assert_eq!(out, xs);
        assert_eq!(&buf[pos..], b"tail");
        pos
    }

    #[test]
    fn regular_timestamps_pack_to_a_few_bytes() {
        let ts: Vec<i64> = (0..240).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        assert!(round_trip(&ts, false) <= 6);
    }

    #[test]
    fn page_aligned_gauges_pack_by_their_gcd() {
        let mut v = 1i64 << 32;
        let xs: Vec<i64> = (0..240i64)
            .map(|i| {
                v += 4096 * ((i * 7919) % 401 - 200);
                v
            })
            .collect();
        // 9 bits per delta.
        assert!(round_trip(&xs, true) <= 240 * 9 / 8 + 16);
    }

    #[test]
    fn extremes_wrap_and_round_trip() {
        round_trip(&[i64::MIN, i64::MAX, 0, i64::MIN, -1, i64::MAX], true);
        round_trip(&[5], true);
        round_trip(&[5], false);
        round_trip(&[5, 5], true);
        round_trip(&[i64::MAX, i64::MIN], false);
    }

    #[test]
    fn binary_gcd_agrees_with_euclid() {
        fn euclid(mut a: u64, mut b: u64) -> u64 {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        }
        for (a, b) in [(0, 0), (0, 5), (12, 18), (4096 * 3, 4096 * 7), (u64::MAX, 3), (1 << 63, 1 << 40), (97, 89)] {
            assert_eq!(gcd(a, b), euclid(a, b), "{a} {b}");
        }
    }

    fn column_round_trip(xs: &[i64]) -> usize {
        let mut buf = Vec::new();
        encode_int_column(xs, &mut buf);
        buf.extend_from_slice(b"tail");
        let (mut pos, mut out) = (0, vec![99]);
        decode_int_column(&buf, &mut pos, xs.len(), &mut out).unwrap();
        assert_eq!(out, xs);
        assert_eq!(&buf[pos..], b"tail");
        pos
    }

    #[test]
    fn columns_pick_the_smallest_kind_and_round_trip() {
        assert_eq!(column_round_trip(&[0; 40]), 1);
        assert_eq!(column_round_trip(&[6; 40]), 2);
        assert_eq!(column_round_trip(&[]), 0);
        // Small values hovering: plain. A ramp: deltas-of-deltas, a few bytes.
        let hover: Vec<i64> = (0..40).map(|i| (i * 7) % 5).collect();
        assert!(column_round_trip(&hover) <= 4 + 15);
        let ramp: Vec<i64> = (0..40).map(|i| 1_700_000_000_000 + i * 60_000).collect();
        assert!(column_round_trip(&ramp) <= 16);
        let walk: Vec<i64> = (0..40)
            .scan(1i64 << 40, |v, i| {
                *v += 4096 * ((i * 7919) % 17 - 8);
                Some(*v)
            })
            .collect();
        column_round_trip(&walk);
        column_round_trip(&[i64::MIN, i64::MAX, 0, -1, i64::MIN]);
        column_round_trip(&[5]);
        column_round_trip(&[5, -5]);
        let mut out = Vec::new();
        assert!(decode_int_column(&[9], &mut 0, 3, &mut out).is_err());
        assert!(decode_int_column(&[COLUMN_CONST], &mut 0, 3, &mut out).is_err());
        assert!(decode_int_column(&[COLUMN_PLAIN, 0, 1, 8], &mut 0, 3, &mut out).is_err());
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut out = Vec::new();
        assert!(decode_ints(&[9, 0], &mut 0, 3, None, &mut out).is_err());
        assert!(decode_ints(&[0, 0, 0, 1, 65], &mut 0, 3, None, &mut out).is_err());
        assert!(decode_ints(&[0, 0, 0, 1, 8], &mut 0, 3, None, &mut out).is_err());
    }
}
