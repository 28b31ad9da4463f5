//! In-memory head chunks: the unsealed samples of every series, Gorilla-encoded as they
//! arrive, and the chunks cut from them that wait for the sealer.
//!
//! Each unsealed chunk remembers the WAL record of its first sample. The lowest such record
//! (or the first record not yet applied here) is the WAL's low-water mark: every record
//! below it is fully sealed and may be deleted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::codec::{GorillaEncoder, GorillaStreams};
use crate::partition::partition_of;

/// When a head chunk is cut.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    /// Cut once a chunk holds this many samples.
    pub(crate) max_samples: u32,
    /// Cut before a sample would make a chunk span more than this.
    pub(crate) max_span_ms: i64,
}

/// What became of an appended sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendOutcome {
    /// Stored.
    Appended,
    /// Older than the series' last sample, or at the same time with another value, or in a
    /// partition retention has deleted: refused.
    OutOfOrder,
    /// The same time and value bits as the series' last sample: ignored.
    Duplicate,
}

/// The chunk a series is appending to.
#[derive(Debug)]
struct OpenChunk {
    encoder: GorillaEncoder,
    first_wal: u64,
    opened_at_ms: i64,
}

/// A chunk cut from a head, waiting to be sealed. Readers still see it until it is.
#[derive(Debug)]
pub(crate) struct FrozenChunk {
    /// Its series.
    pub(crate) series: u64,
    /// Its samples.
    pub(crate) streams: GorillaStreams,
    /// The WAL record of its first sample.
    pub(crate) first_wal: u64,
    /// Its last timestamp.
    pub(crate) last_ts: i64,
    /// Its last value's bits.
    pub(crate) last_bits: u64,
}

/// One series' unsealed samples and what the engine knows of its time range.
#[derive(Debug)]
struct SeriesHead {
    open: Option<OpenChunk>,
    frozen: VecDeque<Arc<FrozenChunk>>,
    /// The last accepted sample's (ts, value bits), sealed or not.
    last: Option<(i64, u64)>,
    /// Oldest and newest timestamps the series holds anywhere (`MAX`/`MIN` when none).
    min_ts: i64,
    max_ts: i64,
}

impl SeriesHead {
    fn new() -> SeriesHead {
        SeriesHead { open: None, frozen: VecDeque::new(), last: None, min_ts: i64::MAX, max_ts: i64::MIN }
    }
}

/// A read's copy of one series' unsealed samples.
#[derive(Debug, Default)]
pub(crate) struct HeadData {
    /// Frozen chunks, oldest first.
    pub(crate) frozen: Vec<Arc<FrozenChunk>>,
    /// The open chunk's streams.
    pub(crate) open: Option<GorillaStreams>,
}

impl HeadData {
    /// Every sample, oldest first, appended to `ts` and `values`.
    pub(crate) fn decode_into(&self, ts: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<(), String> {
        for chunk in &self.frozen {
            chunk.streams.decode_into(ts, values)?;
        }
        if let Some(open) = &self.open {
            open.decode_into(ts, values)?;
        }
        Ok(())
    }
}

/// Every series' head.
#[derive(Debug)]
pub(crate) struct Heads {
    series: FxHashMap<u64, SeriesHead>,
    to_seal: VecDeque<Arc<FrozenChunk>>,
    /// Multiset of the first WAL record of every unsealed chunk (open or frozen).
    unsealed_wal: BTreeMap<u64, u32>,
    /// Multiset of the first timestamp of every unsealed chunk.
    unsealed_ts: BTreeMap<i64, u32>,
    /// Every WAL record below this has been applied to the heads.
    applied_wal: u64,
    samples: u64,
    chunks: usize,
    /// The newest timestamp ever appended or sealed.
    max_ts: i64,
    limits: HeadLimits,
    /// Per series, the newest bucket start of the rollups received from elsewhere.
    rollup_extent: FxHashMap<u64, i64>,
    /// Samples before this are refused: retention deleted their partition.
    refuse_before: i64,
}

fn multiset_add<K: Ord>(set: &mut BTreeMap<K, u32>, key: K) {
    *set.entry(key).or_insert(0) += 1;
}

fn multiset_remove<K: Ord>(set: &mut BTreeMap<K, u32>, key: K) {
    if let Some(n) = set.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            set.remove(&key);
        }
    }
}

