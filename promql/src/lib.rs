//! PromQL for sysmon (DESIGN.md, data path step 7): queries are parsed by the
//! `promql-parser` crate and evaluated here, over any [`Storage`], with Prometheus's
//! semantics: lookback and staleness, range selectors, functions, aggregations, binary
//! operators with vector matching, and subqueries.
#![warn(missing_docs, unreachable_pub)]

mod engine;
mod error;
mod eval;
mod storage;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
mod value;

pub use engine::{DEFAULT_LOOKBACK_MS, DEFAULT_SUBQUERY_STEP_MS, Engine, MAX_POINTS_PER_SERIES, QueryLimits};
pub use error::{Error, Result};
pub use storage::{STALE_MARKER_BITS, SeriesSamples, Storage, is_stale_marker};
pub use value::{InstantSample, QueryResult, RangeSeries, Value};
