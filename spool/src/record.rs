//! One entry as stored in a segment file: a 16-byte header, then the payload.
//!
//! ```text
//! offset  size  field
//! 0       4     crc32 (IEEE, little-endian) of bytes 4..16 and the payload
//! 4       4     payload length in bytes, little-endian
//! 8       8     seq, little-endian
//! 16      len   payload
//! ```
//!
//! The checksum covers the length and the seq, so a torn or flipped header is caught as
//! surely as a damaged payload.

/// Bytes of a record header.
pub(crate) const RECORD_HEADER_BYTES: u64 = 16;

/// A record header as read from disk, not yet checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub(crate) crc: u32,
    pub(crate) len: u32,
    pub(crate) seq: u64,
}

impl RecordHeader {
    /// Parses the first 16 bytes of `bytes`.
    pub(crate) fn parse(bytes: &[u8; 16]) -> Self {
        let word = |range: std::ops::Range<usize>| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[range]);
            u32::from_le_bytes(b)
        };
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[8..16]);
        Self { crc: word(0..4), len: word(4..8), seq: u64::from_le_bytes(seq) }
    }

    /// A hasher already fed with this header's checked fields; feed it the payload next.
    pub(crate) fn hasher(&self) -> crc32fast::Hasher {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&self.len.to_le_bytes());
        hasher.update(&self.seq.to_le_bytes());
        hasher
    }
}

/// Frames `payload` under `seq`: the header to write before it.
pub(crate) fn encode_header(seq: u64, payload: &[u8]) -> [u8; 16] {
    let len = u32::try_from(payload.len()).expect("the spool refuses payloads over MAX_PAYLOAD_BYTES before framing");
    let mut header = RecordHeader { crc: 0, len, seq };
    let mut hasher = header.hasher();
    hasher.update(payload);
    header.crc = hasher.finalize();
    let mut out = [0u8; 16];
    out[0..4].copy_from_slice(&header.crc.to_le_bytes());
    out[4..8].copy_from_slice(&header.len.to_le_bytes());
    out[8..16].copy_from_slice(&header.seq.to_le_bytes());
    out
}

/// Whether `payload` matches `header`'s checksum.
pub(crate) fn verify(header: &RecordHeader, payload: &[u8]) -> bool {
    let mut hasher = header.hasher();
    hasher.update(payload);
    hasher.finalize() == header.crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_catches_any_flipped_bit() {
        let payload = b"hello spool";
        let bytes = encode_header(42, payload);
        let header = RecordHeader::parse(&bytes);
        assert_eq!((header.len, header.seq), (11, 42));
        assert!(verify(&header, payload));
        for bit in 0..(16 * 8) {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!verify(&RecordHeader::parse(&flipped), payload), "bit {bit} of the header");
        }
        let mut bad = *payload;
        bad[3] ^= 0x10;
        assert!(!verify(&header, &bad));
    }
}
