//! Stored rollup points: runs of consecutive buckets keyed (partition, series id, start of the
//! run's first bucket), like chunks, written once when a partition is materialized. A series'
//! 2-hour partition at a 10 s interval becomes one run of 120 minute points and one of 2 hour
//! points.
//!
//! A run is stored column by column, each column with the chunk codec's integer and float
//! encoders (see `codec/intseq.rs`, `codec/floats.rs`), so that what repeats from point to
//! point (6 samples per minute, 10 s apart, no reset) costs a byte per run, not bytes per
//! point. Value columns are predicted from each other where the data allows it: when every
//! first, last, previous-to-last, min and max value is a short decimal (node_exporter's
//! counters and gauges), they become integers at one common scale and are stored as
//! differences (first from the previous point's last, last from first, previous-to-last from
//! last, min and max from the nearest of those three), and each sum as its difference from
//! `count * (first + last) / 2` plus the few ulps the float sum differs from that decimal;
//! a gauge's counter corrections (the sum of the values it falls from) likewise, as their
//! differences from `resets * sum / count`.
//! Otherwise each value column is a float column of its own, with the values equal to first,
//! last or previous-to-last left out. Every f64 bit pattern round-trips.
//!
//! ```text
//! format u8 (RUN_FORMAT) | count uvarint | (last bucket start - first) / width uvarint |
//! bucket steps: when the buckets are not consecutive, an integer column of
//!               (start - first start) / width |
//! integer columns: count | first_ts - start | last_ts - first_ts | last_ts - prev_last_ts |
//!                  resets | changes |
//! values: kind u8, then
//!   0 (columns): first_v float column | sources integer column (2 bits for each of last,
//!     prev_last, min, max: 0 written, 1 = first, 2 = last, 3 = prev_last) | float columns of
//!     the written last, prev_last, min and max values
//!   1 (decimal): exponent u8 | first_v of point 0 zigzag | integer columns: first - previous
//!     last, last - first, prev_last - last, min(first, last, prev_last) - min,
//!     max - max(first, last, prev_last)
//! sum: kind u8, then 0: float column | 1: integer columns: round(sum * 10^exponent) -
//!      floor(count * (first + last) / 2) (in scaled integers), sum bits - decimal's bits
//! counter_correction: kind u8, then 0: all +0.0 | 1: float column | 2: float column of the
//!      points with resets, +0.0 elsewhere | 3 (with the decimal sum kind): integer columns:
//!      round(correction * 10^exponent) - floor(resets * scaled sum / count), correction
//!      bits - decimal's bits
//! ```

use super::point::RollupPoint;
use super::tier::Tier;
use crate::codec::{
    POW10, decode_float_column, decode_int_column, encode_float_column, encode_int_column, from_scaled, get_uvarint,
    get_zigzag, put_uvarint, put_zigzag, to_scaled,
};

/// The run format this build writes and reads. Runs written before it (row-wise points) have
/// no format byte; the store's format version (see `schema.rs`) keeps them from being read.
const RUN_FORMAT: u8 = 2;

/// Most points a run may claim; more is corruption. Writers split longer sequences (see
/// [`split_runs`]).
const MAX_RUN_POINTS: u64 = 1 << 16;

/// Points per run when a writer splits a long sequence.
const SPLIT_RUN_POINTS: usize = 4096;

const VALUES_GENERIC: u8 = 0;
const VALUES_DECIMAL: u8 = 1;

const SUM_FLOATS: u8 = 0;
const SUM_DECIMAL: u8 = 1;

const CORRECTION_ZERO: u8 = 0;
const CORRECTION_FLOATS: u8 = 1;
const CORRECTION_AT_RESETS: u8 = 2;
const CORRECTION_DECIMAL: u8 = 3;

/// Source codes of the generic value kind: where a value comes from.
const SOURCE_WRITTEN: u64 = 0;
const SOURCE_FIRST: u64 = 1;
const SOURCE_LAST: u64 = 2;
const SOURCE_PREV_LAST: u64 = 3;

/// Largest sum-to-decimal difference, in ulps, the decimal sum kind takes; beyond it the sum
/// is not a decimal of this scale and a float column is smaller.
const MAX_SUM_ULPS: i64 = 1 << 16;

