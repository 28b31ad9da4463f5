//! The entry points: parse a query and evaluate it at one time or over a range of steps.

use std::sync::{Arc, Once};
use std::time::Duration;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, Function, register_extra_functions};

use crate::cost;
use crate::error::{Error, Result};
use crate::eval::evaluator::{EvalSettings, Evaluator, unwrap_parens};
use crate::eval::selectors::{window_bounds, without_stale};
use crate::eval::types::{Evaluated, Steps};
use crate::parsed::ParseCache;
use crate::storage::Storage;
use crate::value::{InstantSample, QueryResult, RangeSeries, Value};

/// Bounds on what one query may cost.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Most samples a query may load: raw samples read by its selectors, plus the points
    /// its subqueries and its result hold (compare Prometheus's `--query.max-samples`).
    pub max_samples: usize,
    /// Most series one selector may match.
    pub max_series_per_selector: usize,
    /// Longest a query may run.
    pub timeout: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { max_samples: 50_000_000, max_series_per_selector: 100_000, timeout: Duration::from_secs(120) }
    }
}

/// Evaluates PromQL with Prometheus 2.42's semantics (the Debian package the compatibility
/// test runs against).
#[derive(Debug, Clone)]
pub struct Engine {
    limits: QueryLimits,
    lookback_ms: i64,
    subquery_step_ms: i64,
    threads: usize,
    /// Queries parsed before, shared by the engine's clones.
    parsed: Arc<ParseCache>,
}

/// Prometheus's default lookback delta (`--query.lookback-delta`).
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// The step of a subquery written without one (`expr[1h:]`): Prometheus uses its global
/// evaluation interval, 1 m by default.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;

/// Prometheus's API refuses range queries with more points per series than this.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

static REGISTER_FUNCTIONS: Once = Once::new();

