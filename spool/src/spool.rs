//! The [`Spool`]: open (with recovery), append, read, ack, drop when full.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::config::{MAX_PAYLOAD_BYTES, SpoolConfig, WhenFull};
use crate::drops::{DropReason, Dropped, now_ms, push_drop};
use crate::error::{Error, Result};
use crate::record::{RECORD_HEADER_BYTES, RecordHeader, encode_header, verify};
use crate::segment::{self, Loc, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC};
use crate::state::{self, Loaded, State};

/// The lock file's name in the spool directory.
const LOCK_FILE: &str = "lock";
/// Acks are written to the state file at most this often (without fsync): a lost ack only
/// makes the caller resend entries the receiver already holds, which it drops by seq.
const ACK_PERSIST_INTERVAL: Duration = Duration::from_secs(1);

/// One spooled entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its seq.
    pub seq: u64,
    /// Its bytes, as appended.
    pub payload: Vec<u8>,
}

/// What an append did besides storing the entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "a drop must be logged and counted"]
pub struct Appended {
    /// The unacknowledged entries removed to make room ([`WhenFull::DropOldest`]). The drop
    /// is also kept in [`Spool::unreported_drops`] until [`Spool::forget_drops`].
    pub dropped: Option<Dropped>,
}

/// What opening the spool found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files read.
    pub segments: usize,
    /// Unacknowledged entries found.
    pub entries: u64,
    /// Bytes cut from the end of the newest segment: a record torn by a crash during an
    /// append, which therefore never returned to its caller.
    pub torn_tail_bytes: u64,
    /// Damaged ranges skipped elsewhere.
    pub damaged_ranges: usize,
    /// Bytes in those ranges.
    pub damaged_bytes: u64,
    /// Whether the state file was missing or damaged (a fresh spool has none).
    pub state_lost: bool,
}

struct Segment {
    base: u64,
    path: PathBuf,
    /// File length = where the next record goes.
    len: u64,
    entries: Vec<Loc>,
    /// Entries at the front that were acked or dropped.
    consumed: usize,
}

impl Segment {
    fn live(&self) -> &[Loc] {
        &self.entries[self.consumed..]
    }
}

