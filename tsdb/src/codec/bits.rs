//! A bit writer and reader, most significant bit first.

/// Appends bit fields to a byte buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits not yet moved to `bytes`, in the low `pending` bits.
    acc: u128,
    pending: u32,
}

impl BitWriter {
    /// An empty writer.
    pub(crate) fn new() -> BitWriter {
        BitWriter::default()
    }

    /// Appends the low `n` bits of `value` (`n` at most 64).
    #[inline]
    pub(crate) fn write_bits(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let masked = if n == 64 { value } else { value & ((1u64 << n) - 1) };
        self.acc = (self.acc << n) | u128::from(masked);
        self.pending += n;
        if self.pending >= 64 {
            let word = (self.acc >> (self.pending - 64)) as u64;
            self.bytes.extend_from_slice(&word.to_be_bytes());
            self.pending -= 64;
            self.acc &= (1u128 << self.pending) - 1;
        }
    }

    /// Appends one bit.
    #[inline]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// How many bits were written.
    #[cfg(test)]
    pub(crate) fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + self.pending as usize
    }

    /// The bytes written so far, the last one padded with zero bits, without consuming the
    /// writer (readers copy a head chunk that is still being appended to).
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 8);
        out.extend_from_slice(&self.bytes);
        push_pending(&mut out, self.acc, self.pending);
        out
    }

    /// The bytes written, the last one padded with zero bits.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        push_pending(&mut self.bytes, self.acc, self.pending);
        self.bytes
    }

    /// Bytes the writer holds, for memory accounting.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.bytes.capacity() + 16
    }
}

fn push_pending(out: &mut Vec<u8>, acc: u128, pending: u32) {
    let mut left = pending;
    while left >= 8 {
        out.push((acc >> (left - 8)) as u8);
        left -= 8;
    }
    if left > 0 {
        out.push(((acc << (8 - left)) & 0xff) as u8);
    }
}

/// Reads bit fields written by [`BitWriter`]; every read is bounds-checked and returns `None`
/// past the end, so corrupt input cannot panic.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, pos: 0 }
    }

    /// Reads `n` bits (at most 64) as the low bits of the result.
    #[inline]
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Some(0);
        }
        if self.pos + n as usize > self.data.len() * 8 {
            return None;
        }
        if n > 56 {
            let high = self.read_bits(n - 32)?;
            let low = self.read_bits(32)?;
            return Some((high << 32) | low);
        }
        let byte = self.pos / 8;
        let shift = (self.pos % 8) as u32;
        let word = match self.data.get(byte..byte + 8) {
            // Away from the end: one unaligned load, no copy of a variable length.
            Some(eight) => u64::from_be_bytes(eight.try_into().expect("a slice of 8 bytes")),
            None => {
                let mut window = [0u8; 8];
                let available = (self.data.len() - byte).min(8);
                window[..available].copy_from_slice(&self.data[byte..byte + available]);
                u64::from_be_bytes(window)
            }
        };
        self.pos += n as usize;
        Some((word << shift) >> (64 - n))
    }

    /// Reads one bit.
    #[inline]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        self.read_bits(1).map(|b| b == 1)
    }

    /// Counts leading one bits, up to `max`, consuming them and the terminating zero (when the
    /// count stops below `max`). This reads Gorilla's unary bucket prefixes.
    #[inline]
    pub(crate) fn read_unary(&mut self, max: u32) -> Option<u32> {
        let mut ones = 0;
        while ones < max {
            if !self.read_bit()? {
                break;
            }
            ones += 1;
        }
        Some(ones)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_every_width_round_trip() {
        let mut writer = BitWriter::new();
        let fields: Vec<(u64, u32)> =
            (0..=64).map(|n| (0xdead_beef_cafe_f00d_u64.rotate_left(n) & mask(n), n)).collect();
        for &(v, n) in &fields {
            writer.write_bits(v, n);
        }
        let total: u32 = fields.iter().map(|f| f.1).sum();
        assert_eq!(writer.bit_len(), total as usize);
        let snapshot = writer.snapshot();
        let bytes = writer.finish();
        assert_eq!(snapshot, bytes);
        assert_eq!(bytes.len(), (total as usize).div_ceil(8));
        let mut reader = BitReader::new(&bytes);
        for &(v, n) in &fields {
            assert_eq!(reader.read_bits(n), Some(v), "width {n}");
        }
    }

    #[test]
    fn reading_past_the_end_is_none() {
        let mut writer = BitWriter::new();
        writer.write_bits(0b101, 3);
        let bytes = writer.finish();
        let mut reader = BitReader::new(&bytes);
        assert_eq!(reader.read_bits(3), Some(0b101));
        assert_eq!(reader.read_bits(5), Some(0));
        assert_eq!(reader.read_bit(), None);
        assert_eq!(BitReader::new(&[]).read_bits(64), None);
    }

    fn mask(n: u32) -> u64 {
        if n == 64 { u64::MAX } else { (1u64 << n) - 1 }
    }
}
