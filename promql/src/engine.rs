//! The entry points: parse a query and evaluate it at one time or over a range of steps.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::value::QueryResult;

/// Bounds on what one query may cost.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Most samples a query may hold in memory at once (Prometheus's `--query.max-samples`).
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
}

/// Prometheus's default lookback delta (`--query.lookback-delta`).
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

impl Engine {
    /// An engine with these limits and the default 5 m lookback.
    pub fn new(limits: QueryLimits) -> Engine {
        Engine { limits, lookback_ms: DEFAULT_LOOKBACK_MS }
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Evaluates `query` at `time_ms` (Prometheus's `/api/v1/query`).
    ///
    /// # Errors
    /// The query is invalid, breaks a limit, or the store fails.
    pub fn instant(&self, storage: &dyn Storage, query: &str, time_ms: i64) -> Result<QueryResult> {
        let _ = (storage, query, time_ms, self.lookback_ms);
        Err(Error::Execution("not implemented yet".into()))
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms` inclusive (Prometheus's
    /// `/api/v1/query_range`); the result is always a matrix.
    ///
    /// # Errors
    /// The query is invalid (or not an instant vector or scalar), breaks a limit, or the store fails.
    pub fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult> {
        let _ = (storage, query, start_ms, end_ms, step_ms);
        Err(Error::Execution("not implemented yet".into()))
    }
}
