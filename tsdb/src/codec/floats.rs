//! A column of floats (the reader knows how many) as the smallest of: one constant, scaled
//! decimal integers (see `decimal.rs`) in an integer column, or a Gorilla XOR stream. Rollup
//! runs use it for the value columns that no other column predicts. Bit-exact for every f64.
//!
//! ```text
//! kind u8 | 0: value 8 bytes LE
//!         | 1: length uvarint, XOR stream
//!         | 2: exponent u8, integer column (see `intseq.rs`)
//! ```

use super::decimal::{MAX_EXPONENT, extend_from_scaled, to_scaled};
use super::gorilla::{decode_gorilla_values, encode_xor_values};
use super::intseq::{decode_int_column, encode_int_column};
use super::varint::{get_uvarint, put_uvarint};

const FLOATS_CONSTANT: u8 = 0;
const FLOATS_XOR: u8 = 1;
const FLOATS_DECIMAL: u8 = 2;

/// Appends a column of floats.
pub(crate) fn encode_float_column(values: &[f64], out: &mut Vec<u8>) {
    let Some(first) = values.first() else { return };
    let first_bits = first.to_bits();
    if values.iter().all(|v| v.to_bits() == first_bits) {
        out.push(FLOATS_CONSTANT);
        out.extend_from_slice(&first_bits.to_le_bytes());
        return;
    }
    let decimal = to_scaled(values).map(|(exponent, ints)| {
        let mut packed = vec![FLOATS_DECIMAL, exponent];
        encode_int_column(&ints, &mut packed);
        packed
    });
    let xor = encode_xor_values(values);
    match decimal {
        Some(packed) if packed.len() <= xor.len() + 2 => out.extend_from_slice(&packed),
        _ => {
            out.push(FLOATS_XOR);
            put_uvarint(out, xor.len() as u64);
            out.extend_from_slice(&xor);
        }
    }
}

/// Reads a column of `count` floats written by [`encode_float_column`] at `*pos`, advancing
/// it, into `out` (cleared first). `ints` is scratch space.
pub(crate) fn decode_float_column(
    data: &[u8],
    pos: &mut usize,
    count: usize,
    out: &mut Vec<f64>,
    ints: &mut Vec<i64>,
) -> Result<(), String> {
    out.clear();
    if count == 0 {
        return Ok(());
    }
    let truncated = || "float column ends early".to_string();
    let kind = *data.get(*pos).ok_or_else(truncated)?;
    *pos += 1;
    match kind {
        FLOATS_CONSTANT => {
            let raw: [u8; 8] = data.get(*pos..*pos + 8).and_then(|b| b.try_into().ok()).ok_or_else(truncated)?;
            *pos += 8;
            out.resize(count, f64::from_bits(u64::from_le_bytes(raw)));
        }
        FLOATS_XOR => {
            let len = usize::try_from(get_uvarint(data, pos).ok_or_else(truncated)?).map_err(|_| truncated())?;
            let stream = data.get(*pos..pos.saturating_add(len)).ok_or_else(truncated)?;
            *pos += len;
            decode_gorilla_values(stream, count, out)?;
        }
        FLOATS_DECIMAL => {
            let exponent = *data.get(*pos).ok_or_else(truncated)?;
            *pos += 1;
            if exponent > MAX_EXPONENT {
                return Err(format!("decimal exponent {exponent}"));
            }
            decode_int_column(data, pos, count, ints)?;
            extend_from_scaled(exponent, ints, out);
        }
        other => return Err(format!("unknown float column kind {other}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[f64]) -> usize {
        let mut buf = Vec::new();
        encode_float_column(values, &mut buf);
        buf.extend_from_slice(b"tail");
        let (mut pos, mut out, mut ints) = (0, vec![1.0], Vec::new());
        decode_float_column(&buf, &mut pos, values.len(), &mut out, &mut ints).unwrap();
        let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(values));
        assert_eq!(&buf[pos..], b"tail");
        pos
    }

    #[test]
    fn constants_decimals_and_noise_round_trip() {
        assert_eq!(round_trip(&[f64::NAN; 7]), 9);
        assert_eq!(round_trip(&[]), 0);
        let decimals: Vec<f64> = (0..40).map(|i| 1234.5 + f64::from(i) * 0.25).collect();
        assert!(round_trip(&decimals) < 12);
        round_trip(&[0.1 + 0.2, -0.0, f64::INFINITY, f64::from_bits(0x7ff0_0000_0000_0002), 1e300, f64::MIN_POSITIVE]);
        let mut out = Vec::new();
        assert!(decode_float_column(&[FLOATS_XOR, 5, 0], &mut 0, 2, &mut out, &mut Vec::new()).is_err());
        assert!(decode_float_column(&[FLOATS_DECIMAL, 19, 0], &mut 0, 2, &mut out, &mut Vec::new()).is_err());
        assert!(decode_float_column(&[7], &mut 0, 2, &mut out, &mut Vec::new()).is_err());
    }
}
