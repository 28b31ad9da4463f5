//! LEB128 varints and zigzag signed varints, with bounds-checked decoding.

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded, so small negative numbers stay short.
#[inline]
pub(crate) fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Reads an unsigned varint at `*pos`, advancing it; `None` when truncated or longer than 10
/// bytes.
#[inline]
pub(crate) fn get_uvarint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Reads a zigzag varint at `*pos`, advancing it.
#[inline]
pub(crate) fn get_zigzag(data: &[u8], pos: &mut usize) -> Option<i64> {
    get_uvarint(data, pos).map(unzigzag)
}

/// Maps signed to unsigned: 0, -1, 1, -2, ... to 0, 1, 2, 3, ...
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_round_trip_and_truncation_is_refused() {
        let values = [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1_700_000_000_000];
        let mut buf = Vec::new();
        for v in values {
            put_zigzag(&mut buf, v);
            put_uvarint(&mut buf, v as u64);
        }
        let mut pos = 0;
        for v in values {
            assert_eq!(get_zigzag(&buf, &mut pos), Some(v));
            assert_eq!(get_uvarint(&buf, &mut pos), Some(v as u64));
        }
        assert_eq!(pos, buf.len());
        assert_eq!(get_uvarint(&[0x80, 0x80], &mut 0), None);
        assert_eq!(get_uvarint(&[0xff; 11], &mut 0), None);
    }
}