fn freeze(id: u64, head: &mut SeriesHead, to_seal: &mut VecDeque<Arc<FrozenChunk>>) {
    if let Some(open) = head.open.take() {
        let chunk = Arc::new(FrozenChunk {
            series: id,
            first_wal: open.first_wal,
            last_ts: open.encoder.last_ts(),
            last_bits: open.encoder.last_bits(),
            streams: open.encoder.finish(),
        });
        head.frozen.push_back(chunk.clone());
        to_seal.push_back(chunk);
    }
}

impl Heads {
    /// No heads; WAL records from `applied_wal` on are still to come.
    pub(crate) fn new(limits: HeadLimits, applied_wal: u64) -> Heads {
        Heads {
            series: FxHashMap::default(),
            to_seal: VecDeque::new(),
            unsealed_wal: BTreeMap::new(),
            unsealed_ts: BTreeMap::new(),
            applied_wal,
            samples: 0,
            chunks: 0,
            max_ts: i64::MIN,
            limits,
            rollup_extent: FxHashMap::default(),
            refuse_before: i64::MIN,
        }
    }

    /// Records what is sealed of a series (at open): its time range and last sample.
    pub(crate) fn load_sealed(&mut self, id: u64, min_ts: i64, max_ts: i64, last_bits: u64) {
        let head = self.series.entry(id).or_insert_with(SeriesHead::new);
        head.last = Some((max_ts, last_bits));
        head.min_ts = head.min_ts.min(min_ts);
        head.max_ts = head.max_ts.max(max_ts);
        self.max_ts = self.max_ts.max(max_ts);
    }

    /// Appends a sample of series `id` that arrived in WAL record `wal`.
    #[inline]
    pub(crate) fn append(&mut self, id: u64, ts: i64, value: f64, wal: u64, now_ms: i64) -> AppendOutcome {
        if ts < self.refuse_before {
            return AppendOutcome::OutOfOrder;
        }
        let head = self.series.entry(id).or_insert_with(SeriesHead::new);
        let bits = value.to_bits();
        if let Some((last_ts, last_bits)) = head.last {
            if ts < last_ts {
                return AppendOutcome::OutOfOrder;
            }
            if ts == last_ts {
                return if bits == last_bits { AppendOutcome::Duplicate } else { AppendOutcome::OutOfOrder };
            }
        }
        if let Some(open) = &head.open {
            // A chunk lies within one partition (see `partition.rs`). A full chunk is cut when
            // the next sample comes.
            let first = open.encoder.first_ts();
            if partition_of(ts) != partition_of(first)
                || open.encoder.count() >= self.limits.max_samples
                || ts.saturating_sub(first) > self.limits.max_span_ms
            {
                freeze(id, head, &mut self.to_seal);
            }
        }
        let open = head.open.get_or_insert_with(|| {
            multiset_add(&mut self.unsealed_wal, wal);
            multiset_add(&mut self.unsealed_ts, ts);
            self.chunks += 1;
            OpenChunk { encoder: GorillaEncoder::new(), first_wal: wal, opened_at_ms: now_ms }
        });
        open.encoder.append(ts, value);
        head.last = Some((ts, bits));
        head.min_ts = head.min_ts.min(ts);
        head.max_ts = head.max_ts.max(ts);
        self.max_ts = self.max_ts.max(ts);
        self.samples += 1;
        AppendOutcome::Appended
    }

    /// Every WAL record below `next` is now applied.
    pub(crate) fn set_applied_wal(&mut self, next: u64) {
        self.applied_wal = next;
    }

    /// Chunks waiting for the sealer.
    pub(crate) fn pending_seal(&self) -> usize {
        self.to_seal.len()
    }