/// Encodes points (sorted by start, distinct starts) as runs that each lie within one time
/// partition (see `partition.rs`) and hold at most a few thousand points:
/// `(first bucket start, bytes)`.
pub(crate) fn split_runs(tier: Tier, points: &[RollupPoint]) -> Vec<(i64, Vec<u8>)> {
    points
        .chunk_by(|a, b| tier.partition_of(a.start_ms) == tier.partition_of(b.start_ms))
        .flat_map(|in_partition| in_partition.chunks(SPLIT_RUN_POINTS))
        .map(|run| {
            let mut bytes = Vec::with_capacity(run.len() * 8 + 32);
            encode_run(tier, run, &mut bytes);
            (run[0].start_ms, bytes)
        })
        .collect()
}

/// Encodes points (at least one, sorted by start, distinct starts, each a multiple of the tier
/// width away from the first) as a run.
pub(crate) fn encode_run(tier: Tier, points: &[RollupPoint], out: &mut Vec<u8>) {
    let width = tier.width_ms();
    let first = points.first().map_or(0, |p| p.start_ms);
    let last = points.last().map_or(0, |p| p.start_ms);
    let n = points.len();
    let span = (last.wrapping_sub(first) / width) as u64;
    out.push(RUN_FORMAT);
    put_uvarint(out, n as u64);
    put_uvarint(out, span);
    let mut ints = Vec::with_capacity(n);
    let mut column = |out: &mut Vec<u8>, f: &dyn Fn(&RollupPoint) -> i64| {
        ints.clear();
        ints.extend(points.iter().map(f));
        encode_int_column(&ints, out);
    };
    if span != n as u64 - 1 {
        column(out, &|p| p.start_ms.wrapping_sub(first) / width);
    }
    column(out, &|p| p.count as i64);
    column(out, &|p| p.first_ts.wrapping_sub(p.start_ms));
    column(out, &|p| p.last_ts.wrapping_sub(p.first_ts));
    column(out, &|p| p.last_ts.wrapping_sub(p.prev_last_ts));
    column(out, &|p| p.resets as i64);
    column(out, &|p| p.changes as i64);
    let exponent = match decimal_values(points) {
        Some((exponent, scaled)) => {
            encode_decimal_values(&scaled, exponent, out);
            Some((exponent, scaled))
        }
        None => {
            encode_generic_values(points, out);
            None
        }
    };
    let scaled_sums = encode_sum(points, exponent.as_ref(), out);
    let decimal_sums = exponent.as_ref().map(|(e, _)| *e).zip(scaled_sums.as_deref());
    encode_correction(points, decimal_sums, out);
}

/// The scaled first, last, prev_last, min and max of every point, when all of them are
/// decimals at one exponent.
fn decimal_values(points: &[RollupPoint]) -> Option<(u8, Vec<[i64; 5]>)> {
    let mut all = Vec::with_capacity(points.len() * 5);
    for p in points {
        all.extend([p.first_v, p.last_v, p.prev_last_v, p.min, p.max]);
    }
    let (exponent, ints) = to_scaled(&all)?;
    Some((exponent, ints.chunks_exact(5).map(|c| [c[0], c[1], c[2], c[3], c[4]]).collect()))
}

fn encode_decimal_values(scaled: &[[i64; 5]], exponent: u8, out: &mut Vec<u8>) {
    out.push(VALUES_DECIMAL);
    out.push(exponent);
    put_zigzag(out, scaled[0][0]);
    let mut ints = Vec::with_capacity(scaled.len());
    ints.extend(scaled.windows(2).map(|w| w[1][0].wrapping_sub(w[0][1])));
    encode_int_column(&ints, out);
    let mut column = |f: &dyn Fn(&[i64; 5]) -> i64| {
        ints.clear();
        ints.extend(scaled.iter().map(f));
        encode_int_column(&ints, out);
    };
    column(&|[f, l, _, _, _]| l.wrapping_sub(*f));
    column(&|[_, l, p, _, _]| p.wrapping_sub(*l));
    column(&|[f, l, p, min, _]| (*f).min(*l).min(*p).wrapping_sub(*min));
    column(&|[f, l, p, _, max]| max.wrapping_sub((*f).max(*l).max(*p)));
}

