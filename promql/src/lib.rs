//! PromQL for sysmon (DESIGN.md, data path step 7): queries are parsed by the
//! `promql-parser` crate and evaluated here, over any [`Storage`], with Prometheus's
//! semantics: lookback and staleness, range selectors, functions, aggregations, binary
//! operators with vector matching, and subqueries.
//!
//! The main types: [`Engine`] (with its [`QueryLimits`]) evaluates a query against a
//! [`Storage`] into a [`QueryResult`] whose [`Value`] the HTTP layer renders as Prometheus
//! JSON; an [`Error`] carries Prometheus's `errorType` and HTTP status. No feature flags.
//!
//! A store that keeps rollup tiers (DESIGN.md, data path step 5) lists them in
//! [`Storage::rollup_tiers`] and serves their [`RollupPoint`]s through
//! [`Storage::select_rollup`]: range functions the buckets answer exactly then read the
//! coarsest tier that lines up with every window of the query, where it is complete.
//!
//! ```
//! use sysmon_promql::{Engine, QueryLimits, SeriesSamples, Storage, Value};
//! use sysmon_tsdb::{Labels, Matcher};
//!
//! struct OneSeries(SeriesSamples);
//!
//! impl Storage for OneSeries {
//!     fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
//!         let s = &self.0;
//!         let samples: Vec<(i64, f64)> =
//!             s.samples.iter().copied().filter(|&(t, _)| t >= start_ms && t <= end_ms).collect();
//!         let wanted = matchers.iter().all(|m| m.matches(&s.labels)) && !samples.is_empty();
//!         Ok(if wanted { vec![SeriesSamples { labels: s.labels.clone(), samples }] } else { vec![] })
//!     }
//! }
//!
//! let labels = Labels::new([("__name__".to_string(), "requests_total".to_string())]);
//! let samples = (0..=10).map(|i| (i * 60_000, i as f64 * 120.0)).collect();
//! let store = OneSeries(SeriesSamples { labels, samples });
//! let engine = Engine::new(QueryLimits::default());
//!
//! let result = engine.instant(&store, "rate(requests_total[5m])", 600_000).unwrap();
//! let Value::Vector(samples) = result.value else { panic!("not a vector") };
//! assert_eq!(samples[0].labels.to_string(), "{}");
//! assert_eq!(samples[0].value, 2.0);
//!
//! let err = engine.instant(&store, "rate(requests_total)", 0).unwrap_err();
//! assert_eq!((err.error_type(), err.http_status()), ("bad_data", 400));
//! ```
#![warn(missing_docs, unreachable_pub)]

mod cost;
mod engine;
mod error;
mod eval;
mod parsed;
mod storage;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
mod value;

pub use engine::{DEFAULT_LOOKBACK_MS, DEFAULT_SUBQUERY_STEP_MS, Engine, MAX_POINTS_PER_SERIES, QueryLimits};
pub use error::{Error, Result};
pub use storage::{
    RollupPoint, RollupTier, STALE_MARKER_BITS, SampleColumns, SeriesFn, SeriesRollups, SeriesSamples, SeriesValues,
    Storage, is_stale_marker,
};
pub use value::{InstantSample, QueryResult, RangeSeries, Value};
