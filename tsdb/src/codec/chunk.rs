//! The sealed chunk format. Timestamps and values are encoded separately, each with the
//! smallest of a few lossless encodings; the body is zstd-compressed when that is smaller.
//!
//! ```text
//! flags u8 (bit 0: body is zstd) | count uvarint | first_ts zigzag | last_ts - first_ts uvarint
//! body: ts_kind u8 | ts_len uvarint | ts bytes | value_kind u8 | value bytes
//!   ts_kind    0 Gorilla delta-of-delta stream, 1 packed integer sequence
//!   value_kind 0 one constant (8 bytes), 1 Gorilla XOR stream,
//!              2 scaled decimal: exponent u8 + packed integer sequence
//! ```
//!
//! The header stays uncompressed so that queries and retention learn a chunk's time span
//! without decoding it.

use super::decimal::{extend_from_scaled, to_scaled};
use super::gorilla::{GorillaEncoder, GorillaStreams, decode_gorilla_ts, decode_gorilla_values};
use super::intseq::{decode_ints, encode_ints};
use super::varint::{get_uvarint, get_zigzag, put_uvarint, put_zigzag};

const FLAG_ZSTD: u8 = 1;

const TS_GORILLA: u8 = 0;
const TS_INTS: u8 = 1;

const VALUES_CONSTANT: u8 = 0;
const VALUES_GORILLA: u8 = 1;
const VALUES_DECIMAL: u8 = 2;

/// The most samples a chunk may claim; a larger count is corruption.
const MAX_CHUNK_SAMPLES: u64 = 1 << 20;

/// Bodies smaller than this are not worth a zstd frame.
const MIN_ZSTD_BODY: usize = 48;

/// A chunk's uncompressed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkHeader {
    /// Number of samples.
    pub(crate) count: usize,
    /// The first sample's timestamp.
    pub(crate) first_ts: i64,
    /// The last sample's timestamp.
    pub(crate) last_ts: i64,
    flags: u8,
    len: usize,
}

/// Reads a chunk's header.
pub(crate) fn read_header(data: &[u8]) -> Result<ChunkHeader, String> {
    let truncated = || "header ends early".to_string();
    let flags = *data.first().ok_or_else(truncated)?;
    if flags & !FLAG_ZSTD != 0 {
        return Err(format!("unknown flags {flags:#04x}"));
    }
    let mut pos = 1;
    let count = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    if count == 0 || count > MAX_CHUNK_SAMPLES {
        return Err(format!("sample count {count}"));
    }
    let first_ts = get_zigzag(data, &mut pos).ok_or_else(truncated)?;
    let span = get_uvarint(data, &mut pos).ok_or_else(truncated)?;
    Ok(ChunkHeader { count: count as usize, first_ts, last_ts: first_ts.wrapping_add(span as i64), flags, len: pos })
}

