//! Write-ahead log records: one per committed batch, in the `tsdb_wal` table keyed by a
//! record number that only grows.
//!
//! ```text
//! flags u8 (bit 0: body is zstd)
//! body: series count uvarint | per series: id as a zigzag delta from the previous id,
//!                              value kind u8 (0..=18: decimal exponent, 255: XOR) |
//!       sample count uvarint |
//!       refs: per sample, its series' index uvarint |
//!       times: per sample, zigzag of its delta-of-delta within its series (the first sample
//!              of a series: its delta from the record's previous sample, delta-of-delta 0) |
//!       values: per sample, by its series' kind: decimal, the zigzag varint of the scaled
//!               integer's difference from the series' previous one (the first: from 0);
//!               XOR, the bits XOR the series' previous value's (the first: XOR 0), 8 bytes LE
//! ```
//!
//! A series whose values in the record are all short decimals (node_exporter's counters and
//! gauges) costs a byte or two per value instead of the XOR's noisy low bytes; columns keep
//! like with like for zstd (an agent's batch repeats the same refs and a 0 delta-of-delta
//! scrape after scrape).

use crate::codec::{from_scaled, get_uvarint, get_zigzag, put_uvarint, put_zigzag, to_scaled};

const FLAG_ZSTD: u8 = 1;

/// The value kind of a series whose values are XOR-ed.
const KIND_XOR: u8 = 255;

/// The largest decimal exponent.
const MAX_EXPONENT: u8 = 18;

/// Most samples a record may claim; more is corruption.
const MAX_RECORD_SAMPLES: u64 = 1 << 26;

/// Encodes WAL records, keeping one zstd context and scratch space.
pub(crate) struct WalEncoder {
    compressor: Option<zstd::bulk::Compressor<'static>>,
    body: Vec<u8>,
    /// Per series of the record: its values, then their scaled integers when decimal.
    values: Vec<Vec<f64>>,
    scaled: Vec<Option<(u8, Vec<i64>)>>,
    /// Per series: samples emitted so far, last ts and delta, last value bits or integer.
    state: Vec<SeriesState>,
}

#[derive(Debug, Clone, Copy, Default)]
struct SeriesState {
    seen: usize,
    last_ts: i64,
    last_delta: i64,
    last: u64,
}

impl WalEncoder {
    /// An encoder compressing at `zstd_level`, 0 for none.
    pub(crate) fn new(zstd_level: i32) -> WalEncoder {
        let compressor = if zstd_level != 0 { zstd::bulk::Compressor::new(zstd_level).ok() } else { None };
        WalEncoder { compressor, body: Vec::new(), values: Vec::new(), scaled: Vec::new(), state: Vec::new() }
    }

    /// The record of a batch whose series have ids `series` and whose samples refer to them
    /// by index. Refs must be valid indexes into `series`.
    pub(crate) fn encode(&mut self, series: &[u64], samples: &[(u32, i64, f64)]) -> Vec<u8> {
        let n = series.len();
        if self.values.len() < n {
            self.values.resize_with(n, Vec::new);
        }
        for v in &mut self.values[..n] {
            v.clear();
        }
        for &(series_ref, _, value) in samples {
            self.values[series_ref as usize].push(value);
        }
        self.scaled.clear();
        self.scaled.extend(self.values[..n].iter().map(|v| to_scaled(v)));
        self.state.clear();
        self.state.resize(n, SeriesState::default());

        let body = &mut self.body;
        body.clear();
        body.reserve(n * 4 + samples.len() * 5 + 16);
        put_uvarint(body, n as u64);
        let mut prev = 0u64;
        for (&id, scaled) in series.iter().zip(&self.scaled) {
            put_zigzag(body, id.wrapping_sub(prev) as i64);
            prev = id;
            body.push(scaled.as_ref().map_or(KIND_XOR, |(e, _)| *e));
        }
        put_uvarint(body, samples.len() as u64);
        for &(series_ref, _, _) in samples {
            put_uvarint(body, u64::from(series_ref));
        }
        let mut prev_ts = 0i64;
        for &(series_ref, ts, _) in samples {
            let state = &mut self.state[series_ref as usize];
            let delta = if state.seen == 0 { ts.wrapping_sub(prev_ts) } else { ts.wrapping_sub(state.last_ts) };
            let dod = if state.seen == 0 { delta } else { delta.wrapping_sub(state.last_delta) };
            put_zigzag(body, dod);
            state.last_ts = ts;
            state.last_delta = if state.seen == 0 { 0 } else { delta };
            state.seen += 1;
            prev_ts = ts;
        }
        for state in &mut self.state[..n] {
            state.seen = 0;
        }
        for &(series_ref, _, value) in samples {
            let state = &mut self.state[series_ref as usize];
            match &self.scaled[series_ref as usize] {
                Some((_, ints)) => {
                    let m = ints[state.seen];
                    put_zigzag(body, m.wrapping_sub(state.last as i64));
                    state.last = m as u64;
                }
                None => {
                    let bits = value.to_bits();
                    body.extend_from_slice(&(bits ^ state.last).to_le_bytes());
                    state.last = bits;
                }
            }
            state.seen += 1;
        }
        let compressed = self.compressor.as_mut().and_then(|c| c.compress(body).ok()).filter(|c| c.len() < body.len());
        let mut record = Vec::with_capacity(1 + compressed.as_ref().map_or(body.len(), Vec::len));
        match compressed {
            Some(c) => {
                record.push(FLAG_ZSTD);
                record.extend_from_slice(&c);
            }
            None => {
                record.push(0);
                record.extend_from_slice(body);
            }
        }
        record
    }
}

