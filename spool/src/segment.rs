//! Segment files: their names, their 8-byte header, and the recovery scan that finds every
//! valid record in a file, skipping damaged bytes.
//!
//! A segment is named after its base seq, zero-padded so names sort like seqs
//! (`00000000000000000042.seg`): every record in it has a seq at or above the base and
//! below the next segment's base. After the header come records back to back
//! ([`crate::record`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use crate::config::MAX_PAYLOAD_BYTES;
use crate::record::{RECORD_HEADER_BYTES, RecordHeader};

/// The first bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"SMSPOOL1";
/// Bytes of the segment header.
pub(crate) const SEGMENT_HEADER_BYTES: u64 = 8;
const SUFFIX: &str = ".seg";
/// Chunk size for streaming checksums and the resync window.
const CHUNK: usize = 64 * 1024;

/// The file name of the segment with base seq `base`.
pub(crate) fn file_name(base: u64) -> String {
    format!("{base:020}{SUFFIX}")
}

/// The base seq named by a segment file name, if it is one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Where one record lives in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) seq: u64,
    /// Offset of the record header in the file.
    pub(crate) offset: u32,
    /// Payload length.
    pub(crate) len: u32,
}

impl Loc {
    /// Bytes the record takes on disk, header included.
    pub(crate) fn record_bytes(&self) -> u64 {
        RECORD_HEADER_BYTES + u64::from(self.len)
    }
}

/// A damaged byte range found by [`scan`], with the valid records around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) offset: u64,
    pub(crate) len: u64,
    /// The seq of the last valid record before it (or the segment's base minus one).
    pub(crate) prev_seq: u64,
    /// The seq of the first valid record after it in this segment, if any.
    pub(crate) next_seq: Option<u64>,
}

/// What [`scan`] found in one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) entries: Vec<Loc>,
    /// End of the last valid record (at least the header's end when the file holds one).
    pub(crate) valid_end: u64,
    pub(crate) file_len: u64,
    pub(crate) header_ok: bool,
    pub(crate) damaged: Vec<Damage>,
}

/// Reads every valid record of the segment at `path` with base seq `base`; seqs must rise
/// and stay below `upper` (the next segment's base). A record whose checksum, length or seq
/// is wrong starts a damaged range, which ends at the next offset where a valid record
/// starts: damage in the middle of a file loses only the damaged records.
pub(crate) fn scan(path: &Path, base: u64, upper: u64) -> io::Result<Scan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut magic = [0u8; 8];
    let header_ok = file_len >= SEGMENT_HEADER_BYTES && {
        file.read_exact_at(&mut magic, 0)?;
        &magic == SEGMENT_MAGIC
    };
    let mut scanner = Scanner { file: &file, file_len, upper, buf: vec![0; CHUNK] };
    let mut entries = Vec::new();
    let mut damaged = Vec::new();
    let mut min_seq = base.max(1);
    let mut pos = SEGMENT_HEADER_BYTES;
    let mut valid_end = SEGMENT_HEADER_BYTES.min(file_len);
    while pos < file_len {
        if let Some(header) = scanner.record_at(pos, min_seq)? {
            entries.push(Loc { seq: header.seq, offset: pos as u32, len: header.len });
            min_seq = header.seq + 1;
            pos += RECORD_HEADER_BYTES + u64::from(header.len);
            valid_end = pos;
            continue;
        }
        let next = scanner.resync(pos + 1, min_seq)?;
        let end = next.map_or(file_len, |(offset, _)| offset);
        damaged.push(Damage {
            offset: pos,
            len: end - pos,
            prev_seq: min_seq - 1,
            next_seq: next.map(|(_, header)| header.seq),
        });
        pos = end;
    }
    Ok(Scan { entries, valid_end, file_len, header_ok, damaged })
}

struct Scanner<'a> {
    file: &'a File,
    file_len: u64,
    upper: u64,
    buf: Vec<u8>,
}