/// Encodes sealed chunks, keeping one zstd context for all of them (making a context costs
/// more than compressing a chunk).
pub(crate) struct ChunkEncoder {
    compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl ChunkEncoder {
    /// An encoder compressing at `zstd_level`, 0 for none.
    pub(crate) fn new(zstd_level: i32) -> ChunkEncoder {
        let compressor = if zstd_level != 0 { zstd::bulk::Compressor::new(zstd_level).ok() } else { None };
        ChunkEncoder { compressor }
    }

    /// Encodes samples (at least one, timestamps increasing) as a sealed chunk. `gorilla`,
    /// when given, must hold the same samples: a head chunk's streams are reused instead of
    /// encoding them again.
    pub(crate) fn encode(&mut self, ts: &[i64], values: &[f64], gorilla: Option<&GorillaStreams>) -> Vec<u8> {
        let body = encode_body(ts, values, gorilla);
        let compressed = match &mut self.compressor {
            Some(compressor) if body.len() >= MIN_ZSTD_BODY => {
                compressor.compress(&body).ok().filter(|c| c.len() < body.len())
            }
            _ => None,
        };
        let mut out = Vec::with_capacity(body.len() + 24);
        out.push(if compressed.is_some() { FLAG_ZSTD } else { 0 });
        put_uvarint(&mut out, ts.len() as u64);
        put_zigzag(&mut out, ts[0]);
        put_uvarint(&mut out, ts[ts.len() - 1].wrapping_sub(ts[0]) as u64);
        out.extend_from_slice(compressed.as_deref().unwrap_or(&body));
        out
    }
}

fn encode_body(ts: &[i64], values: &[f64], gorilla: Option<&GorillaStreams>) -> Vec<u8> {
    debug_assert_eq!(ts.len(), values.len());
    debug_assert!(!ts.is_empty());
    let encoded;
    let gorilla = match gorilla {
        Some(streams) => streams,
        None => {
            let mut encoder = GorillaEncoder::new();
            for (&t, &v) in ts.iter().zip(values) {
                encoder.append(t, v);
            }
            encoded = encoder.finish();
            &encoded
        }
    };

    let mut body = Vec::with_capacity(gorilla.ts.len() + gorilla.values.len() + 16);
    let mut packed_ts = Vec::new();
    encode_ints(ts, false, &mut packed_ts);
    if packed_ts.len() <= gorilla.ts.len() {
        body.push(TS_INTS);
        put_uvarint(&mut body, packed_ts.len() as u64);
        body.extend_from_slice(&packed_ts);
    } else {
        body.push(TS_GORILLA);
        put_uvarint(&mut body, gorilla.ts.len() as u64);
        body.extend_from_slice(&gorilla.ts);
    }

    let first_bits = values[0].to_bits();
    if values.iter().all(|v| v.to_bits() == first_bits) {
        body.push(VALUES_CONSTANT);
        body.extend_from_slice(&first_bits.to_le_bytes());
    } else {
        let decimal = to_scaled(values).map(|(exponent, ints)| {
            let mut packed = vec![exponent];
            encode_ints(&ints, true, &mut packed);
            packed
        });
        match decimal {
            Some(packed) if packed.len() <= gorilla.values.len() => {
                body.push(VALUES_DECIMAL);
                body.extend_from_slice(&packed);
            }
            _ => {
                body.push(VALUES_GORILLA);
                body.extend_from_slice(&gorilla.values);
            }
        }
    }

    body
}

thread_local! {
    /// One zstd decompression context per reading thread.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn decompress(data: &[u8], bound: usize) -> Result<Vec<u8>, String> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd context: {e}"))?);
        }
        match slot.as_mut() {
            Some(decompressor) => decompressor.decompress(data, bound).map_err(|e| format!("zstd body: {e}")),
            None => Err("no zstd context".to_string()),
        }
    })
}

/// Decodes a sealed chunk, appending its samples to `ts` and `values`.
pub(crate) fn decode_chunk(data: &[u8], ts: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<ChunkHeader, String> {
    let header = read_header(data)?;
    let rest = &data[header.len..];
    let decompressed;
    let body = if header.flags & FLAG_ZSTD != 0 {
        // No valid body is longer than this: 9 bytes per timestamp, 10 per value, and headers.
        let bound = 64 + header.count * 20;
        decompressed = decompress(rest, bound)?;
        &decompressed[..]
    } else {
        rest
    };
    let truncated = || "body ends early".to_string();
    let count = header.count;
    let start = ts.len();
    let mut pos = 0;
    let ts_kind = *body.first().ok_or_else(truncated)?;
    pos += 1;
    let ts_len = get_uvarint(body, &mut pos).ok_or_else(truncated)? as usize;
    let ts_bytes = body.get(pos..pos.saturating_add(ts_len)).ok_or_else(truncated)?;
    pos += ts_len;
    match ts_kind {
        TS_GORILLA => decode_gorilla_ts(ts_bytes, header.first_ts, count, ts)?,
        TS_INTS => decode_ints(ts_bytes, &mut 0, count, Some(header.first_ts), ts)?,
        other => return Err(format!("unknown timestamp encoding {other}")),
    }
    if ts.last() != Some(&header.last_ts) || ts.len() - start != count {
        return Err("timestamps disagree with the header".to_string());
    }
    let value_kind = *body.get(pos).ok_or_else(truncated)?;
    pos += 1;
    let value_bytes = &body[pos..];
    match value_kind {
        VALUES_CONSTANT => {
            let raw: [u8; 8] = value_bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(truncated)?;
            values.extend(std::iter::repeat_n(f64::from_bits(u64::from_le_bytes(raw)), count));
        }
        VALUES_GORILLA => decode_gorilla_values(value_bytes, count, values)?,
        VALUES_DECIMAL => {
            let exponent = *value_bytes.first().ok_or_else(truncated)?;
            if exponent > super::decimal::MAX_EXPONENT {
                return Err(format!("decimal exponent {exponent}"));
            }
            let mut ints = Vec::with_capacity(count);
            decode_ints(value_bytes, &mut 1, count, None, &mut ints)?;
            extend_from_scaled(exponent, &ints, values);
        }
        other => return Err(format!("unknown value encoding {other}")),
    }
    Ok(header)
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
