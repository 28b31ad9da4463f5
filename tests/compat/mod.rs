//! The PromQL compatibility harness: an edge-case exporter, Prometheus and node_exporter
//! processes, a query API client, the corpus and the comparison of answers.
#![allow(dead_code, clippy::print_stderr)]

pub mod api;
pub mod compare;
pub mod corpus;
pub mod exporter;
pub mod run;
pub mod servers;
