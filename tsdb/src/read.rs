//! Queries: raw samples (sealed chunks merged with head chunks), series, label names and
//! values, and rollup buckets.
//!
//! A read copies the heads it needs first and opens its redb snapshot second. A chunk the
//! sealer commits in between is then seen twice (in the copy and the snapshot), never zero
//! times; the merge keeps only head samples newer than the last sealed one.

use std::cell::RefCell;
use std::collections::BTreeSet;

use redb::ReadableDatabase as _;

use crate::codec::{decode_chunk, read_header};
use crate::error::{Error, Result};
use crate::head::HeadData;
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::pack::{PACKS, index};
use crate::rollup::{
    HOUR_PACKS, RollupPoint, RunScratch, Tier, decode_packed, decode_run, latest_per_bucket, run_extent,
};
use crate::schema::CHUNKS;
use crate::shared::Shared;

/// A series and its samples in a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// The series' labels.
    pub labels: Labels,
    /// `(unix ms, value)`, sorted by time, each time once.
    pub samples: Vec<(i64, f64)>,
}

/// A series' samples as two columns, lent by [`crate::Tsdb::select_with`]: times and values
/// side by side, sorted by time, each time once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleColumns<'a> {
    timestamps: &'a [i64],
    values: &'a [f64],
}

impl<'a> SampleColumns<'a> {
    /// The samples `(timestamps[i], values[i])`.
    ///
    /// # Panics
    /// The columns differ in length.
    pub fn new(timestamps: &'a [i64], values: &'a [f64]) -> SampleColumns<'a> {
        assert_eq!(timestamps.len(), values.len(), "sample columns differ in length");
        SampleColumns { timestamps, values }
    }

    /// The samples' times (unix ms).
    pub fn timestamps(&self) -> &'a [i64] {
        self.timestamps
    }

    /// The samples' values.
    pub fn values(&self) -> &'a [f64] {
        self.values
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// The samples as `(unix ms, value)` pairs.
    pub fn to_pairs(&self) -> Vec<(i64, f64)> {
        self.timestamps.iter().copied().zip(self.values.iter().copied()).collect()
    }
}

/// A series and its rollup buckets in a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Buckets sorted by start.
    pub points: Vec<RollupPoint>,
}

/// The ids of the series matching `matchers` whose data may overlap `[start, end]`.
fn matching_ids(shared: &Shared, matchers: &[Matcher], start: i64, end: i64) -> Vec<u64> {
    let ids = shared.index.read().select(matchers);
    let heads = shared.heads.lock();
    ids.into_iter().filter(|&id| heads.overlaps(id, start, end)).collect()
}

/// The series matching `matchers` that may hold samples or received rollups in `[start, end]`.
fn listed_ids(shared: &Shared, matchers: &[Matcher], start: i64, end: i64) -> Vec<u64> {
    let ids = shared.index.read().select(matchers);
    let heads = shared.heads.lock();
    ids.into_iter().filter(|&id| heads.may_hold(id, start, end)).collect()
}

/// Labels of `ids` (skipping series removed meanwhile).
fn labels_of(shared: &Shared, ids: &[u64]) -> Vec<(u64, Labels)> {
    let index = shared.index.read();
    ids.iter().filter_map(|&id| index.labels(id).map(|l| (id, l.clone()))).collect()
}

fn read_err(what: &'static str) -> impl Fn(redb::Error) -> Error {
    move |source| Error::ReadData { what, source }
}

/// Below this many series one thread decodes them all.
const PARALLEL_MIN_SERIES: usize = 256;

/// Every series matching `matchers` with at least one sample in `[start, end]`, with those
/// samples, sorted by labels.
pub(crate) fn select(shared: &Shared, matchers: &[Matcher], start: i64, end: i64) -> Result<Vec<SeriesData>> {
    let series = select_with(shared, matchers, start, end, &|_, samples| Some(samples.to_pairs()))?;
    Ok(series.into_iter().map(|(labels, samples)| SeriesData { labels, samples }).collect())
}