    /// Takes up to `max` frozen chunks to seal, oldest first. They stay visible to readers
    /// until [`Heads::finish_seal`].
    pub(crate) fn take_for_seal(&mut self, max: usize) -> Vec<Arc<FrozenChunk>> {
        let n = max.min(self.to_seal.len());
        self.to_seal.drain(..n).collect()
    }

    /// Puts chunks whose sealing failed back at the front of the queue.
    pub(crate) fn return_unsealed(&mut self, chunks: Vec<Arc<FrozenChunk>>) {
        for chunk in chunks.into_iter().rev() {
            self.to_seal.push_front(chunk);
        }
    }

    /// The WAL low-water mark once `sealing` is sealed: the lowest record some other unsealed
    /// chunk still needs, or the first record not yet applied.
    pub(crate) fn wal_low_water(&self, sealing: &[Arc<FrozenChunk>]) -> u64 {
        let mut leaving: BTreeMap<u64, u32> = BTreeMap::new();
        for chunk in sealing {
            multiset_add(&mut leaving, chunk.first_wal);
        }
        self.unsealed_wal
            .iter()
            .find(|(wal, n)| **n > leaving.get(wal).copied().unwrap_or(0))
            .map_or(self.applied_wal, |(wal, _)| (*wal).min(self.applied_wal))
    }

    /// Forgets chunks that are now sealed.
    pub(crate) fn finish_seal(&mut self, sealed: &[Arc<FrozenChunk>]) {
        for chunk in sealed {
            if let Some(head) = self.series.get_mut(&chunk.series)
                && let Some(pos) = head.frozen.iter().position(|c| Arc::ptr_eq(c, chunk))
            {
                head.frozen.remove(pos);
            }
            multiset_remove(&mut self.unsealed_wal, chunk.first_wal);
            multiset_remove(&mut self.unsealed_ts, chunk.streams.first_ts);
            self.samples = self.samples.saturating_sub(u64::from(chunk.streams.count));
            self.chunks = self.chunks.saturating_sub(1);
        }
    }

    /// Cuts every open chunk opened before `before_ms`; returns how many.
    pub(crate) fn freeze_opened_before(&mut self, before_ms: i64) -> usize {
        let mut n = 0;
        for (&id, head) in &mut self.series {
            if head.open.as_ref().is_some_and(|o| o.opened_at_ms < before_ms) {
                freeze(id, head, &mut self.to_seal);
                n += 1;
            }
        }
        n
    }

    /// Cuts every open chunk; returns how many.
    pub(crate) fn freeze_all(&mut self) -> usize {
        self.freeze_opened_before(i64::MAX)
    }

    /// The first timestamp of the oldest unsealed chunk.
    pub(crate) fn oldest_unsealed_ts(&self) -> Option<i64> {
        self.unsealed_ts.keys().next().copied()
    }

    /// The newest timestamp ever appended or sealed (`i64::MIN` before any).
    pub(crate) fn max_ts(&self) -> i64 {
        self.max_ts
    }

    /// Whether series `id` holds data that may overlap `[start, end]`.
    pub(crate) fn overlaps(&self, id: u64, start: i64, end: i64) -> bool {
        self.series.get(&id).is_some_and(|h| h.min_ts <= h.max_ts && h.min_ts <= end && h.max_ts >= start)
    }

    /// Whether series `id` may hold data in `[start, end]`, its received rollups included:
    /// those count from their newest bucket back (their oldest is not tracked; retention
    /// removes a series once it holds nothing). What the series and label listings use.
    pub(crate) fn may_hold(&self, id: u64, start: i64, end: i64) -> bool {
        let received = self
            .rollup_extent
            .get(&id)
            .is_some_and(|&newest| newest.saturating_add(crate::rollup::Tier::Hour.width_ms()) > start);
        received || self.overlaps(id, start, end)
    }