fn encode_generic_values(points: &[RollupPoint], out: &mut Vec<u8>) {
    out.push(VALUES_GENERIC);
    let mut floats: Vec<f64> = points.iter().map(|p| p.first_v).collect();
    encode_float_column(&floats, out);
    let mut sources = Vec::with_capacity(points.len());
    let mut written: [Vec<f64>; 4] = Default::default();
    for p in points {
        let known = [p.first_v.to_bits(), p.last_v.to_bits(), p.prev_last_v.to_bits()];
        let mut codes = 0u64;
        for (i, v) in [p.last_v, p.prev_last_v, p.min, p.max].into_iter().enumerate() {
            // last may refer to first; prev_last to first or last; min and max to any of them.
            let candidates = [SOURCE_FIRST, SOURCE_LAST, SOURCE_PREV_LAST];
            let source = candidates[..(i + 1).min(3)]
                .iter()
                .copied()
                .find(|&s| known[s as usize - 1] == v.to_bits())
                .unwrap_or(SOURCE_WRITTEN);
            if source == SOURCE_WRITTEN {
                written[i].push(v);
            }
            codes |= source << (2 * i);
        }
        sources.push(codes as i64);
    }
    encode_int_column(&sources, out);
    for column in &written {
        floats.clear();
        floats.extend_from_slice(column);
        encode_float_column(&floats, out);
    }
}

/// `floor(count * (first + last) / 2)`, the sum a bucket of evenly moving values would have.
fn predicted_sum(count: u64, first: i64, last: i64) -> i128 {
    (i128::from(count) * (i128::from(first) + i128::from(last))).div_euclid(2)
}

/// Writes the sums; returns them as scaled integers when they are written as decimals.
fn encode_sum(points: &[RollupPoint], decimal: Option<&(u8, Vec<[i64; 5]>)>, out: &mut Vec<u8>) -> Option<Vec<i64>> {
    if let Some((exponent, scaled)) = decimal {
        let scale = POW10[usize::from(*exponent)];
        let mut residuals = Vec::with_capacity(points.len());
        let mut ulps = Vec::with_capacity(points.len());
        let mut sums = Vec::with_capacity(points.len());
        let fits = points.iter().zip(scaled).all(|(p, [f, l, _, _, _])| {
            let x = p.sum * scale;
            // Beyond 2^53 an integer does not convert to a float exactly; NaN fails too.
            if x.abs().partial_cmp(&9.007_199_254_740_992e15) != Some(std::cmp::Ordering::Less) {
                return false;
            }
            let m = x.round() as i64;
            let ulp = (p.sum.to_bits() as i64).wrapping_sub(from_scaled(*exponent, m).to_bits() as i64);
            let Ok(residual) = i64::try_from(i128::from(m) - predicted_sum(p.count, *f, *l)) else { return false };
            residuals.push(residual);
            ulps.push(ulp);
            sums.push(m);
            (-MAX_SUM_ULPS..=MAX_SUM_ULPS).contains(&ulp)
        });
        if fits {
            out.push(SUM_DECIMAL);
            encode_int_column(&residuals, out);
            encode_int_column(&ulps, out);
            return Some(sums);
        }
    }
    out.push(SUM_FLOATS);
    let sums: Vec<f64> = points.iter().map(|p| p.sum).collect();
    encode_float_column(&sums, out);
    None
}

/// `resets * sum / count` (scaled, rounded down), the correction a bucket of a gauge whose
/// every fall starts from its mean would have.
fn predicted_correction(resets: u64, scaled_sum: i64, count: u64) -> i128 {
    (i128::from(resets) * i128::from(scaled_sum)).div_euclid(i128::from(count.max(1)))
}