/// Teaches the parser Prometheus 2.42's functions it no longer knows by that name.
fn register_functions() {
    REGISTER_FUNCTIONS.call_once(|| {
        // `holt_winters` was renamed `double_exponential_smoothing` after 2.42. Registering
        // fails only if the name is already known, which is fine too.
        let _ = register_extra_functions(vec![Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

impl Engine {
    /// An engine with these limits, the default 5 m lookback and 1 m default subquery step.
    pub fn new(limits: QueryLimits) -> Engine {
        register_functions();
        // Range functions over many series split them across up to 4 threads.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        Engine {
            limits,
            lookback_ms: DEFAULT_LOOKBACK_MS,
            subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS,
            threads,
            parsed: Arc::default(),
        }
    }

    /// This engine with other limits and its other settings kept (e.g. a request's shorter
    /// timeout).
    pub fn with_limits(mut self, limits: QueryLimits) -> Engine {
        self.limits = limits;
        self
    }

    /// This engine with at most `threads` threads per query (1: evaluate on the caller's
    /// thread only). The default is the machine's parallelism, at most 4.
    pub fn with_threads(mut self, threads: usize) -> Engine {
        self.threads = threads.max(1);
        self
    }

    /// This engine with another lookback delta (how far back an instant selector looks).
    pub fn with_lookback_ms(mut self, lookback_ms: i64) -> Engine {
        self.lookback_ms = lookback_ms;
        self
    }

    /// This engine with another step for subqueries that give none.
    pub fn with_default_subquery_step_ms(mut self, step_ms: i64) -> Engine {
        self.subquery_step_ms = step_ms;
        self
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    fn parse(&self, query: &str) -> Result<Arc<Expr>> {
        self.parsed.parse(query).map_err(Error::BadQuery)
    }

    fn evaluator<'a>(&'a self, storage: &'a dyn Storage, start_ms: i64, end_ms: i64) -> Evaluator<'a> {
        Evaluator::new(EvalSettings {
            storage,
            limits: &self.limits,
            lookback_ms: self.lookback_ms,
            subquery_step_ms: self.subquery_step_ms,
            query_start_ms: start_ms,
            query_end_ms: end_ms,
            threads: self.threads,
        })
    }

    /// At most how many series-milliseconds of samples evaluating `query` over
    /// `start_ms..=end_ms` at `step_ms` reads or slides windows over: for every selector,
    /// the series [`Storage::series_bound`] says it matches at most, times the span it reads
    /// (the evaluation's plus its lookback or range) and, for a range selector, plus its
    /// window at every step. One series over a day at a 10 s interval is 8,640 samples.
    ///
    /// `None` when that is not known cheaply: the query does not parse, holds a subquery, or
    /// the store cannot bound one of its selectors. For a caller that decides where to run a
    /// query before running it; the bound costs a parse (usually from the cache) and a few
    /// index lookups.
    pub fn range_cost(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Option<u64> {
        let expr = self.parse(query).ok()?;
        let span_ms = end_ms.checked_sub(start_ms).filter(|&span| span >= 0)?;
        let steps = span_ms.checked_div(step_ms).filter(|_| step_ms > 0)?.checked_add(1)?;
        cost::bound(&expr, &cost::CostInputs { storage, span_ms, steps, lookback_ms: self.lookback_ms })
    }

    /// [`Engine::range_cost`] of `query` evaluated at `time_ms` alone.
    pub fn instant_cost(&self, storage: &dyn Storage, query: &str, time_ms: i64) -> Option<u64> {
        self.range_cost(storage, query, time_ms, time_ms, 1)
    }

    /// Evaluates `query` at `time_ms` (Prometheus's `/api/v1/query`).
    ///
    /// A vector comes sorted by labels, except under a top-level `sort` / `sort_desc`,
    /// which order it by value (NaN last). A range selector or subquery gives a matrix.
    ///
    /// # Errors
    /// The query is invalid, breaks a limit, or the store fails.
    pub fn instant(&self, storage: &dyn Storage, query: &str, time_ms: i64) -> Result<QueryResult> {
        let expr = self.parse(query)?;
        let mut ev = self.evaluator(storage, time_ms, time_ms);
        let value = match ev.eval(&expr, Steps::instant(time_ms))? {
            Evaluated::Scalar(values) => Value::Scalar(time_ms, values.first().copied().unwrap_or(f64::NAN)),
            Evaluated::String(s) => Value::String(time_ms, s),
            Evaluated::Vector(series) => {
                let mut samples: Vec<InstantSample> = series
                    .into_iter()
                    .filter_map(|s| {
                        let value = s.values.first().copied().flatten()?;
                        Some(InstantSample { labels: s.labels, timestamp_ms: time_ms, value })
                    })
                    .collect();
                ev.add_samples(samples.len())?;
                samples.sort_by(|a, b| a.labels.cmp(&b.labels));
                if let Expr::Call(call) = unwrap_parens(&expr) {
                    match call.func.name {
                        "sort" => samples.sort_by(|a, b| by_value_nan_last(a.value, b.value)),
                        "sort_desc" => samples.sort_by(|a, b| by_value_nan_last(-a.value, -b.value)),
                        _ => {}
                    }
                }
                Value::Vector(samples)
            }
            Evaluated::Range(range) => {
                let end = range.window_end(time_ms);
                let mut matrix: Vec<RangeSeries> = range
                    .series
                    .into_iter()
                    .filter_map(|s| {
                        let (lo, hi) = window_bounds(&s.points, end - range.range_ms, end);
                        let points = without_stale(&s.points[lo..hi]).into_owned();
                        (!points.is_empty()).then_some(RangeSeries { labels: s.labels, points })
                    })
                    .collect();
                matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(matrix)
            }
        };
        Ok(QueryResult { value, warnings: Vec::new() })
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms` inclusive (Prometheus's
    /// `/api/v1/query_range`); the result is always a matrix, series sorted by labels, one
    /// point per step where the series has a value. A scalar gives one series with no labels.
    ///
    /// # Errors
    /// The query is invalid (or not an instant vector or scalar), the steps are invalid,
    /// it breaks a limit, or the store fails.
    pub fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult> {
        if step_ms <= 0 {
            return Err(Error::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(Error::BadQuery("end timestamp must not be before start time".into()));
        }
        if (end_ms - start_ms) / step_ms > MAX_POINTS_PER_SERIES {
            return Err(Error::BadQuery(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        let expr = self.parse(query)?;
        let type_name = match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => None,
            ValueType::Matrix => Some("range vector"),
            ValueType::String => Some("string"),
        };
        if let Some(type_name) = type_name {
            return Err(Error::BadQuery(format!(
                "invalid expression type {type_name:?} for range query, must be Scalar or instant Vector"
            )));
        }
        let steps = Steps { start_ms, end_ms, step_ms };
        let mut ev = self.evaluator(storage, start_ms, end_ms);
        let series = match ev.eval(&expr, steps)? {
            Evaluated::Scalar(values) => {
                vec![RangeSeries { labels: Default::default(), points: steps.times().zip(values).collect() }]
            }
            Evaluated::Vector(series) => {
                let mut matrix: Vec<RangeSeries> = series
                    .into_iter()
                    .filter_map(|s| {
                        let mut points = Vec::with_capacity(s.values.len());
                        points.extend(s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (steps.time(i), v))));
                        (!points.is_empty()).then_some(RangeSeries { labels: s.labels, points })
                    })
                    .collect();
                matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
                matrix
            }
            other => {
                return Err(Error::BadQuery(format!(
                    "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                    other.type_name()
                )));
            }
        };
        ev.add_samples(series.iter().map(|s| s.points.len()).sum())?;
        Ok(QueryResult { value: Value::Matrix(series), warnings: Vec::new() })
    }
}

/// Ascending by value with NaN last (Prometheus's `sort`); negate both for `sort_desc`.
fn by_value_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}
