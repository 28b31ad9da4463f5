//! What the evaluator needs from a store: the samples of the series a selector matches,
//! and, when the store keeps them, rollup buckets that answer some range functions exactly.

use sysmon_tsdb::{Labels, Matcher};

pub use sysmon_tsdb::RollupPoint;

/// A series and its raw samples in the requested time range, sorted by time. Prometheus's
/// stale markers (see [`is_stale_marker`]) are kept: the evaluator interprets them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    /// The series' labels, metric name included.
    pub labels: Labels,
    /// (unix ms, value), sorted by time, no two with the same time.
    pub samples: Vec<(i64, f64)>,
}

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
