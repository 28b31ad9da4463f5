//! Write-ahead log records: one per committed batch, in the `tsdb_wal` table keyed by a
//! record number that only grows.
//!
//! ```text
//! flags u8 (bit 0: body is zstd)
//! body: series count uvarint | series ids as zigzag deltas |
//!       sample count uvarint | per sample: series ref uvarint (index into the ids),
//!       ts zigzag delta from the previous sample's ts, value bits XOR the previous value
//!       of the same series, 8 bytes little-endian
//! ```
//!
//! The XOR leaves the high bytes of slowly moving values zero, which zstd then squeezes.

use crate::codec::{get_uvarint, get_zigzag, put_uvarint, put_zigzag};

const FLAG_ZSTD: u8 = 1;

/// Most samples a record may claim; more is corruption.
const MAX_RECORD_SAMPLES: u64 = 1 << 26;

/// Encodes WAL records, keeping one zstd context.
pub(crate) struct WalEncoder {
    compressor: Option<zstd::bulk::Compressor<'static>>,
    body: Vec<u8>,
    last_bits: Vec<u64>,
}

impl WalEncoder {
    /// An encoder compressing at `zstd_level`, 0 for none.
    pub(crate) fn new(zstd_level: i32) -> WalEncoder {
        let compressor = if zstd_level != 0 { zstd::bulk::Compressor::new(zstd_level).ok() } else { None };
        WalEncoder { compressor, body: Vec::new(), last_bits: Vec::new() }
    }

    /// The record of a batch whose series have ids `series` and whose samples refer to them
    /// by index. Refs must be valid indexes into `series`.
    pub(crate) fn encode(&mut self, series: &[u64], samples: &[(u32, i64, f64)]) -> Vec<u8> {
        let body = &mut self.body;
        body.clear();
        body.reserve(series.len() * 3 + samples.len() * 11 + 16);
        put_uvarint(body, series.len() as u64);
        let mut prev = 0u64;
        for &id in series {
            put_zigzag(body, id.wrapping_sub(prev) as i64);
            prev = id;
        }
        put_uvarint(body, samples.len() as u64);
        self.last_bits.clear();
        self.last_bits.resize(series.len(), 0);
        let mut prev_ts = 0i64;
        for &(series_ref, ts, value) in samples {
            put_uvarint(body, u64::from(series_ref));
            put_zigzag(body, ts.wrapping_sub(prev_ts));
            prev_ts = ts;
            let bits = value.to_bits();
            let slot = &mut self.last_bits[series_ref as usize];
            body.extend_from_slice(&(bits ^ *slot).to_le_bytes());
            *slot = bits;
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
        let mut prev = 0u64;
        for _ in 0..series_count {
            prev = prev.wrapping_add(get_zigzag(body, &mut pos).ok_or_else(truncated)? as u64);
            out.series.push(prev);
        }
        let sample_count = get_uvarint(body, &mut pos).ok_or_else(truncated)?;
        if sample_count > MAX_RECORD_SAMPLES || sample_count > body.len() as u64 {
            return Err(format!("{sample_count} samples in {} bytes", body.len()));
        }
        out.samples.reserve(sample_count as usize);
        let mut last_bits = vec![0u64; out.series.len()];
        let mut ts = 0i64;
        for _ in 0..sample_count {
            let series_ref = get_uvarint(body, &mut pos).ok_or_else(truncated)?;
            let slot = last_bits
                .get_mut(series_ref as usize)
                .ok_or_else(|| format!("sample refers to series {series_ref} of {series_count}"))?;
            ts = ts.wrapping_add(get_zigzag(body, &mut pos).ok_or_else(truncated)?);
            let raw: [u8; 8] = body.get(pos..pos + 8).and_then(|b| b.try_into().ok()).ok_or_else(truncated)?;
            pos += 8;
            *slot ^= u64::from_le_bytes(raw);
            out.samples.push((series_ref as u32, ts, f64::from_bits(*slot)));
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
