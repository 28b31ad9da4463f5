//! What a query evaluates to, in Prometheus's four result types.

use sysmon_tsdb::Labels;

/// One element of an instant vector: a series and its value at the evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The series' labels (the metric name is dropped by most functions and operators).
    pub labels: Labels,
    /// Evaluation time, unix ms.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

/// One series of a range vector (matrix): points sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// (unix ms, value), sorted by time, one point per step at most.
    pub points: Vec<(i64, f64)>,
}

/// A query's value, as Prometheus's `resultType` names it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `scalar`: (unix ms, value).
    Scalar(i64, f64),
    /// `string`: (unix ms, value).
    String(i64, String),
    /// `vector`: an instant query's series.
    Vector(Vec<InstantSample>),
    /// `matrix`: a range query's series, or an instant query of a range selector.
    Matrix(Vec<RangeSeries>),
}

/// A query's answer with what the caller should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Caveats for Prometheus's `warnings` field (e.g. a partial answer).
    pub warnings: Vec<String>,
}