    /// A copy of series `id`'s unsealed chunks that may overlap `[start, end]`.
    pub(crate) fn snapshot(&self, id: u64, start: i64, end: i64) -> HeadData {
        let Some(head) = self.series.get(&id) else { return HeadData::default() };
        let frozen = head.frozen.iter().filter(|c| c.streams.first_ts <= end && c.last_ts >= start).cloned().collect();
        let open = head
            .open
            .as_ref()
            .filter(|o| o.encoder.first_ts() <= end && o.encoder.last_ts() >= start)
            .map(|o| o.encoder.snapshot());
        HeadData { frozen, open }
    }

    /// Retention deleted every partition before `cutoff`'s (a partition start): a series with
    /// nothing unsealed and nothing since holds no sample anymore; the others hold none before
    /// the cutoff, or before their oldest unsealed sample. Never above a sample still held, so
    /// a read may look where nothing is left, never skip what is. Samples before the cutoff
    /// are refused from now on.
    pub(crate) fn raise_min_ts(&mut self, cutoff: i64) {
        let bound = partition_of(cutoff);
        // A sample there would land in a deleted partition, past its rollups' materialization.
        self.refuse_before = self.refuse_before.max(bound);
        for head in self.series.values_mut() {
            let unsealed =
                head.frozen.front().map(|c| c.streams.first_ts).or(head.open.as_ref().map(|o| o.encoder.first_ts()));
            if unsealed.is_none() && head.max_ts < cutoff {
                head.min_ts = i64::MAX;
                head.max_ts = i64::MIN;
            } else {
                head.min_ts = head.min_ts.max(unsealed.map_or(bound, |u| u.min(bound)));
            }
        }
    }

    /// Rollups received from elsewhere for series `id` reach the bucket starting at `start`.
    pub(crate) fn note_rollup_extent(&mut self, id: u64, start: i64) {
        let extent = self.rollup_extent.entry(id).or_insert(start);
        *extent = (*extent).max(start);
    }

    /// Whether series `id` holds nothing once retention has deleted every raw sample before
    /// `raw_cutoff` and every bucket of a tier ending at or before its cutoff
    /// (`tier_cutoffs`): no unsealed sample, no sealed one since `raw_cutoff`, and no bucket of
    /// its samples or of the rollups received for it left in any tier.
    pub(crate) fn holds_nothing(&self, id: u64, raw_cutoff: i64, tier_cutoffs: &[(crate::rollup::Tier, i64)]) -> bool {
        if !self.is_sealed_entirely(id) {
            return false;
        }
        // The newest sample ever accepted, which retention does not forget.
        let sealed = self.series.get(&id).and_then(|h| h.last).map_or(i64::MIN, |(ts, _)| ts);
        let newest = sealed.max(self.rollup_extent.get(&id).copied().unwrap_or(i64::MIN));
        if newest == i64::MIN {
            return true;
        }
        sealed < raw_cutoff
            && tier_cutoffs
                .iter()
                .all(|&(tier, cutoff)| tier.bucket_start(newest).saturating_add(tier.width_ms()) <= cutoff)
    }

    /// Whether series `id` holds no unsealed sample.
    pub(crate) fn is_sealed_entirely(&self, id: u64) -> bool {
        self.series.get(&id).is_none_or(|h| h.open.is_none() && h.frozen.is_empty())
    }

    /// Forgets series `id`, which holds no unsealed sample.
    pub(crate) fn remove(&mut self, id: u64) {
        if self.is_sealed_entirely(id) {
            self.series.remove(&id);
            self.rollup_extent.remove(&id);
        }
    }

    /// Unsealed samples held.
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// Unsealed chunks held (open and frozen).
    pub(crate) fn chunks(&self) -> usize {
        self.chunks
    }

