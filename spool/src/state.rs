//! The state file: the removal cursor ("every seq at or below it has left the spool") and
//! the drops not yet reported.
//!
//! ```text
//! "SMSTATE1" | head u64 | next_drop_id u64 | count u32 | count x drop (49 bytes) | crc32
//! drop: id u64 | first_seq u64 | last_seq u64 | entries u64 | bytes u64 | time_ms i64 | reason u8
//! ```
//! All little-endian; the trailing CRC32 covers everything before it. The file is replaced
//! whole (`state.tmp`, then rename), so a reader sees the old or the new version.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::Path;

use crate::drops::{DropReason, Dropped};

const MAGIC: &[u8; 8] = b"SMSTATE1";
const DROP_BYTES: usize = 49;
/// The state file's name in the spool directory.
pub(crate) const STATE_FILE: &str = "state";
const TMP_FILE: &str = "state.tmp";

/// What the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) head: u64,
    pub(crate) next_drop_id: u64,
    pub(crate) drops: Vec<Dropped>,
}

impl State {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.drops.len() * DROP_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.head.to_le_bytes());
        out.extend_from_slice(&self.next_drop_id.to_le_bytes());
        out.extend_from_slice(&(self.drops.len() as u32).to_le_bytes());
        for d in &self.drops {
            for n in [d.id, d.first_seq, d.last_seq, d.entries, d.bytes] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            out.extend_from_slice(&d.time_ms.to_le_bytes());
            out.push(d.reason.code());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<State> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body).to_le_bytes() != crc || body.get(..8)? != MAGIC {
            return None;
        }
        let mut rest = &body[8..];
        let mut u64_ = || -> Option<u64> {
            let (n, tail) = rest.split_first_chunk::<8>()?;
            rest = tail;
            Some(u64::from_le_bytes(*n))
        };
        let head = u64_()?;
        let next_drop_id = u64_()?;
        let (count, mut rest) = body[24..].split_first_chunk::<4>()?;
        let count = u32::from_le_bytes(*count) as usize;
        if rest.len() != count * DROP_BYTES {
            return None;
        }
        let mut drops = Vec::with_capacity(count);
        for _ in 0..count {
            let (d, tail) = rest.split_at(DROP_BYTES);
            rest = tail;
            let n = |i: usize| u64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            drops.push(Dropped {
                id: n(0),
                first_seq: n(1),
                last_seq: n(2),
                entries: n(3),
                bytes: n(4),
                time_ms: n(5) as i64,
                reason: DropReason::from_code(d[48])?,
            });
        }
        Some(State { head, next_drop_id, drops })
    }
}

/// What reading the state file found.
pub(crate) enum Loaded {
    Missing,
    Damaged,
    Found(State),
}

/// Reads the state file of `dir`.
pub(crate) fn load(dir: &Path) -> io::Result<Loaded> {
    match std::fs::read(dir.join(STATE_FILE)) {
        Ok(bytes) => Ok(State::decode(&bytes).map_or(Loaded::Damaged, Loaded::Found)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded::Missing),
        Err(e) => Err(e),
    }
}

/// Replaces the state file of `dir`. With `sync`, the new version is on disk when this
/// returns (file and directory synced); without, a crash of the machine (not of the
/// process) may bring back the previous version.
pub(crate) fn store(dir: &Path, state: &State, sync: bool) -> io::Result<()> {
    let tmp = dir.join(TMP_FILE);
    let mut file = File::create(&tmp)?;
    file.write_all(&state.encode())?;
    if sync {
        file.sync_data()?;
    }
    drop(file);
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes the directory's entries (created, renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes the temporary files a crash left behind (`state.tmp`, `*.seg.tmp`).
pub(crate) fn remove_leftovers(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(TMP_FILE));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".seg.tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let state = State {
            head: 77,
            next_drop_id: 3,
            drops: vec![Dropped {
                id: 2,
                reason: DropReason::Corrupt,
                first_seq: 10,
                last_seq: 12,
                entries: 3,
                bytes: 999,
                time_ms: -5,
            }],
        };
        let bytes = state.encode();
        assert_eq!(State::decode(&bytes), Some(state));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert_eq!(State::decode(&bad), None, "byte {i}");
        }
        assert_eq!(State::decode(&bytes[..bytes.len() - 1]), None);
    }
}
