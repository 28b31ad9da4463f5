//! The evaluator's intermediate values: every node is evaluated at all steps at once.

use sysmon_tsdb::Labels;

/// The evaluation times of a node: `start`, `start + step`, ... up to `end` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Steps {
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) step_ms: i64,
}

impl Steps {
    /// One evaluation at `time_ms`.
    pub(crate) fn instant(time_ms: i64) -> Steps {
        Steps { start_ms: time_ms, end_ms: time_ms, step_ms: 1 }
    }

    /// How many evaluation times there are.
    pub(crate) fn len(&self) -> usize {
        if self.end_ms < self.start_ms || self.step_ms <= 0 {
            return 0;
        }
        usize::try_from((self.end_ms - self.start_ms) / self.step_ms + 1).unwrap_or(0)
    }

    /// The evaluation time of step `index`.
    pub(crate) fn time(&self, index: usize) -> i64 {
        self.start_ms + self.step_ms * index as i64
    }

    /// Every evaluation time, in order.
    pub(crate) fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.time(i))
    }
}

/// One series of an instant vector evaluated at every step: `values[i]` is its value at
/// step `i`, `None` where the series is absent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    pub(crate) values: Vec<Option<f64>>,
}

impl Series {
    /// A series with no value at any of `steps` steps yet.
    pub(crate) fn empty(labels: Labels, steps: usize) -> Series {
        Series { labels, values: vec![None; steps] }
    }

    /// Whether the series has a value at some step.
    pub(crate) fn has_points(&self) -> bool {
        self.values.iter().any(Option::is_some)
    }

    /// How many steps have a value.
    pub(crate) fn point_count(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }
}

/// A range vector: raw points per series and the window each step reads.
#[derive(Debug, Clone)]
pub(crate) struct RangeInput {
    /// The series, each with its points sorted by time. A range selector's may hold stale
    /// markers, which are not samples: read them through `selectors::without_stale`.
    pub(crate) series: Vec<RangeSeriesInput>,
    /// Window length.
    pub(crate) range_ms: i64,
    /// The `offset` modifier.
    pub(crate) offset_ms: i64,
    /// The `@` time, when set: every step then reads the same window.
    pub(crate) at_ms: Option<i64>,
    /// The equality matchers `absent_over_time` derives its labels from.
    pub(crate) absent_labels: Labels,
    /// Set for `predict_linear` over a range with `@` in a range query: Prometheus 2.42
    /// then moves the window along with the steps from this start time, over the samples
    /// of the pinned window only.
    pub(crate) drift_start_ms: Option<i64>,
}

impl RangeInput {
    /// The end of the window step time `ts` reads: its window is `[end - range, end]`.
    pub(crate) fn window_end(&self, ts: i64) -> i64 {
        match (self.at_ms, self.drift_start_ms) {
            (Some(at), Some(start)) => at + (ts - start) - self.offset_ms,
            (Some(at), None) => at - self.offset_ms,
            (None, _) => ts - self.offset_ms,
        }
    }
}

/// One series of a range vector.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeriesInput {
    pub(crate) labels: Labels,
    pub(crate) points: Vec<(i64, f64)>,
}

/// What a node evaluates to.
#[derive(Debug, Clone)]
pub(crate) enum Evaluated {
    /// A number per step.
    Scalar(Vec<f64>),
    /// A string literal.
    String(String),
    /// An instant vector per step.
    Vector(Vec<Series>),
    /// A range vector (a selector with a range, or a subquery).
    Range(RangeInput),
}

impl Evaluated {
    /// The type's name, as Prometheus's errors spell it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Evaluated::Scalar(_) => "scalar",
            Evaluated::String(_) => "string",
            Evaluated::Vector(_) => "instant vector",
            Evaluated::Range(_) => "range vector",
        }
    }
}