/// `per_series` of every series matching `matchers` with at least one sample in `[start,
/// end]` and of those samples, where it gives a value, sorted by labels. Many series are
/// decoded on up to 4 threads, each over its own snapshot (every snapshot holds at least
/// what the head copies miss; see the module doc); `per_series` runs on the thread that
/// decoded the series, over the columns it was decoded into (reused for the next one), while
/// the samples are still in the CPU's caches.
pub(crate) fn select_with<T: Send>(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    per_series: &(impl Fn(&Labels, SampleColumns<'_>) -> Option<T> + Sync),
) -> Result<Vec<(Labels, T)>> {
    if start > end {
        return Ok(Vec::new());
    }
    let ids = matching_ids(shared, matchers, start, end);
    let mut series: Vec<(u64, HeadData)> = {
        let heads = shared.heads.lock();
        ids.iter().map(|&id| (id, heads.snapshot(id, start, end))).collect()
    };
    // In id order, each part walks every partition's packs forward once (seeking past
    // packs that hold none of its series).
    series.sort_unstable_by_key(|(id, _)| *id);
    series.dedup_by_key(|(id, _)| *id);
    let partitions = shared.chunk_partitions.within(start, end);
    let packed = shared.pack_partitions.within(start, end);
    let loose = shared.loose_partitions.within(start, end);
    let partitions = Partitions { all: &partitions, packed: &packed, loose: &loose };
    let threads = if series.len() >= PARALLEL_MIN_SERIES {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        1
    };
    let total = series.len();
    let mut out = if threads <= 1 {
        select_part(shared, series, partitions, start, end, per_series)?
    } else {
        let part = total.div_ceil(threads);
        let mut parts = Vec::with_capacity(threads);
        let mut rest = series.into_iter();
        for _ in 0..threads {
            parts.push(rest.by_ref().take(part).collect::<Vec<_>>());
        }
        std::thread::scope(|scope| {
            let workers: Vec<_> = parts
                .into_iter()
                .map(|p| scope.spawn(move || select_part(shared, p, partitions, start, end, per_series)))
                .collect();
            let mut out = Vec::with_capacity(total);
            for worker in workers {
                out.extend(worker.join().map_err(|_| Error::ReadWorker)??);
            }
            Ok::<_, Error>(out)
        })?
    };
    // Each part is sorted already: this merges their runs.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The partitions a read visits: all that hold chunks, and of them those with packs and
/// those that may have chunks in the chunk table.
#[derive(Clone, Copy)]
struct Partitions<'a> {
    all: &'a [i64],
    packed: &'a [i64],
    loose: &'a [i64],
}

/// A walk over one partition's packs, for series in increasing id order: the pack that may
/// hold the series (the last one keyed at or before it) and where its chunks lie. The same
/// walk reads the 1-hour tier's packed weeks (see `rollup/packed.rs`), whose entries are
/// runs.
///
/// The walk steps forward from pack to pack while the series asked for are close together,
/// and seeks when they are not: a pack fills a B-tree leaf of its own, so stepping over a
/// pack costs a page read, and a partition has hundreds of packs. A lone series (a query of
/// one host's metric) thus costs one descent of the tree, not a walk from the first pack.
struct PackWalk<'a> {
    partition: i64,
    table: &'a PackTable,
    /// What the table holds, for its read errors.
    what: &'static str,
    /// The error of a pack that does not parse: (first series, partition, reason).
    corrupt: fn(u64, i64, String) -> Error,
    /// Where the packs after `current` are.
    next: NextPacks<'a>,
    current: Option<(u64, redb::AccessGuard<'a, &'static [u8]>)>,
    /// `(series, start, length)` of the current pack's chunks, read when first needed.
    chunks: Option<Vec<(u64, usize, usize)>>,
}

/// The pack table, as a read opens it.
type PackTable = redb::ReadOnlyTable<(i64, u64), &'static [u8]>;

/// Packs of the pack table in key order.
type PackRange<'a> = redb::Range<'a, (i64, u64), &'static [u8]>;

/// Where a [`PackWalk`] goes on from.
enum NextPacks<'a> {
    /// Nowhere yet: no series was asked for.
    Unsought,
    /// The packs keyed after this series, not opened yet (a read of one series never needs
    /// them).
    After(u64),
    /// These packs.
    Open(Box<std::iter::Peekable<PackRange<'a>>>),
}

/// Packs a walk steps over before it seeks instead: a seek, and opening the packs after it
/// again, are two descents of the tree, a few page reads each, where a step reads about one.
const PACK_STEPS_BEFORE_SEEK: usize = 4;

impl<'a> PackWalk<'a> {
    fn new(
        partition: i64,
        table: &'a PackTable,
        what: &'static str,
        corrupt: fn(u64, i64, String) -> Error,
    ) -> PackWalk<'a> {
        PackWalk { partition, table, what, corrupt, next: NextPacks::Unsought, current: None, chunks: None }
    }

    /// A walk over the raw chunks' packs of `partition`.
    fn of_chunks(partition: i64, table: &'a PackTable) -> PackWalk<'a> {
        let corrupt = |series, start_ms, reason| Error::CorruptChunk { series, start_ms, reason };
        PackWalk::new(partition, table, "chunks", corrupt)
    }

    /// The chunks of series `id` (not below any id asked before) in this partition's packs.
    fn chunks_of(&mut self, id: u64) -> Result<impl Iterator<Item = &[u8]>> {
        let err = read_err(self.what);
        let at_or_before = |e: &redb::Result<(redb::AccessGuard<'_, (i64, u64)>, _), _>| {
            e.as_ref().map_or(true, |(key, _)| key.value().1 <= id)
        };
        let mut steps = 0;
        loop {
            let packs = match &mut self.next {
                NextPacks::Unsought => {
                    self.seek(id)?;
                    break;
                }
                NextPacks::After(sought) if *sought == id => break,
                NextPacks::After(sought) => {
                    use std::ops::Bound::{Excluded, Included};
                    let after = (Excluded((self.partition, *sought)), Included((self.partition, u64::MAX)));
                    let packs = self.table.range::<(i64, u64)>(after).map_err(|e| err(e.into()))?;
                    self.next = NextPacks::Open(Box::new(packs.peekable()));
                    continue;
                }
                NextPacks::Open(packs) => packs,
            };
            if steps == PACK_STEPS_BEFORE_SEEK && packs.peek().is_some_and(at_or_before) {
                self.seek(id)?;
                break;
            }
            let Some(next) = packs.next_if(at_or_before) else { break };
            let (key, pack) = next.map_err(|e| err(e.into()))?;
            self.current = Some((key.value().1, pack));
            self.chunks = None;
            steps += 1;
        }
        let (bytes, chunks): (&[u8], &[(u64, usize, usize)]) = match &self.current {
            None => (&[], &[]),
            Some((first, pack)) => {
                let chunks = match &mut self.chunks {
                    Some(chunks) => chunks,
                    none => none.insert(
                        index(*first, pack.value())
                            .map_err(|reason| (self.corrupt)(*first, self.partition, format!("pack: {reason}")))?,
                    ),
                };
                (pack.value(), chunks.as_slice())
            }
        };
        let from = chunks.partition_point(|c| c.0 < id);
        Ok(chunks[from..].iter().take_while(move |c| c.0 == id).map(move |&(_, at, len)| &bytes[at..at + len]))
    }

    /// Makes the last pack keyed at or before series `id` the current one, and the packs
    /// after `id` (opened when a later series is asked for) the ones to step to.
    fn seek(&mut self, id: u64) -> Result<()> {
        let err = read_err(self.what);
        let partition = self.partition;
        let current = self.table.range((partition, 0)..=(partition, id)).map_err(|e| err(e.into()))?.next_back();
        let current = current.transpose().map_err(|e| err(e.into()))?.map(|(key, pack)| (key.value().1, pack));
        if current.as_ref().map(|(first, _)| *first) != self.current.as_ref().map(|(first, _)| *first) {
            self.current = current;
            self.chunks = None;
        }
        self.next = NextPacks::After(id);
        Ok(())
    }
}

/// [`select_with`] for some series (in id order, with their head copies), over a snapshot
/// of its own, sorted by labels.
fn select_part<T>(
    shared: &Shared,
    series: Vec<(u64, HeadData)>,
    partitions: Partitions<'_>,
    start: i64,
    end: i64,
    per_series: &impl Fn(&Labels, SampleColumns<'_>) -> Option<T>,
) -> Result<Vec<(Labels, T)>> {
    // The labels of the series still there, copied here rather than before the parts split.
    let series: Vec<(u64, Labels, HeadData)> = {
        let index = shared.index.read();
        series.into_iter().filter_map(|(id, head)| Some((id, index.labels(id)?.clone(), head))).collect()
    };
    let err = read_err("chunks");
    let txn = shared.db.begin_read().map_err(|e| err(e.into()))?;
    // Each table only when a partition needs it: opening one is a lookup in redb's table of
    // tables.
    let chunks = (!partitions.loose.is_empty()).then(|| txn.open_table(CHUNKS));
    let chunks = chunks.transpose().map_err(|e| err(e.into()))?;
    let packs = (!partitions.packed.is_empty()).then(|| txn.open_table(PACKS));
    let packs = packs.transpose().map_err(|e| err(e.into()))?;
    let mut out = Vec::with_capacity(series.len());
    let (mut ts, mut values) = COLUMNS.with_borrow_mut(std::mem::take);
    let mut walks = Vec::with_capacity(partitions.packed.len());
    if let Some(packs) = &packs {
        for &partition in partitions.packed {
            walks.push(PackWalk::of_chunks(partition, packs));
        }
    }
    for (id, labels, head) in series {
        ts.clear();
        values.clear();
        // Every chunk lies within one partition; within it, a series' packed chunks come
        // first, then those in the chunk table, keyed by their first sample: time order.
        for &partition in partitions.all {
            if let Some(walk) = walks.iter_mut().find(|w| w.partition == partition) {
                let corrupt = |reason| Error::CorruptChunk { series: id, start_ms: partition, reason };
                for chunk in walk.chunks_of(id)? {
                    let header = read_header(chunk).map_err(corrupt)?;
                    if header.last_ts >= start && header.first_ts <= end {
                        decode_chunk(chunk, &mut ts, &mut values).map_err(corrupt)?;
                    }
                }
            }
            let Some(chunks) = chunks.as_ref().filter(|_| partitions.loose.contains(&partition)) else { continue };
            for entry in chunks.range((partition, id, i64::MIN)..=(partition, id, end)).map_err(|e| err(e.into()))? {
                let (key, value) = entry.map_err(|e| err(e.into()))?;
                let chunk_start = key.value().2;
                let corrupt = |reason| Error::CorruptChunk { series: id, start_ms: chunk_start, reason };
                let header = read_header(value.value()).map_err(corrupt)?;
                if header.last_ts >= start {
                    decode_chunk(value.value(), &mut ts, &mut values).map_err(corrupt)?;
                }
            }
        }
        // The head's samples go right after the sealed ones, those already sealed (see the
        // module doc) taken out again: the columns stay sorted, each time once.
        let sealed = ts.len();
        let sealed_until = ts.last().copied();
        head.decode_into(&mut ts, &mut values).map_err(|reason| Error::CorruptChunk {
            series: id,
            start_ms: ts.get(sealed).copied().unwrap_or_default(),
            reason: format!("head chunk: {reason}"),
        })?;
        if let Some(sealed_until) = sealed_until {
            let resealed = sealed + ts[sealed..].partition_point(|&t| t <= sealed_until);
            ts.drain(sealed..resealed);
            values.drain(sealed..resealed);
        }
        let (lo, hi) = (ts.partition_point(|&t| t < start), ts.partition_point(|&t| t <= end));
        if lo < hi
            && let Some(value) = per_series(&labels, SampleColumns::new(&ts[lo..hi], &values[lo..hi]))
        {
            out.push((labels, value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if ts.capacity() <= KEPT_COLUMN_SAMPLES && values.capacity() <= KEPT_COLUMN_SAMPLES {
        ts.clear();
        values.clear();
        COLUMNS.with_borrow_mut(|columns| *columns = (ts, values));
    }
    Ok(out)
}

thread_local! {
    /// The columns [`select_part`] decodes into, kept for the thread's next read: a read of
    /// one series (query (a) of `benches/compare.sh`) otherwise allocated them afresh and grew
    /// them chunk by chunk, its decoding time going mostly to growing them.
    static COLUMNS: RefCell<(Vec<i64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The largest columns kept for a thread's next read (1 MiB for both): one series over two
/// weeks at 10 s. Larger ones, of rare long reads, are given back.
const KEPT_COLUMN_SAMPLES: usize = 1 << 16;

/// Labels of every series matching `matchers` whose data overlaps `[start, end]`, sorted.
pub(crate) fn series(shared: &Shared, matchers: &[Matcher], start: i64, end: i64) -> Vec<Labels> {
    let ids = listed_ids(shared, matchers, start, end);
    let mut out: Vec<Labels> = labels_of(shared, &ids).into_iter().map(|(_, l)| l).collect();
    out.sort();
    out
}

/// Label names of those series, sorted.
pub(crate) fn label_names(shared: &Shared, matchers: &[Matcher], start: i64, end: i64) -> Vec<String> {
    let ids = listed_ids(shared, matchers, start, end);
    let index = shared.index.read();
    let names: BTreeSet<&str> =
        ids.iter().filter_map(|&id| index.labels(id)).flat_map(|l| l.pairs().iter().map(|(n, _)| n.as_str())).collect();
    names.into_iter().map(str::to_string).collect()
}

/// Values of label `name` over those series, sorted.
pub(crate) fn label_values(shared: &Shared, name: &str, matchers: &[Matcher], start: i64, end: i64) -> Vec<String> {
    let ids = listed_ids(shared, matchers, start, end);
    let index = shared.index.read();
    let values: BTreeSet<&str> = ids.iter().filter_map(|&id| index.labels(id)?.get(name)).collect();
    values.into_iter().map(str::to_string).collect()
}

/// Every series matching `matchers` with buckets of `tier` starting in `[start, end]`.
pub(crate) fn select_rollup(
    shared: &Shared,
    tier: Tier,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Result<Vec<RollupSeries>> {
    if start > end {
        return Ok(Vec::new());
    }
    let ids = shared.index.read().select(matchers);
    let labels = labels_of(shared, &ids);
    let err = read_err("rollups");
    let txn = shared.db.begin_read().map_err(|e| err(e.into()))?;
    let table = txn.open_table(tier.table()).map_err(|e| err(e.into()))?;
    let partitions = shared.rollup_partitions[tier.index()].within(start, end);
    let packed_weeks: Vec<i64> = match tier {
        Tier::Hour => partitions.iter().copied().filter(|&week| shared.hour_pack_weeks.contains(week)).collect(),
        Tier::Minute => Vec::new(),
    };
    // The pack table only when a week needs it, as for chunks.
    let packs = (!packed_weeks.is_empty()).then(|| txn.open_table(HOUR_PACKS));
    let packs = packs.transpose().map_err(|e| err(e.into()))?;
    // Series come in id order (as the index selects them), as a walk over packs needs.
    let corrupt_pack = |series, start_ms, reason| Error::CorruptRollup { tier: Tier::Hour, series, start_ms, reason };
    let mut walks: Vec<PackWalk<'_>> = match &packs {
        Some(packs) => {
            packed_weeks.iter().map(|&week| PackWalk::new(week, packs, "1-hour packs", corrupt_pack)).collect()
        }
        None => Vec::new(),
    };
    let mut out = Vec::new();
    let mut scratch = RunScratch::default();
    let mut packed = Vec::new();
    for (id, labels) in labels {
        let corrupt = |start_ms, reason| Error::CorruptRollup { tier, series: id, start_ms, reason };
        // A week's packed run comes before the runs written into it since: the later wins.
        packed.clear();
        for walk in &mut walks {
            let week = walk.partition;
            for entry in walk.chunks_of(id)? {
                decode_packed(week, entry, &mut scratch, &mut packed).map_err(|(at, reason)| corrupt(at, reason))?;
            }
        }
        // Every run lies within one partition; within it, runs are keyed by their first bucket.
        let mut runs = Vec::new();
        for &partition in &partitions {
            for entry in table.range((partition, id, i64::MIN)..=(partition, id, end)).map_err(|e| err(e.into()))? {
                let (key, value) = entry.map_err(|e| err(e.into()))?;
                let first = key.value().2;
                let (points, last) = run_extent(tier, first, value.value()).map_err(|reason| corrupt(first, reason))?;
                if last >= start {
                    runs.push((first, value, points));
                }
            }
        }
        let stored_points: usize = runs.iter().map(|(_, _, n)| n).sum();
        let mut points = Vec::with_capacity(packed.len() + stored_points);
        points.append(&mut packed);
        for (first, value, _) in runs {
            decode_run(tier, first, value.value(), &mut scratch, &mut points)
                .map_err(|reason| corrupt(first, reason))?;
        }
        points.retain(|p| p.start_ms >= start && p.start_ms <= end);
        if !points.windows(2).all(|w| w[0].start_ms < w[1].start_ms) {
            // A bucket written twice (rollups received again from elsewhere): the later run
            // wins.
            latest_per_bucket(&mut points);
        }
        if !points.is_empty() {
            out.push(RollupSeries { labels, points });
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}
