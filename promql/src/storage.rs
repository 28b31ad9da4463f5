//! What the evaluator needs from a store: the samples of the series a selector matches.

use sysmon_tsdb::{Labels, Matcher};

/// A series and its raw samples in the requested time range, sorted by time. Prometheus's
/// stale markers (see [`is_stale_marker`]) are kept: the evaluator interprets them.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    /// The series' labels, metric name included.
    pub labels: Labels,
    /// (unix ms, value), sorted by time, no two with the same time.
    pub samples: Vec<(i64, f64)>,
}

/// A store the evaluator can read from.
pub trait Storage: Send + Sync {
    /// Every series that satisfies all `matchers` and has at least one sample in
    /// `start_ms..=end_ms`, with those samples.
    ///
    /// # Errors
    /// The store could not answer; the message is shown to the user as is.
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String>;
}

/// The exact NaN Prometheus writes to mark a series stale.
pub const STALE_MARKER_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `value` is Prometheus's stale marker (not just any NaN).
pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_MARKER_BITS
}
