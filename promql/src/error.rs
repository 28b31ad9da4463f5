//! Errors of query evaluation, each with the `errorType` Prometheus's API gives it.

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query does not parse, or is not valid PromQL (e.g. a type mismatch).
    #[error("{0}")]
    BadQuery(String),
    /// Evaluation failed (e.g. many-to-many matching, duplicate series in the result).
    #[error("{0}")]
    Execution(String),
    /// The query ran past its time limit.
    #[error("query timed out in {phase}; limit query_timeout = {limit_ms} ms")]
    Timeout {
        /// Where it was when the time ran out.
        phase: &'static str,
        /// The limit.
        limit_ms: u64,
    },
    /// The query would load more samples than allowed.
    #[error("query processing would load too many samples into memory; limit max_samples_per_query = {limit}")]
    TooManySamples {
        /// The limit.
        limit: usize,
    },
    /// A selector matched more series than allowed.
    #[error("selector {selector} matched {found} series; limit max_series_per_selector = {limit}")]
    TooManySeries {
        /// The selector as written.
        selector: String,
        /// How many it matched.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// The store failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::BadQuery(_) => "bad_data",
            Error::Execution(_) | Error::TooManySamples { .. } | Error::TooManySeries { .. } => "execution",
            Error::Timeout { .. } => "timeout",
            Error::Storage(_) => "internal",
        }
    }

    /// The HTTP status Prometheus's API answers with for this error: 400 for `bad_data`,
    /// 422 for `execution`, 503 for `timeout`, 500 for `internal`.
    pub fn http_status(&self) -> u16 {
        match self.error_type() {
            "bad_data" => 400,
            "execution" => 422,
            "timeout" => 503,
            _ => 500,
        }
    }
}

/// Result with the evaluator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
