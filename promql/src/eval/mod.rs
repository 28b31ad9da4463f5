//! Evaluation of parsed PromQL over all steps of a query at once.

pub(crate) mod aggregate;
pub(crate) mod binary;
pub(crate) mod date;
pub(crate) mod evaluator;
pub(crate) mod extrapolate;
pub(crate) mod functions;
pub(crate) mod histogram;
pub(crate) mod label_functions;
pub(crate) mod labels;
pub(crate) mod range_functions;
pub(crate) mod rollup;
pub(crate) mod selectors;
pub(crate) mod series_set;
pub(crate) mod set_ops;
pub(crate) mod stats;
pub(crate) mod subquery;
pub(crate) mod types;