/// A bounded, crash-safe, on-disk FIFO queue of opaque payloads keyed by rising seqs.
///
/// [`append`](Spool::append) returns once the entry is on disk (fdatasync). Entries stay
/// until [`ack`](Spool::ack)ed or dropped. [`read_after`](Spool::read_after) reads them in
/// seq order. When the next entry would take the segment files over `max_bytes`, the
/// [`WhenFull`] policy decides. Every method blocks on file I/O: async callers run them on a
/// blocking thread. The methods take `&mut self`; share a spool behind a mutex.
///
/// # Examples
/// ```
/// use sysmon_spool::{Spool, SpoolConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut spool = Spool::open(SpoolConfig::new(dir.path())).unwrap();
/// let _ = spool.append(1, b"first").unwrap();
/// let _ = spool.append(2, b"second").unwrap();
/// spool.ack(1).unwrap();
/// let entry = spool.read_after(0).unwrap().unwrap();
/// assert_eq!((entry.seq, entry.payload.as_slice()), (2, &b"second"[..]));
/// drop(spool);
/// // Reopened, it holds what was not acked and goes on after the highest seq.
/// let spool = Spool::open(SpoolConfig::new(dir.path())).unwrap();
/// assert_eq!((spool.len(), spool.next_seq()), (1, 3));
/// ```
pub struct Spool {
    config: SpoolConfig,
    segment_bytes: u64,
    _lock: File,
    segments: VecDeque<Segment>,
    /// The newest segment, open for writing.
    writer: File,
    /// A write or sync of the newest segment failed: start a new one before writing again.
    writer_failed: bool,
    reader: Option<(u64, File)>,
    state: State,
    state_dirty: bool,
    state_written: Instant,
    next_seq: u64,
    disk_bytes: u64,
    live_entries: u64,
    live_bytes: u64,
    recovery: Recovery,
    scratch: Vec<u8>,
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`, recovering from a crash: a torn record
    /// at the end of the newest segment is cut off, damaged records elsewhere are skipped
    /// (and recorded as [`DropReason::Corrupt`] drops when seqs are missing), and every
    /// valid record is kept. Both are logged at `warn`.
    ///
    /// # Errors
    /// A bad config, a directory held by another spool ([`Error::Locked`]), or I/O errors.
    pub fn open(config: SpoolConfig) -> Result<Spool> {
        config.check()?;
        let dir = config.dir.clone();
        let dir_err = |source| Error::OpenDir { dir: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(dir_err)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(dir_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked { dir, lock: lock_path }),
            Err(TryLockError::Error(e)) => return Err(dir_err(e)),
        }
        state::remove_leftovers(&dir);
        let mut recovery = Recovery::default();
        let mut state = match state::load(&dir).map_err(dir_err)? {
            Loaded::Found(state) => state,
            Loaded::Missing => State::default(),
            Loaded::Damaged => {
                warn!(dir = %dir.display(), "spool state file damaged; acked entries may be sent again");
                recovery.state_lost = true;
                State::default()
            }
        };
        let mut bases: Vec<u64> = std::fs::read_dir(&dir)
            .map_err(dir_err)?
            .filter_map(|e| e.ok().and_then(|e| segment::parse_file_name(&e.file_name().to_string_lossy())))
            .collect();
        bases.sort_unstable();

        let mut segments = VecDeque::with_capacity(bases.len());
        let mut drops_found = false;
        let mut to_rewrite = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let path = dir.join(segment::file_name(base));
            let upper = bases.get(i + 1).copied().unwrap_or(u64::MAX);
            let newest = i + 1 == bases.len();
            let scan = segment::scan(&path, base, upper)
                .map_err(|source| Error::ReadSegment { path: path.clone(), source })?;
            let mut len = scan.file_len;
            let mut damaged_inside = false;
            for damage in &scan.damaged {
                let at_tail = newest && damage.next_seq.is_none();
                if at_tail {
                    recovery.torn_tail_bytes += damage.len;
                    warn!(segment = %path.display(), offset = damage.offset, bytes = damage.len, "spool segment has a torn tail (a crash during an append); cut off");
                    continue;
                }
                damaged_inside = true;
                recovery.damaged_ranges += 1;
                recovery.damaged_bytes += damage.len;
                let last_missing = damage.next_seq.unwrap_or(upper).saturating_sub(1);
                let missing = last_missing.saturating_sub(damage.prev_seq);
                warn!(segment = %path.display(), offset = damage.offset, bytes = damage.len, missing_seqs = missing, "spool segment has damaged bytes; skipped");
                if missing > 0 && damage.prev_seq + 1 > state.head {
                    drops_found = true;
                    state.next_drop_id += 1;
                    push_drop(
                        &mut state.drops,
                        Dropped {
                            id: state.next_drop_id,
                            reason: DropReason::Corrupt,
                            first_seq: damage.prev_seq + 1,
                            last_seq: last_missing,
                            entries: missing,
                            bytes: damage.len,
                            time_ms: now_ms(),
                        },
                    );
                }
            }
            if damaged_inside || (newest && !scan.header_ok) {
                to_rewrite.push(i);
            } else if newest && scan.valid_end < scan.file_len {
                let err = |source| Error::WriteSegment { path: path.clone(), source };
                let file = OpenOptions::new().write(true).open(&path).map_err(err)?;
                file.set_len(scan.valid_end).map_err(err)?;
                file.sync_all().map_err(err)?;
                len = scan.valid_end;
            }
            let consumed = scan.entries.partition_point(|l| l.seq <= state.head);
            segments.push_back(Segment { base, path, len, entries: scan.entries, consumed });
        }
        if drops_found {
            // The drops are on disk before the damaged bytes are cleaned away, so a crash in
            // between reports them twice rather than never.
            state::store(&dir, &state, true)
                .map_err(|source| Error::WriteState { path: dir.join(state::STATE_FILE), source })?;
        }
        for i in to_rewrite {
            let segment = &mut segments[i];
            let upper = bases.get(i + 1).copied().unwrap_or(u64::MAX);
            rewrite_segment(&dir, segment, upper)?;
        }
        recovery.segments = segments.len();

        let highest = segments.iter().rev().find_map(|s| s.entries.last()).map_or(0, |l| l.seq);
        let newest_base = segments.back().map_or(0, |s| s.base);
        let next_seq = state.head.saturating_add(1).max(highest.saturating_add(1)).max(newest_base).max(1);
        let segment_bytes = config.effective_segment_bytes();
        let writer = match segments.back() {
            Some(s) => OpenOptions::new()
                .write(true)
                .open(&s.path)
                .map_err(|source| Error::WriteSegment { path: s.path.clone(), source })?,
            None => {
                let (segment, file) = create_segment(&dir, next_seq)?;
                segments.push_back(segment);
                file
            }
        };
        let mut spool = Spool {
            config,
            segment_bytes,
            _lock: lock,
            segments,
            writer,
            writer_failed: false,
            reader: None,
            state,
            state_dirty: false,
            state_written: Instant::now(),
            next_seq,
            disk_bytes: 0,
            live_entries: 0,
            live_bytes: 0,
            recovery,
            scratch: Vec::new(),
        };
        spool.remove_consumed_segments()?;
        spool.recount();
        spool.recovery.entries = spool.live_entries;
        info!(
            dir = %spool.config.dir.display(),
            entries = spool.live_entries,
            bytes = spool.disk_bytes,
            next_seq = spool.next_seq,
            "spool opened"
        );
        Ok(spool)
    }

    /// Stores `payload` under `seq` and returns once it is on disk. `seq` must be at least
    /// [`next_seq`](Spool::next_seq); gaps are allowed.
    ///
    /// # Errors
    /// [`Error::SeqNotIncreasing`], [`Error::EntryTooLarge`], [`Error::Full`] (policy
    /// [`WhenFull::Block`]; nothing changed), or an I/O error (the entry is not stored;
    /// the next append starts a new segment).
    pub fn append(&mut self, seq: u64, payload: &[u8]) -> Result<Appended> {
        if seq < self.next_seq {
            return Err(Error::SeqNotIncreasing { seq, next_seq: self.next_seq });
        }
        let record = RECORD_HEADER_BYTES + payload.len() as u64;
        if payload.len() > MAX_PAYLOAD_BYTES || record + 2 * SEGMENT_HEADER_BYTES > self.config.max_bytes {
            return Err(Error::EntryTooLarge { payload_bytes: payload.len(), max_bytes: self.config.max_bytes });
        }
        let mut dropped: Option<Dropped> = None;
        let mut doomed: Vec<PathBuf> = Vec::new();
        loop {
            let active = self.segments.back().expect("a spool always has a newest segment");
            let rotate = self.writer_failed || (!active.entries.is_empty() && active.len + record > self.segment_bytes);
            let needed = record + if rotate { SEGMENT_HEADER_BYTES } else { 0 };
            if self.disk_bytes + needed <= self.config.max_bytes {
                if rotate {
                    self.rotate(seq)?;
                }
                break;
            }
            if !active.entries.is_empty() && active.live().is_empty() {
                // The newest segment holds only acked entries: a new segment lets it go.
                self.rotate(seq)?;
                continue;
            }
            if self.config.when_full == WhenFull::Block {
                return Err(Error::Full {
                    needed_bytes: needed,
                    spool_bytes: self.disk_bytes,
                    max_bytes: self.config.max_bytes,
                });
            }
            if self.segments.len() == 1 {
                // Only the newest segment is left: start another, so the old one can go.
                self.rotate(seq)?;
                continue;
            }
            let oldest = self.segments.pop_front().expect("more than one segment");
            self.disk_bytes -= oldest.len;
            self.reader = None;
            let live = oldest.live();
            if let (Some(first), Some(last)) = (live.first(), live.last()) {
                let bytes: u64 = live.iter().map(Loc::record_bytes).sum();
                self.live_entries -= live.len() as u64;
                self.live_bytes -= bytes;
                self.state.head = self.state.head.max(last.seq);
                let d = dropped.get_or_insert(Dropped {
                    id: 0,
                    reason: DropReason::Full,
                    first_seq: first.seq,
                    last_seq: last.seq,
                    entries: 0,
                    bytes: 0,
                    time_ms: now_ms(),
                });
                d.last_seq = last.seq;
                d.entries += live.len() as u64;
                d.bytes += bytes;
            }
            doomed.push(oldest.path);
        }
        if let Some(d) = &mut dropped {
            self.state.next_drop_id += 1;
            d.id = self.state.next_drop_id;
            push_drop(&mut self.state.drops, d.clone());
            // The caller logs and counts it (it knows what the entries are).
            debug!(
                first_seq = d.first_seq,
                last_seq = d.last_seq,
                entries = d.entries,
                "spool full; oldest entries dropped"
            );
        }
        if !doomed.is_empty() {
            // The drop is on disk before the entries disappear, so a crash cannot lose its report.
            self.persist_state(true)?;
            for path in doomed {
                std::fs::remove_file(&path).map_err(|source| Error::WriteSegment { path, source })?;
            }
        }
        self.write_record(seq, payload)?;
        Ok(Appended { dropped })
    }

    fn write_record(&mut self, seq: u64, payload: &[u8]) -> Result<()> {
        let active = self.segments.back_mut().expect("a spool always has a newest segment");
        self.scratch.clear();
        self.scratch.extend_from_slice(&encode_header(seq, payload));
        self.scratch.extend_from_slice(payload);
        let offset = active.len;
        let written = self.writer.write_all_at(&self.scratch, offset).and_then(|()| self.writer.sync_data());
        if let Err(source) = written {
            self.writer_failed = true;
            // Best effort: leave no partial record behind (recovery would cut it anyway).
            let _ = self.writer.set_len(offset);
            return Err(Error::WriteSegment { path: active.path.clone(), source });
        }
        let record = self.scratch.len() as u64;
        active.entries.push(Loc { seq, offset: offset as u32, len: payload.len() as u32 });
        active.len += record;
        self.disk_bytes += record;
        self.live_entries += 1;
        self.live_bytes += record;
        self.next_seq = seq + 1;
        Ok(())
    }

    /// Closes the newest segment and starts one whose base is `base`.
    fn rotate(&mut self, base: u64) -> Result<()> {
        let (segment, file) = create_segment(&self.config.dir, base)?;
        debug!(base, "spool segment started");
        self.disk_bytes += segment.len;
        self.segments.push_back(segment);
        self.writer = file;
        self.writer_failed = false;
        self.remove_consumed_segments()
    }

    /// Removes every entry with seq at or below `up_to`: they were delivered. Whole
    /// segments are deleted as soon as nothing in them is left. Acking past the highest
    /// seq also raises [`next_seq`](Spool::next_seq).
    ///
    /// The cursor is written to the state file at most once a second, without fsync (see
    /// the crate docs); [`flush`](Spool::flush) writes it now.
    ///
    /// # Errors
    /// A segment file could not be removed, or the state file written.
    pub fn ack(&mut self, up_to: u64) -> Result<()> {
        if up_to <= self.state.head {
            return Ok(());
        }
        self.state.head = up_to;
        self.next_seq = self.next_seq.max(up_to.saturating_add(1));
        for segment in &mut self.segments {
            let live = segment.live();
            let n = live.partition_point(|l| l.seq <= up_to);
            let bytes: u64 = live[..n].iter().map(Loc::record_bytes).sum();
            segment.consumed += n;
            self.live_entries -= n as u64;
            self.live_bytes -= bytes;
            if segment.consumed < segment.entries.len() {
                break;
            }
        }
        self.remove_consumed_segments()?;
        self.state_dirty = true;
        if self.state_written.elapsed() >= ACK_PERSIST_INTERVAL {
            self.persist_state(false)?;
        }
        Ok(())
    }

    /// The first entry with seq above `after` (and above everything acked or dropped).
    /// Each read checks the record's checksum again; a record damaged since the spool was
    /// opened is skipped, logged and recorded as a [`DropReason::Corrupt`] drop.
    ///
    /// # Errors
    /// A segment file could not be read.
    pub fn read_after(&mut self, after: u64) -> Result<Option<Entry>> {
        loop {
            let after = after.max(self.state.head);
            let Some((si, ei)) = self.position_after(after) else { return Ok(None) };
            let segment = &self.segments[si];
            let loc = segment.entries[ei];
            if self.reader.as_ref().is_none_or(|(base, _)| *base != segment.base) {
                let file = File::open(&segment.path)
                    .map_err(|source| Error::ReadSegment { path: segment.path.clone(), source })?;
                self.reader = Some((segment.base, file));
            }
            let (_, file) = self.reader.as_ref().expect("set above");
            let mut header = [0u8; 16];
            let mut payload = vec![0u8; loc.len as usize];
            let read = file
                .read_exact_at(&mut header, u64::from(loc.offset))
                .and_then(|()| file.read_exact_at(&mut payload, u64::from(loc.offset) + RECORD_HEADER_BYTES));
            match read {
                Ok(()) => {
                    let h = RecordHeader::parse(&header);
                    if h.seq == loc.seq && h.len == loc.len && verify(&h, &payload) {
                        return Ok(Some(Entry { seq: loc.seq, payload }));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                Err(source) => return Err(Error::ReadSegment { path: segment.path.clone(), source }),
            }
            self.forget_damaged(si, ei)?;
        }
    }

    /// Iterates over the entries with seq above `after`, in order.
    pub fn iter_after(&mut self, after: u64) -> Iter<'_> {
        Iter { spool: self, after }
    }

    fn position_after(&self, after: u64) -> Option<(usize, usize)> {
        for (si, segment) in self.segments.iter().enumerate() {
            if segment.entries.last().is_none_or(|l| l.seq <= after) {
                continue;
            }
            let start = segment.consumed + segment.live().partition_point(|l| l.seq <= after);
            if start < segment.entries.len() {
                return Some((si, start));
            }
        }
        None
    }

    fn forget_damaged(&mut self, si: usize, ei: usize) -> Result<()> {
        let segment = &mut self.segments[si];
        let loc = segment.entries.remove(ei);
        warn!(segment = %segment.path.display(), seq = loc.seq, offset = loc.offset, "spool record damaged since it was written; skipped");
        self.live_entries -= 1;
        self.live_bytes -= loc.record_bytes();
        self.state.next_drop_id += 1;
        push_drop(
            &mut self.state.drops,
            Dropped {
                id: self.state.next_drop_id,
                reason: DropReason::Corrupt,
                first_seq: loc.seq,
                last_seq: loc.seq,
                entries: 1,
                bytes: loc.record_bytes(),
                time_ms: now_ms(),
            },
        );
        self.persist_state(true)
    }

    /// Drops not yet reported by the caller, oldest first (at most 64; older ones are merged).
    pub fn unreported_drops(&self) -> &[Dropped] {
        &self.state.drops
    }

    /// Forgets the drops with id at or below `through_id`: the caller has reported them.
    ///
    /// # Errors
    /// The state file could not be written.
    pub fn forget_drops(&mut self, through_id: u64) -> Result<()> {
        let before = self.state.drops.len();
        self.state.drops.retain(|d| d.id > through_id);
        if self.state.drops.len() != before {
            self.persist_state(false)?;
        }
        Ok(())
    }

    /// Writes the state file now and syncs it.
    ///
    /// # Errors
    /// The state file could not be written.
    pub fn flush(&mut self) -> Result<()> {
        self.persist_state(true)
    }

    fn persist_state(&mut self, sync: bool) -> Result<()> {
        state::store(&self.config.dir, &self.state, sync)
            .map_err(|source| Error::WriteState { path: self.config.dir.join(state::STATE_FILE), source })?;
        self.state_dirty = false;
        self.state_written = Instant::now();
        Ok(())
    }

    /// Deletes the segments before the newest that hold nothing unacknowledged.
    fn remove_consumed_segments(&mut self) -> Result<()> {
        while self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.live().is_empty()) {
            let segment = self.segments.pop_front().expect("checked above");
            self.disk_bytes = self.disk_bytes.saturating_sub(segment.len);
            if self.reader.as_ref().is_some_and(|(base, _)| *base == segment.base) {
                self.reader = None;
            }
            std::fs::remove_file(&segment.path)
                .map_err(|source| Error::WriteSegment { path: segment.path.clone(), source })?;
        }
        Ok(())
    }

    fn recount(&mut self) {
        self.disk_bytes = self.segments.iter().map(|s| s.len).sum();
        self.live_entries = self.segments.iter().map(|s| s.live().len() as u64).sum();
        self.live_bytes = self.segments.iter().flat_map(|s| s.live()).map(Loc::record_bytes).sum();
    }

    /// Unacknowledged entries.
    pub fn len(&self) -> u64 {
        self.live_entries
    }

    /// Whether no entry waits for an ack.
    pub fn is_empty(&self) -> bool {
        self.live_entries == 0
    }

    /// Bytes the unacknowledged entries take on disk, record headers included.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Bytes the segment files take: what `max_bytes` bounds. Above
    /// [`live_bytes`](Spool::live_bytes) by the acked entries of partly acked segments and
    /// the segment headers.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    /// The size limit.
    pub fn max_bytes(&self) -> u64 {
        self.config.max_bytes
    }

    /// The lowest seq the next append may use: above every seq appended, acked or dropped,
    /// across restarts.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Every seq at or below this has left the spool (acked or dropped).
    pub fn head_seq(&self) -> u64 {
        self.state.head
    }

    /// The oldest unacknowledged entry's seq.
    pub fn first_seq(&self) -> Option<u64> {
        self.segments.iter().find_map(|s| s.live().first()).map(|l| l.seq)
    }

    /// The newest unacknowledged entry's seq.
    pub fn last_seq(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| s.live().last()).map(|l| l.seq)
    }

    /// Segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// What opening found and repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.state_dirty {
            // Best effort: a lost cursor only resends delivered entries.
            let _ = state::store(&self.config.dir, &self.state, false);
        }
    }
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.config.dir)
            .field("entries", &self.live_entries)
            .field("disk_bytes", &self.disk_bytes)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// The entries after a seq, in order; from [`Spool::iter_after`].
pub struct Iter<'a> {
    spool: &'a mut Spool,
    after: u64,
}

impl Iterator for Iter<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.spool.read_after(self.after) {
            Ok(Some(entry)) => {
                self.after = entry.seq;
                Some(Ok(entry))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Creates the segment file with base `base`: header written, file and directory synced.
fn create_segment(dir: &Path, base: u64) -> Result<(Segment, File)> {
    let path = dir.join(segment::file_name(base));
    let err = |source| Error::WriteSegment { path: path.clone(), source };
    let file = OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(err)?;
    file.write_all_at(SEGMENT_MAGIC, 0).map_err(err)?;
    file.sync_all().map_err(err)?;
    state::sync_dir(dir).map_err(err)?;
    Ok((Segment { base, path, len: SEGMENT_HEADER_BYTES, entries: Vec::new(), consumed: 0 }, file))
}

/// Rewrites `segment` with only its valid records (damaged bytes gone, header repaired), so
/// that damage is reported once: written beside it, synced, renamed over it.
fn rewrite_segment(dir: &Path, segment: &mut Segment, upper: u64) -> Result<()> {
    let tmp = segment.path.with_extension("seg.tmp");
    let err = |source| Error::WriteSegment { path: segment.path.clone(), source };
    let source =
        File::open(&segment.path).map_err(|source| Error::ReadSegment { path: segment.path.clone(), source })?;
    let out = OpenOptions::new().create(true).truncate(true).write(true).open(&tmp).map_err(err)?;
    out.write_all_at(SEGMENT_MAGIC, 0).map_err(err)?;
    let mut at = SEGMENT_HEADER_BYTES;
    let mut buf = Vec::new();
    for loc in &segment.entries {
        buf.resize(loc.record_bytes() as usize, 0);
        source
            .read_exact_at(&mut buf, u64::from(loc.offset))
            .map_err(|source| Error::ReadSegment { path: segment.path.clone(), source })?;
        out.write_all_at(&buf, at).map_err(err)?;
        at += buf.len() as u64;
    }
    out.sync_all().map_err(err)?;
    std::fs::rename(&tmp, &segment.path).map_err(err)?;
    state::sync_dir(dir).map_err(err)?;
    let scan = segment::scan(&segment.path, segment.base, upper)
        .map_err(|source| Error::ReadSegment { path: segment.path.clone(), source })?;
    let consumed = segment.consumed;
    debug_assert_eq!(scan.entries.len(), segment.entries.len());
    segment.entries = scan.entries;
    segment.consumed = consumed.min(segment.entries.len());
    segment.len = scan.file_len;
    info!(segment = %segment.path.display(), entries = segment.entries.len(), "spool segment rewritten without its damaged bytes");
    Ok(())
}
