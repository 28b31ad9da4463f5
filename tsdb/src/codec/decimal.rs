//! Values that are short decimals (`12345.67`, page-aligned byte counts, integer counters)
//! as integers scaled by a power of ten, as VictoriaMetrics stores them. The conversion is
//! only taken when every value converts back to the very same bits.

/// Exact powers of ten (every one up to 1e22 is exact in f64).
pub(crate) const POW10: [f64; 19] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

/// The largest exponent tried.
pub(crate) const MAX_EXPONENT: u8 = 18;

/// `m / 10^exponent`, the value a scaled integer stands for. With a mantissa below 2^53 both
/// the integer and the power are exact, so the one division rounds correctly: the same value
/// any correct decimal parser gives for that decimal.
#[inline]
pub(crate) fn from_scaled(exponent: u8, m: i64) -> f64 {
    if exponent == 0 { m as f64 } else { m as f64 / POW10[usize::from(exponent).min(POW10.len() - 1)] }
}

/// Appends [`from_scaled`] of every integer in `ints` to `out`.
pub(crate) fn extend_from_scaled(exponent: u8, ints: &[i64], out: &mut Vec<f64>) {
    if exponent == 0 {
        out.extend(ints.iter().map(|&m| m as f64));
        return;
    }
    let power = POW10[usize::from(exponent).min(POW10.len() - 1)];
    // An integer below 2^51 in magnitude converts exactly when added to the bits of
    // 1.5 * 2^52, which then is subtracted as a float: SSE2 has that in vector form, not
    // the conversion of a 64-bit integer (`as f64`), so the loop runs two values at a time,
    // divisions included.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    // A fold with no early exit, which vectorizes too.
    if ints.iter().fold(0, |bits, m| bits | m.unsigned_abs()) < 1 << 51 {
        let magic_bits = MAGIC.to_bits();
        out.extend(ints.iter().map(|&m| (f64::from_bits(magic_bits.wrapping_add(m as u64)) - MAGIC) / power));
    } else {
        out.extend(ints.iter().map(|&m| m as f64 / power));
    }
}

/// `v` as an integer scaled by `10^exponent`, when that is exact bit for bit.
#[inline]
fn scaled(v: f64, exponent: u8) -> Option<i64> {
    // Above 2^53 not every integer is a float, so only exponent 0 (the float is itself an
    // integer) stays exact there.
    let limit = if exponent == 0 { 9.2e18 } else { 9.007_199_254_740_992e15 };
    let x = v * POW10[usize::from(exponent)];
    // NaN fails this test too.
    if x.abs().partial_cmp(&limit) != Some(std::cmp::Ordering::Less) {
        return None;
    }
    let m = x.round() as i64;
    if from_scaled(exponent, m).to_bits() == v.to_bits() {
        return Some(m);
    }
    // The product may be off by one ulp; the neighbours cover that.
    [m.wrapping_sub(1), m.wrapping_add(1)].into_iter().find(|&c| from_scaled(exponent, c).to_bits() == v.to_bits())
}

/// The smallest exponent above `above` at which `v` is an exact scaled integer.
fn exponent_above(v: f64, above: u8) -> Option<u8> {
    if !v.is_finite() {
        return None;
    }
    (above + 1..=MAX_EXPONENT).find(|&e| scaled(v, e).is_some())
}

/// The common exponent and the scaled integers of `values`, when every value converts exactly
/// (no NaN, infinity or -0.0, at most [`MAX_EXPONENT`] decimals).
pub(crate) fn to_scaled(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    let mut exponent = 0u8;
    let mut ints = Vec::with_capacity(values.len());
    // One pass per exponent raise; short decimals need one or two.
    'exponent: loop {
        ints.clear();
        for &v in values {
            match scaled(v, exponent) {
                Some(m) => ints.push(m),
                None => {
                    exponent = exponent_above(v, exponent)?;
                    continue 'exponent;
                }
            }
        }
        return Some((exponent, ints));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_decimals_scale_exactly() {
        let (e, ints) = to_scaled(&[729_732.95, 729_734.54, 729_736.8]).unwrap();
        assert_eq!((e, ints), (2, vec![72_973_295, 72_973_454, 72_973_680]));
        let (e, ints) = to_scaled(&[8_589_934_592.0, 4096.0, 0.0]).unwrap();
        assert_eq!((e, ints), (0, vec![8_589_934_592, 4096, 0]));
        let (e, _) = to_scaled(&[1_700_000_000.123456, 0.001]).unwrap();
        assert_eq!(e, 6);
        assert_eq!(to_scaled(&[1e300]), None);
        assert_eq!(to_scaled(&[-0.0]), None);
        assert_eq!(to_scaled(&[f64::NAN]), None);
        assert_eq!(to_scaled(&[0.1 + 0.2]), None);
        assert_eq!(to_scaled(&[std::f64::consts::PI]), Some((15, vec![3_141_592_653_589_793])));
        assert_eq!(to_scaled(&[1e19]), None);
        assert!(to_scaled(&[9.0e18, -9.0e18]).is_some());
    }

    #[test]
    fn a_run_of_scaled_integers_converts_as_each_one_does() {
        let mut ints = vec![0, 1, -1, 72_973_295, -72_973_295, (1 << 51) - 1, 1 - (1 << 51)];
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ints.push((x >> (x % 40)) as i64 * if x & 1 == 1 { -1 } else { 1 });
        }
        let beyond = [1 << 51, -(1 << 51), (1 << 53) - 1];
        for exponent in 0..=MAX_EXPONENT {
            for ints in [&ints[..], &[ints.as_slice(), &beyond].concat()] {
                let mut out = Vec::new();
                extend_from_scaled(exponent, ints, &mut out);
                let want: Vec<u64> = ints.iter().map(|&m| from_scaled(exponent, m).to_bits()).collect();
                assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "exponent {exponent}");
            }
        }
    }

    #[test]
    fn every_accepted_value_converts_back_bit_for_bit() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let decimals = (x % 8) as i32;
            let v = ((x >> 8) % 10_000_000_000) as f64 / 10f64.powi(decimals);
            let v = if x & 1 == 1 { -v } else { v };
            if let Some((e, ints)) = to_scaled(&[v]) {
                assert_eq!(from_scaled(e, ints[0]).to_bits(), v.to_bits(), "{v}");
            }
        }
    }
}
