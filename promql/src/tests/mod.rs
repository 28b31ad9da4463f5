//! Evaluation tests against hand-computed expectations from Prometheus's documented semantics.

mod aggregate;
mod binary;
mod functions;
mod limits;
mod parallel;
mod range_functions;
mod rollups;
mod selectors;
mod subquery;