/// The corrections as differences from [`predicted_correction`] and the ulps each differs from
/// its decimal, when every one is a decimal at `exponent`.
fn decimal_corrections(points: &[RollupPoint], exponent: u8, sums: &[i64]) -> Option<[Vec<i64>; 2]> {
    let scale = POW10[usize::from(exponent)];
    let (mut residuals, mut ulps) = (Vec::with_capacity(points.len()), Vec::with_capacity(points.len()));
    for (p, &m) in points.iter().zip(sums) {
        let x = p.counter_correction * scale;
        // Beyond 2^53 an integer does not convert to a float exactly; NaN fails too.
        if x.abs().partial_cmp(&9.007_199_254_740_992e15) != Some(std::cmp::Ordering::Less) || p.count == 0 {
            return None;
        }
        let c = x.round() as i64;
        let ulp = (p.counter_correction.to_bits() as i64).wrapping_sub(from_scaled(exponent, c).to_bits() as i64);
        if !(-MAX_SUM_ULPS..=MAX_SUM_ULPS).contains(&ulp) {
            return None;
        }
        residuals.push(i64::try_from(i128::from(c) - predicted_correction(p.resets, m, p.count)).ok()?);
        ulps.push(ulp);
    }
    Some([residuals, ulps])
}

/// Writes the counter corrections; `decimal_sums`: the values' exponent and the scaled sums,
/// when both are written as decimals.
fn encode_correction(points: &[RollupPoint], decimal_sums: Option<(u8, &[i64])>, out: &mut Vec<u8>) {
    let zero = |p: &RollupPoint| p.counter_correction.to_bits() == 0;
    if points.iter().all(zero) {
        out.push(CORRECTION_ZERO);
        return;
    }
    let floats_at = out.len();
    encode_float_corrections(points, out);
    // A gauge's corrections (one for each of its falls) are decimals too, near a multiple of
    // its mean: written that way when it is smaller.
    if let Some((exponent, sums)) = decimal_sums
        && let Some([residuals, ulps]) = decimal_corrections(points, exponent, sums)
    {
        let mut decimal = vec![CORRECTION_DECIMAL];
        encode_int_column(&residuals, &mut decimal);
        encode_int_column(&ulps, &mut decimal);
        if decimal.len() < out.len() - floats_at {
            out.truncate(floats_at);
            out.extend_from_slice(&decimal);
        }
    }
}

fn encode_float_corrections(points: &[RollupPoint], out: &mut Vec<u8>) {
    let zero = |p: &RollupPoint| p.counter_correction.to_bits() == 0;
    if points.iter().all(|p| p.resets > 0 || zero(p)) {
        out.push(CORRECTION_AT_RESETS);
        let at_resets: Vec<f64> = points.iter().filter(|p| p.resets > 0).map(|p| p.counter_correction).collect();
        encode_float_column(&at_resets, out);
    } else {
        out.push(CORRECTION_FLOATS);
        let all: Vec<f64> = points.iter().map(|p| p.counter_correction).collect();
        encode_float_column(&all, out);
    }
}

/// Reads a run's header: its point count and the start of its last bucket.
fn read_header(tier: Tier, first_start: i64, data: &[u8], pos: &mut usize) -> Result<(usize, i64, u64), String> {
    let truncated = || "run header ends early".to_string();
    let format = *data.first().ok_or_else(truncated)?;
    if format != RUN_FORMAT {
        return Err(format!("unknown run format {format}"));
    }
    *pos = 1;
    let count = get_uvarint(data, pos).ok_or_else(truncated)?;
    if count == 0 || count > MAX_RUN_POINTS {
        return Err(format!("run of {count} points"));
    }
    let span = get_uvarint(data, pos).ok_or_else(truncated)?;
    if span < count - 1 {
        return Err(format!("{count} points in {} buckets", span + 1));
    }
    let last = first_start.wrapping_add((span as i64).wrapping_mul(tier.width_ms()));
    Ok((count as usize, last, span))
}

/// The start of a run's last bucket, from its header.
pub(crate) fn run_last_start(tier: Tier, first_start: i64, data: &[u8]) -> Result<i64, String> {
    read_header(tier, first_start, data, &mut 0).map(|(_, last, _)| last)
}

/// A run's point count and the start of its last bucket, from its header.
pub(crate) fn run_extent(tier: Tier, first_start: i64, data: &[u8]) -> Result<(usize, i64), String> {
    read_header(tier, first_start, data, &mut 0).map(|(n, last, _)| (n, last))
}

