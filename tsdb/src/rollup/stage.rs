//! A sealing round's rollup work, staged in memory before the write lock is taken: the open
//! point of each touched series and tier (loaded once from a snapshot), and the points the
//! round completed.

use rustc_hash::FxHashMap;
use tracing::warn;

use super::point::{RollupPoint, fold_samples, is_stale_marker};
use super::run::{decode_open, encode_open, split_runs};
use super::tier::Tier;

/// Reads a series' stored open point of a tier: `(tier, series) -> bytes`.
pub(crate) type OpenSource<'s> = dyn FnMut(Tier, u64) -> Result<Option<Vec<u8>>, redb::Error> + 's;

/// What a round writes: runs `(tier, series, first bucket start, bytes)` and open points
/// `(tier, series, bytes)`, `None` to delete the stored one.
#[derive(Debug, Default)]
pub(crate) struct RollupWrites {
    pub(crate) runs: Vec<(Tier, u64, i64, Vec<u8>)>,
    pub(crate) open: Vec<(Tier, u64, Option<Vec<u8>>)>,
}

/// Staged rollups of one round.
#[derive(Debug, Default)]
pub(crate) struct RollupStage {
    open: FxHashMap<(Tier, u64), Option<RollupPoint>>,
    done: FxHashMap<(Tier, u64), Vec<RollupPoint>>,
}

impl RollupStage {
    /// An empty stage.
    pub(crate) fn new() -> RollupStage {
        RollupStage::default()
    }

    /// Folds a sealed chunk's samples (oldest first, after every sample sealed before) into
    /// `tier`'s buckets of series `series`. With `completes`, no later sample can fall in the
    /// bucket of the chunk's last sample (the chunk ends its partition): that bucket is
    /// complete too, and the series has no open point left.
    pub(crate) fn fold(
        &mut self,
        source: &mut OpenSource<'_>,
        tier: Tier,
        series: u64,
        (ts, values): (&[i64], &[f64]),
        completes: bool,
    ) -> Result<(), redb::Error> {
        if values.iter().all(|v| is_stale_marker(*v)) && !completes {
            return Ok(());
        }
        let key = (tier, series);
        let open = match self.open.get_mut(&key) {
            Some(open) => open,
            None => {
                let stored = match source(tier, series)? {
                    None => None,
                    Some(bytes) => decode_open(tier, &bytes)
                        .inspect_err(|reason| {
                            warn!(series, tier = %tier, reason, "corrupt open rollup point replaced");
                        })
                        .ok(),
                };
                self.open.entry(key).or_insert(stored)
            }
        };
        let done = self.done.entry(key).or_default();
        if let (Some(first), Some(last)) = (ts.first(), ts.last()) {
            // One point per bucket the chunk spans, at most one per sample.
            let buckets = (last.saturating_sub(*first) / tier.width_ms()).saturating_add(1);
            done.reserve(usize::try_from(buckets).unwrap_or(usize::MAX).min(ts.len()));
        }
        fold_samples(tier, ts, values, open, |p| done.push(p));
        if completes && let Some(last) = open.take() {
            done.push(last);
        }
        Ok(())
    }

    /// Encodes what the round changed.
    pub(crate) fn into_writes(self) -> RollupWrites {
        let mut writes = RollupWrites::default();
        for ((tier, series), mut points) in self.done {
            // In order already (chunks are sealed in order); kept so whatever a stored open
            // point held, a run is never malformed.
            points.sort_by_key(|p| p.start_ms);
            points.dedup_by_key(|p| p.start_ms);
            for (first, bytes) in split_runs(tier, &points) {
                writes.runs.push((tier, series, first, bytes));
            }
        }
        for ((tier, series), open) in self.open {
            match open {
                Some(point) => {
                    let mut bytes = Vec::with_capacity(64);
                    encode_open(tier, &point, &mut bytes);
                    writes.open.push((tier, series, Some(bytes)));
                }
                // Completed: the stored open point (if any) is now in a run.
                None => writes.open.push((tier, series, None)),
            }
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::run::decode_run;

    #[test]
    fn chunks_become_runs_and_one_open_point() {
        let mut stored: Option<Vec<u8>> = None;
        let mut stage = RollupStage::new();
        let mut source = |_: Tier, _: u64| Ok(stored.take());
        let ts: Vec<i64> = (0..13).map(|i| i * 10_000).collect();
        let values: Vec<f64> = (0..13).map(f64::from).collect();
        stage.fold(&mut source, Tier::Minute, 7, (&ts[..8], &values[..8]), false).unwrap();
        stage.fold(&mut source, Tier::Minute, 7, (&ts[8..], &values[8..]), false).unwrap();
        let writes = stage.into_writes();
        assert_eq!(writes.runs.len(), 1);
        let (_, series, first, bytes) = &writes.runs[0];
        assert_eq!((*series, *first), (7, 0));
        let mut points = Vec::new();
        decode_run(Tier::Minute, 0, bytes, &mut Default::default(), &mut points).unwrap();
        assert_eq!(points.iter().map(|p| (p.start_ms, p.count)).collect::<Vec<_>>(), [(0, 6), (60_000, 6)]);
        let open = decode_open(Tier::Minute, writes.open[0].2.as_ref().unwrap()).unwrap();
        assert_eq!((open.start_ms, open.count, open.last_v), (120_000, 1, 12.0));
        // A chunk that ends its partition completes its last bucket.
        let mut stage = RollupStage::new();
        let mut source = |_: Tier, _: u64| Ok(None);
        stage.fold(&mut source, Tier::Minute, 7, (&ts[..8], &values[..8]), true).unwrap();
        let writes = stage.into_writes();
        let mut points = Vec::new();
        decode_run(Tier::Minute, 0, &writes.runs[0].3, &mut Default::default(), &mut points).unwrap();
        assert_eq!(points.iter().map(|p| (p.start_ms, p.count)).collect::<Vec<_>>(), [(0, 6), (60_000, 2)]);
        assert_eq!(writes.open[0].2, None);
    }
}