    /// Approximate bytes held by head chunks and per-series state.
    pub(crate) fn memory_bytes(&self) -> usize {
        let per_series = std::mem::size_of::<(u64, SeriesHead)>() + 8;
        self.series
            .values()
            .map(|h| {
                per_series
                    + h.open.as_ref().map_or(0, |o| o.encoder.memory_bytes())
                    + h.frozen
                        .iter()
                        .map(|c| std::mem::size_of::<FrozenChunk>() + c.streams.ts.len() + c.streams.values.len())
                        .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(max_samples: u32) -> Heads {
        Heads::new(HeadLimits { max_samples, max_span_ms: 100_000 }, 0)
    }

    fn decode(data: &HeadData) -> Vec<(i64, f64)> {
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        data.decode_into(&mut ts, &mut values).unwrap();
        ts.into_iter().zip(values).collect()
    }

    #[test]
    fn refuses_out_of_order_and_ignores_duplicates() {
        let mut heads = heads(100);
        assert_eq!(heads.append(1, 10, 1.0, 0, 0), AppendOutcome::Appended);
        assert_eq!(heads.append(1, 10, 1.0, 0, 0), AppendOutcome::Duplicate);
        assert_eq!(heads.append(1, 10, 2.0, 0, 0), AppendOutcome::OutOfOrder);
        assert_eq!(heads.append(1, 5, 2.0, 0, 0), AppendOutcome::OutOfOrder);
        assert_eq!(heads.append(1, 20, 2.0, 1, 0), AppendOutcome::Appended);
        assert_eq!(heads.append(2, 5, 2.0, 1, 0), AppendOutcome::Appended);
        assert_eq!(decode(&heads.snapshot(1, i64::MIN, i64::MAX)), [(10, 1.0), (20, 2.0)]);
        assert_eq!(heads.samples(), 3);
        // After a restart the sealed last sample still decides.
        let mut heads = self::heads(100);
        heads.load_sealed(1, 0, 10, 1f64.to_bits());
        assert_eq!(heads.append(1, 10, 1.0, 0, 0), AppendOutcome::Duplicate);
        assert_eq!(heads.append(1, 9, 1.0, 0, 0), AppendOutcome::OutOfOrder);
    }

    #[test]
    fn chunks_are_cut_where_a_partition_ends() {
        use crate::partition::PARTITION_MS;
        let mut heads = heads(3);
        // Full at the partition's last sample: cut when the next one comes, in the next one.
        for ts in [PARTITION_MS - 3, PARTITION_MS - 2, PARTITION_MS - 1, PARTITION_MS, PARTITION_MS + 1] {
            heads.append(1, ts, 1.0, 0, 0);
        }
        heads.freeze_all();
        let taken = heads.take_for_seal(10);
        let cuts: Vec<(i64, u32)> = taken.iter().map(|c| (c.streams.first_ts, c.streams.count)).collect();
        assert_eq!(cuts, [(PARTITION_MS - 3, 3), (PARTITION_MS, 2)]);
    }

    #[test]
    fn full_and_long_chunks_are_cut_and_the_wal_low_water_follows_sealing() {
        let mut heads = heads(3);
        for (wal, ts) in [(0, 0), (1, 10), (2, 20), (3, 30), (4, 200_000)] {
            heads.append(1, ts, 1.0, wal, 0);
        }
        heads.append(2, 5, 1.0, 2, 0);
        heads.set_applied_wal(5);
        // Series 1: [0, 10, 20] full, [30] cut by span, [200000] open; series 2: [5] open.
        assert_eq!(heads.pending_seal(), 2);
        assert_eq!(heads.wal_low_water(&[]), 0);
        let taken = heads.take_for_seal(1);
        assert_eq!(heads.wal_low_water(&taken), 2);
        heads.finish_seal(&taken);
        assert_eq!(heads.wal_low_water(&[]), 2);
        assert_eq!(decode(&heads.snapshot(1, i64::MIN, i64::MAX)), [(30, 1.0), (200_000, 1.0)]);
        assert_eq!(heads.oldest_unsealed_ts(), Some(5));
        heads.freeze_all();
        let taken = heads.take_for_seal(10);
        assert_eq!(taken.len(), 3);
        assert_eq!(heads.wal_low_water(&taken), 5);
        heads.return_unsealed(taken);
        let taken = heads.take_for_seal(10);
        heads.finish_seal(&taken);
        assert_eq!((heads.samples(), heads.chunks(), heads.oldest_unsealed_ts()), (0, 0, None));
        assert!(heads.is_sealed_entirely(1));
    }
}