/// Scratch columns reused from run to run by a reader.
#[derive(Debug, Default)]
pub(crate) struct RunScratch {
    /// steps, count, first_off, last_span, prev_gap, resets, changes.
    ints: [Vec<i64>; 7],
    /// Decimal values (first, last, prev_last, min, max), or the generic kind's sources.
    values: [Vec<i64>; 5],
    /// Sum residuals and ulps of the decimal sum kind.
    sums: [Vec<i64>; 2],
    /// Counter correction residuals and ulps of the decimal correction kind.
    corrections: [Vec<i64>; 2],
    /// Generic values (first, last, prev_last, min, max), sums, corrections.
    floats: [Vec<f64>; 7],
    tmp: Vec<i64>,
}

/// Decodes a run whose first bucket starts at `first_start`, appending its points to `out`.
pub(crate) fn decode_run(
    tier: Tier,
    first_start: i64,
    data: &[u8],
    scratch: &mut RunScratch,
    out: &mut Vec<RollupPoint>,
) -> Result<(), String> {
    let mut pos = 0;
    let (n, _, span) = read_header(tier, first_start, data, &mut pos)?;
    let width = tier.width_ms();
    let truncated = || "run ends early".to_string();
    let RunScratch { ints, values, sums, corrections, floats, tmp } = scratch;
    let [steps, counts, first_off, last_span, prev_gap, resets, changes] = ints;
    let consecutive = span == n as u64 - 1;
    if !consecutive {
        decode_int_column(data, &mut pos, n, steps)?;
        if steps[0] != 0 || steps.windows(2).any(|w| w[1] <= w[0]) || steps[n - 1] as u64 != span {
            return Err("bucket steps disagree with the header".to_string());
        }
    }
    for column in [&mut *counts, first_off, last_span, prev_gap, resets, changes] {
        decode_int_column(data, &mut pos, n, column)?;
    }
    if counts.contains(&0) {
        return Err("point of zero samples".to_string());
    }

    let kind = *data.get(pos).ok_or_else(truncated)?;
    pos += 1;
    let [first_v, last_v, prev_last_v, min, max, sum, correction] = floats;
    let decimal = match kind {
        VALUES_DECIMAL => {
            let e = *data.get(pos).ok_or_else(truncated)?;
            pos += 1;
            if usize::from(e) >= POW10.len() {
                return Err(format!("decimal exponent {e}"));
            }
            let f0 = get_zigzag(data, &mut pos).ok_or_else(truncated)?;
            let [f, l, p, lo, hi] = values;
            decode_int_column(data, &mut pos, n - 1, tmp)?;
            for column in [&mut *l, p, lo, hi] {
                decode_int_column(data, &mut pos, n, column)?;
            }
            // Undo the differences, in place: first from the previous last, and so on.
            f.clear();
            f.resize(n, 0);
            let (f, l, p, lo, hi) = (&mut f[..n], &mut l[..n], &mut p[..n], &mut lo[..n], &mut hi[..n]);
            let mut previous_last = 0i64;
            for i in 0..n {
                let first = if i == 0 { f0 } else { tmp[i - 1].wrapping_add(previous_last) };
                let last = l[i].wrapping_add(first);
                let prev = p[i].wrapping_add(last);
                f[i] = first;
                l[i] = last;
                p[i] = prev;
                lo[i] = first.min(last).min(prev).wrapping_sub(lo[i]);
                hi[i] = hi[i].wrapping_add(first.max(last).max(prev));
                previous_last = last;
            }
            Some(e)
        }
        VALUES_GENERIC => {
            decode_generic_values(data, &mut pos, n, [first_v, last_v, prev_last_v, min, max], &mut values[0], tmp)?;
            None
        }
        other => return Err(format!("unknown value kind {other}")),
    };

    let kind = *data.get(pos).ok_or_else(truncated)?;
    pos += 1;
    let decimal_sum = match (kind, decimal) {
        (SUM_FLOATS, _) => {
            decode_float_column(data, &mut pos, n, sum, tmp)?;
            false
        }
        (SUM_DECIMAL, Some(_)) => {
            let [residuals, ulps] = sums;
            decode_int_column(data, &mut pos, n, residuals)?;
            decode_int_column(data, &mut pos, n, ulps)?;
            true
        }
        (other, _) => return Err(format!("unknown sum kind {other}")),
    };

    let kind = *data.get(pos).ok_or_else(truncated)?;
    pos += 1;
    let [correction_residuals, correction_ulps] = corrections;
    match kind {
        CORRECTION_ZERO => {}
        CORRECTION_FLOATS => decode_float_column(data, &mut pos, n, correction, tmp)?,
        CORRECTION_AT_RESETS => {
            let at_resets = resets.iter().filter(|&&r| r != 0).count();
            decode_float_column(data, &mut pos, at_resets, correction, tmp)?;
        }
        CORRECTION_DECIMAL if decimal_sum => {
            decode_int_column(data, &mut pos, n, correction_residuals)?;
            decode_int_column(data, &mut pos, n, correction_ulps)?;
        }
        other => return Err(format!("unknown counter correction kind {other}")),
    }
    if pos != data.len() {
        return Err(format!("{} trailing bytes", data.len() - pos));
    }

    out.reserve(n);
    let scale = decimal.map_or(1.0, |e| POW10[usize::from(e)]);
    let mut next_correction = 0;
    for i in 0..n {
        let start_ms = if consecutive { i as i64 } else { steps[i] };
        let start_ms = first_start.wrapping_add(start_ms.wrapping_mul(width));
        let first_ts = start_ms.wrapping_add(first_off[i]);
        let last_ts = first_ts.wrapping_add(last_span[i]);
        let count = counts[i] as u64;
        // `m / 10^e` is `from_scaled`: exact integer, exact power, one rounding.
        let (first, last, prev_last, low, high) = match decimal {
            Some(_) => (
                values[0][i] as f64 / scale,
                values[1][i] as f64 / scale,
                values[2][i] as f64 / scale,
                values[3][i] as f64 / scale,
                values[4][i] as f64 / scale,
            ),
            None => (first_v[i], last_v[i], prev_last_v[i], min[i], max[i]),
        };
        let (sum, scaled_sum) = if decimal_sum {
            let m = predicted_sum(count, values[0][i], values[1][i]) + i128::from(sums[0][i]);
            let m = i64::try_from(m).map_err(|_| format!("point {i}: sum out of range"))?;
            (f64::from_bits(((m as f64 / scale).to_bits() as i64).wrapping_add(sums[1][i]) as u64), m)
        } else {
            (sum[i], 0)
        };
        let counter_correction = match kind {
            CORRECTION_DECIMAL => {
                let c = predicted_correction(resets[i] as u64, scaled_sum, count) + i128::from(correction_residuals[i]);
                let c = i64::try_from(c).map_err(|_| format!("point {i}: counter correction out of range"))?;
                f64::from_bits(((c as f64 / scale).to_bits() as i64).wrapping_add(correction_ulps[i]) as u64)
            }
            CORRECTION_FLOATS => correction[i],
            CORRECTION_AT_RESETS if resets[i] != 0 => {
                next_correction += 1;
                correction[next_correction - 1]
            }
            _ => 0.0,
        };
        out.push(RollupPoint {
            start_ms,
            count,
            sum,
            min: low,
            max: high,
            first_ts,
            first_v: first,
            last_ts,
            last_v: last,
            prev_last_ts: last_ts.wrapping_sub(prev_gap[i]),
            prev_last_v: prev_last,
            counter_correction,
            resets: resets[i] as u64,
            changes: changes[i] as u64,
        });
    }
    Ok(())
}