impl Scanner<'_> {
    /// Cheap checks of a header at `pos`, before its checksum is computed.
    fn plausible(&self, header: &RecordHeader, pos: u64, min_seq: u64) -> bool {
        header.seq >= min_seq
            && header.seq < self.upper
            && (header.len as usize) <= MAX_PAYLOAD_BYTES
            && pos + RECORD_HEADER_BYTES + u64::from(header.len) <= self.file_len
    }

    /// The header of the valid record at `pos`, if one starts there.
    fn record_at(&mut self, pos: u64, min_seq: u64) -> io::Result<Option<RecordHeader>> {
        if pos + RECORD_HEADER_BYTES > self.file_len {
            return Ok(None);
        }
        let mut bytes = [0u8; 16];
        self.file.read_exact_at(&mut bytes, pos)?;
        let header = RecordHeader::parse(&bytes);
        if !self.plausible(&header, pos, min_seq) {
            return Ok(None);
        }
        Ok(self.checksum_ok(&header, pos)?.then_some(header))
    }

    fn checksum_ok(&mut self, header: &RecordHeader, pos: u64) -> io::Result<bool> {
        let mut hasher = header.hasher();
        let mut at = pos + RECORD_HEADER_BYTES;
        let mut left = header.len as usize;
        while left > 0 {
            let n = left.min(self.buf.len());
            self.file.read_exact_at(&mut self.buf[..n], at)?;
            hasher.update(&self.buf[..n]);
            at += n as u64;
            left -= n;
        }
        Ok(hasher.finalize() == header.crc)
    }

    /// The first offset at or after `from` where a valid record starts, reading the file in
    /// windows and checksumming only the candidates whose header is plausible.
    fn resync(&mut self, from: u64, min_seq: u64) -> io::Result<Option<(u64, RecordHeader)>> {
        let mut window = vec![0u8; CHUNK + RECORD_HEADER_BYTES as usize];
        let mut start = from;
        while start + RECORD_HEADER_BYTES <= self.file_len {
            let n = window.len().min((self.file_len - start) as usize);
            self.file.read_exact_at(&mut window[..n], start)?;
            for i in 0..=(n - RECORD_HEADER_BYTES as usize) {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&window[i..i + 16]);
                let header = RecordHeader::parse(&bytes);
                let pos = start + i as u64;
                if self.plausible(&header, pos, min_seq) && self.checksum_ok(&header, pos)? {
                    return Ok(Some((pos, header)));
                }
            }
            start += (n - (RECORD_HEADER_BYTES as usize - 1)) as u64;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode_header;

    fn write_segment(path: &Path, records: &[(u64, &[u8])]) -> Vec<u64> {
        let mut bytes = SEGMENT_MAGIC.to_vec();
        let mut offsets = Vec::new();
        for (seq, payload) in records {
            offsets.push(bytes.len() as u64);
            bytes.extend_from_slice(&encode_header(*seq, payload));
            bytes.extend_from_slice(payload);
        }
        std::fs::write(path, &bytes).unwrap();
        offsets
    }

    #[test]
    fn names_sort_like_seqs_and_round_trip() {
        assert_eq!(file_name(42), "00000000000000000042.seg");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("42.seg"), None);
        assert_eq!(parse_file_name("0000000000000000004x.seg"), None);
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn damage_in_the_middle_loses_only_the_damaged_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(1));
        let offsets = write_segment(&path, &[(1, b"one"), (2, b"two two"), (3, b"three")]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offsets[1] as usize + 18] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let scan = scan(&path, 1, u64::MAX).unwrap();
        assert_eq!(scan.entries.iter().map(|l| l.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(
            scan.damaged,
            [Damage { offset: offsets[1], len: offsets[2] - offsets[1], prev_seq: 1, next_seq: Some(3) }]
        );
        assert_eq!(scan.valid_end, bytes.len() as u64);
    }

    #[test]
    fn seqs_must_rise_and_stay_below_the_next_base() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(5));
        write_segment(&path, &[(5, b"a"), (7, b"b"), (6, b"c"), (9, b"d")]);
        let scan = scan(&path, 5, 9).unwrap();
        assert_eq!(scan.entries.iter().map(|l| l.seq).collect::<Vec<_>>(), [5, 7]);
        assert_eq!(scan.damaged.len(), 1);
        assert_eq!(scan.damaged[0].next_seq, None);
    }
}
