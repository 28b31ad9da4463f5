//! What the evaluator needs from a store: the samples of the series a selector matches,
//! and, when the store keeps them, rollup buckets that answer some range functions exactly.

use sysmon_tsdb::{Labels, Matcher};

pub use sysmon_tsdb::{RollupPoint, SampleColumns};

/// A series and its raw samples in the requested time range, sorted by time. Prometheus's
/// stale markers (see [`is_stale_marker`]) are kept: the evaluator interprets them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    /// The series' labels, metric name included.
    pub labels: Labels,
    /// (unix ms, value), sorted by time, no two with the same time.
    pub samples: Vec<(i64, f64)>,
}

/// A reduction of one series' samples (sorted by time, stale markers kept) to a value
/// per step, `None` to leave the series out; see [`Storage::select_with`].
pub type SeriesFn<'a> = dyn Fn(&Labels, SampleColumns<'_>) -> Option<Vec<Option<f64>>> + Sync + 'a;

/// A series' labels and what a [`SeriesFn`] gave for it.
pub type SeriesValues = (Labels, Vec<Option<f64>>);

/// A rollup tier a store keeps: per-series summaries ([`RollupPoint`]) of the raw samples
/// in buckets `[start, start + width_ms)`, `start` a multiple of `width_ms`, stale markers
/// left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupTier {
    /// The bucket width in ms.
    pub width_ms: i64,
    /// Every bucket starting before this time (unix ms) summarises exactly the samples
    /// [`Storage::select`] returns for its span, or would have before they expired
    /// (`i64::MIN`: no bucket is known to be complete yet).
    pub complete_before_ms: i64,
}

/// A series and its rollup buckets in a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRollups {
    /// The series' labels, metric name included.
    pub labels: Labels,
    /// Buckets sorted by start, no two with the same start, none empty.
    pub points: Vec<RollupPoint>,
}

/// A store the evaluator can read from.
///
/// Raw samples are all a store must provide. A store that also keeps rollup tiers lists
/// them in [`Storage::rollup_tiers`] and serves them through [`Storage::select_rollup`]:
/// the evaluator then answers `rate`, `increase`, `delta`, `resets`, `changes` and the
/// count, sum, avg, min, max, last and present `_over_time` functions from the coarsest
/// tier whose buckets line up with every window of the query, where that tier is complete
/// — also where the raw samples have expired; from the tier's `complete_before_ms` on, it
/// folds the raw samples [`Storage::select`] returns into buckets of the same width.
pub trait Storage: Send + Sync {
    /// Every series that satisfies all `matchers` and has at least one sample in
    /// `start_ms..=end_ms`, with those samples.
    ///
    /// # Errors
    /// The store could not answer; the message is shown to the user as is.
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String>;

    /// At most how many series [`Storage::select`] returns for `matchers`, in any time
    /// range, when the store can tell without reading them (from an in-memory index, say);
    /// `None` when it cannot, the default. [`crate::Engine::range_cost`] sizes a query with it.
    fn series_bound(&self, matchers: &[Matcher]) -> Option<usize> {
        let _ = matchers;
        None
    }

    /// What `per_series` gives for each series [`Storage::select`] would return and its
    /// samples (as columns), where it gives something, sorted by labels. The evaluator
    /// reduces a range function's input this way; a store that decodes samples series by
    /// series into columns can lend them to `per_series` while they are still in the CPU's
    /// caches, on several threads, instead of materializing them all first (the default).
    ///
    /// # Errors
    /// As [`Storage::select`].
    fn select_with(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        per_series: &SeriesFn<'_>,
    ) -> Result<Vec<SeriesValues>, String> {
        let series = self.select(matchers, start_ms, end_ms)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let mut out = crate::eval::range_functions::in_parts(&series, threads, |part| {
            let (mut ts, mut values) = (Vec::new(), Vec::new());
            let mut out = Vec::with_capacity(part.len());
            for s in part {
                ts.clear();
                values.clear();
                ts.extend(s.samples.iter().map(|p| p.0));
                values.extend(s.samples.iter().map(|p| p.1));
                if let Some(reduced) = per_series(&s.labels, SampleColumns::new(&ts, &values)) {
                    out.push((s.labels.clone(), reduced));
                }
            }
            Ok(out)
        })
        .map_err(|e| e.to_string())?;
        if !out.windows(2).all(|w| w[0].0 < w[1].0) {
            out.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(out)
    }

    /// The rollup tiers this store keeps, in any order; none by default. The evaluator
    /// reads this before [`Storage::select_rollup`]: a bucket starting before the
    /// `complete_before_ms` it read must be complete in what `select_rollup` returns.
    fn rollup_tiers(&self) -> Vec<RollupTier> {
        Vec::new()
    }

    /// Every series that satisfies all `matchers` and has buckets of the tier `width_ms`
    /// wide starting in `start_ms..=end_ms`, with those buckets. `None`: the store keeps
    /// no such tier (the default), and the evaluator reads raw samples instead.
    ///
    /// # Errors
    /// The store could not answer; the message is shown to the user as is.
    fn select_rollup(
        &self,
        width_ms: i64,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Option<Vec<SeriesRollups>>, String> {
        let _ = (width_ms, matchers, start_ms, end_ms);
        Ok(None)
    }
}

/// The exact NaN Prometheus writes to mark a series stale.
pub const STALE_MARKER_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `value` is Prometheus's stale marker (not just any NaN).
pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_MARKER_BITS
}