/// Reads the generic value kind: first values, the sources, then the written values of last,
/// prev_last, min and max, resolved into one column each.
fn decode_generic_values(
    data: &[u8],
    pos: &mut usize,
    n: usize,
    [first_v, last_v, prev_last_v, min, max]: [&mut Vec<f64>; 5],
    sources: &mut Vec<i64>,
    tmp: &mut Vec<i64>,
) -> Result<(), String> {
    decode_float_column(data, pos, n, first_v, tmp)?;
    decode_int_column(data, pos, n, sources)?;
    let mut counts_written = [0usize; 4];
    for &codes in sources.iter() {
        for (field, w) in counts_written.iter_mut().enumerate() {
            *w += usize::from((codes as u64 >> (2 * field)) & 0b11 == SOURCE_WRITTEN);
        }
    }
    let mut written: [Vec<f64>; 4] = Default::default();
    for (column, count) in written.iter_mut().zip(counts_written) {
        decode_float_column(data, pos, count, column, tmp)?;
    }
    let mut next = [0usize; 4];
    for column in [&mut *last_v, &mut *prev_last_v, &mut *min, &mut *max] {
        column.clear();
    }
    for (i, &codes) in sources.iter().enumerate() {
        // last, prev_last, min, max of this point, as resolved so far.
        let mut fields = [0f64; 4];
        for field in 0..4 {
            let source = (codes as u64 >> (2 * field)) & 0b11;
            fields[field] = match source {
                SOURCE_WRITTEN => {
                    let v = written[field].get(next[field]).copied().ok_or("written values end early")?;
                    next[field] += 1;
                    v
                }
                // last may name first; prev_last first or last; min and max any of the three.
                s if s as usize > (field + 1).min(3) => {
                    return Err(format!("point {i} value {field} refers to source {s}"));
                }
                SOURCE_FIRST => first_v[i],
                SOURCE_LAST => fields[0],
                _ => fields[1],
            };
        }
        last_v.push(fields[0]);
        prev_last_v.push(fields[1]);
        min.push(fields[2]);
        max.push(fields[3]);
    }
    Ok(())
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;

/// Replaces the points of series `id` in `[from, to)` of `tier`'s `table` by `points` (sorted,
/// one per bucket, all within the span, which lies in one of the tier's partitions): the
/// series' runs of that partition are taken out, and returned as rows (to insert) holding
/// their other points and `points`, as few runs as [`split_runs`] makes. Runs an older build
/// keyed by a narrower partition starting at `from` go too. A partition of chunks, or of
/// received minutes, gives the 1-hour tier its two points this way, into the week's one run.
pub(crate) fn replace_span(
    table: &mut redb::Table<'_, crate::schema::DataKey, &'static [u8]>,
    tier: Tier,
    id: u64,
    (from, to): (i64, i64),
    points: &[RollupPoint],
    scratch: &mut RunScratch,
) -> Result<Vec<(crate::schema::DataKey, Vec<u8>)>, redb::Error> {
    use redb::ReadableTable as _;
    let partition = tier.partition_of(from);
    let mut kept = Vec::new();
    let mut stale = Vec::new();
    let mut keys = vec![partition];
    if from != partition {
        keys.push(from);
    }
    for key_partition in keys {
        for entry in table.range((key_partition, id, i64::MIN)..=(key_partition, id, i64::MAX))? {
            let (key, value) = entry?;
            let start = key.value().2;
            if key_partition != partition && start >= to {
                break;
            }
            decode_run(tier, start, value.value(), scratch, &mut kept)
                .map_err(|reason| corrupt_run(tier, id, start, &reason))?;
            stale.push(key.value());
        }
    }
    for key in stale {
        table.remove(key)?;
    }
    kept.retain(|p| p.start_ms < from || p.start_ms >= to);
    kept.extend_from_slice(points);
    latest_per_bucket(&mut kept);
    Ok(split_runs(tier, &kept).into_iter().map(|(first, bytes)| ((partition, id, first), bytes)).collect())
}

/// Sorts `points` (in the order they were written) by bucket, keeping of each bucket the
/// point written last: a later write wins.
pub(crate) fn latest_per_bucket(points: &mut Vec<RollupPoint>) {
    points.reverse();
    points.sort_by_key(|p| p.start_ms);
    points.dedup_by_key(|p| p.start_ms);
}

/// A stored run that does not decode, as the error of the transaction that read it.
pub(crate) fn corrupt_run(tier: Tier, id: u64, start_ms: i64, reason: &str) -> redb::Error {
    redb::Error::Corrupted(format!("{tier} rollup run of series {id} at {start_ms}: {reason}"))
}