/// A decoded record; reused across records during replay.
#[derive(Debug, Default)]
pub(crate) struct WalRecord {
    /// Series ids.
    pub(crate) series: Vec<u64>,
    /// (index into `series`, ts, value).
    pub(crate) samples: Vec<(u32, i64, f64)>,
}

/// Decodes WAL records, keeping one zstd context.
#[derive(Default)]
pub(crate) struct WalDecoder {
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    kinds: Vec<u8>,
    state: Vec<SeriesState>,
}

impl WalDecoder {
    /// Decodes `data` into `out`.
    ///
    /// # Errors
    /// What is wrong with the record, for `Error::CorruptWalRecord`.
    pub(crate) fn decode(&mut self, data: &[u8], out: &mut WalRecord) -> Result<(), String> {
        out.series.clear();
        out.samples.clear();
        let flags = *data.first().ok_or("empty record")?;
        let decompressed;
        let body = match flags {
            0 => &data[1..],
            FLAG_ZSTD => {
                if self.decompressor.is_none() {
                    self.decompressor =
                        Some(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd context: {e}"))?);
                }
                let decompressor = self.decompressor.as_mut().ok_or("no zstd context")?;
                let size = zstd::zstd_safe::get_frame_content_size(&data[1..])
                    .ok()
                    .flatten()
                    .ok_or("zstd frame without a size")?;
                if size > MAX_RECORD_SAMPLES * 24 {
                    return Err(format!("zstd frame of {size} bytes"));
                }
                decompressed = decompressor.decompress(&data[1..], size as usize).map_err(|e| format!("zstd: {e}"))?;
                &decompressed[..]
            }
            other => return Err(format!("unknown flags {other:#04x}")),
        };
        let truncated = || "record ends early".to_string();
        let mut pos = 0;
        let series_count = get_uvarint(body, &mut pos).ok_or_else(truncated)?;
        if series_count > body.len() as u64 {
            return Err(format!("{series_count} series in {} bytes", body.len()));
        }
        self.kinds.clear();
        let mut prev = 0u64;
        for _ in 0..series_count {
            prev = prev.wrapping_add(get_zigzag(body, &mut pos).ok_or_else(truncated)? as u64);
            out.series.push(prev);
            let kind = *body.get(pos).ok_or_else(truncated)?;
            pos += 1;
            if kind > MAX_EXPONENT && kind != KIND_XOR {
                return Err(format!("unknown value kind {kind}"));
            }
            self.kinds.push(kind);
        }
        let sample_count = get_uvarint(body, &mut pos).ok_or_else(truncated)?;
        if sample_count > MAX_RECORD_SAMPLES || sample_count > body.len() as u64 {
            return Err(format!("{sample_count} samples in {} bytes", body.len()));
        }
        out.samples.reserve(sample_count as usize);
        for _ in 0..sample_count {
            let series_ref = get_uvarint(body, &mut pos).ok_or_else(truncated)?;
            if series_ref >= series_count {
                return Err(format!("sample refers to series {series_ref} of {series_count}"));
            }
            out.samples.push((series_ref as u32, 0, 0.0));
        }
        self.state.clear();
        self.state.resize(series_count as usize, SeriesState::default());
        let mut prev_ts = 0i64;
        for sample in &mut out.samples {
            let state = &mut self.state[sample.0 as usize];
            let dod = get_zigzag(body, &mut pos).ok_or_else(truncated)?;
            let ts = if state.seen == 0 {
                prev_ts.wrapping_add(dod)
            } else {
                let delta = state.last_delta.wrapping_add(dod);
                state.last_delta = delta;
                state.last_ts.wrapping_add(delta)
            };
            state.last_ts = ts;
            state.seen += 1;
            prev_ts = ts;
            sample.1 = ts;
        }
        for sample in &mut out.samples {
            let kind = self.kinds[sample.0 as usize];
            let state = &mut self.state[sample.0 as usize];
            sample.2 = if kind == KIND_XOR {
                let raw: [u8; 8] = body.get(pos..pos + 8).and_then(|b| b.try_into().ok()).ok_or_else(truncated)?;
                pos += 8;
                state.last ^= u64::from_le_bytes(raw);
                f64::from_bits(state.last)
            } else {
                let m = (state.last as i64).wrapping_add(get_zigzag(body, &mut pos).ok_or_else(truncated)?);
                state.last = m as u64;
                from_scaled(kind, m)
            };
        }
        if pos != body.len() {
            return Err(format!("{} trailing bytes", body.len() - pos));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<(u32, i64, f64)> {
        let mut samples = Vec::new();
        for t in 0..50i64 {
            for s in 0..3u32 {
                samples.push((s, 1_700_000_000_000 + t * 10_000, (t * 4096 + i64::from(s)) as f64 / 100.0));
            }
        }
        samples.push((1, i64::MIN, f64::from_bits(0x7ff0_0000_0000_0002)));
        samples.push((2, i64::MAX, -0.0));
        samples
    }

    #[test]
    fn records_round_trip_with_and_without_zstd() {
        let series = [7, 3, u64::MAX];
        let samples = samples();
        for level in [0, 1, 3] {
            let record = WalEncoder::new(level).encode(&series, &samples);
            let mut out = WalRecord::default();
            WalDecoder::default().decode(&record, &mut out).unwrap();
            assert_eq!(out.series, series);
            assert_eq!(out.samples.len(), samples.len());
            for (a, b) in out.samples.iter().zip(&samples) {
                assert_eq!((a.0, a.1, a.2.to_bits()), (b.0, b.1, b.2.to_bits()));
            }
        }
    }

    #[test]
    fn random_records_round_trip_bit_for_bit() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(9);
        let mut encoder = WalEncoder::new(1);
        let mut decoder = WalDecoder::default();
        for _ in 0..300 {
            let n = rng.random_range(1..20usize);
            let series: Vec<u64> = (0..n).map(|_| rng.random()).collect();
            let mut samples = Vec::new();
            let mut ts = rng.random_range(-1_000_000i64..1_000_000);
            for _ in 0..rng.random_range(0..200) {
                ts = ts.wrapping_add(rng.random_range(-3..20_000));
                let value = match rng.random_range(0..6) {
                    0 => f64::from_bits(rng.random()),
                    1 => f64::from(rng.random_range(-1000..1000)) / 100.0,
                    2 => (rng.random_range(0..1u64 << 40) * 4096) as f64,
                    3 => -0.0,
                    _ => f64::from(rng.random_range(0..5)),
                };
                samples.push((rng.random_range(0..n as u32), ts, value));
            }
            let record = encoder.encode(&series, &samples);
            let mut out = WalRecord::default();
            decoder.decode(&record, &mut out).unwrap();
            assert_eq!(out.series, series);
            let bits = |s: &[(u32, i64, f64)]| s.iter().map(|(r, t, v)| (*r, *t, v.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&out.samples), bits(&samples));
        }
    }

    #[test]
    fn corrupt_records_are_errors() {
        let record = WalEncoder::new(0).encode(&[1, 2, 3], &samples()[..20]);
        let mut decoder = WalDecoder::default();
        let mut out = WalRecord::default();
        for cut in 0..record.len() {
            assert!(decoder.decode(&record[..cut], &mut out).is_err(), "cut at {cut}");
        }
        let mut bad = record.clone();
        bad[0] = 9;
        assert!(decoder.decode(&bad, &mut out).is_err());
        let zstd = WalEncoder::new(3).encode(&[1, 2, 3], &samples()[..20]);
        assert!(decoder.decode(&zstd[..zstd.len() - 3], &mut out).is_err());
    }
}
