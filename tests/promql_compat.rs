//! PromQL compatibility: every expression of `tests/promql_corpus.txt` gives the same answer
//! from sysmon's Prometheus query API as from Prometheus itself, over the same samples.
//!
//! A reference Prometheus (Debian's 2.42) scrapes node_exporter and an edge-case exporter
//! (`compat/exporter.rs`) every second and remote-writes everything (remote_write 1.0, stale
//! markers included) to `POST /api/v1/write` of the store under test. After 70 scrapes the
//! data is frozen: the reference reloads a config without scrape jobs (2.42 writes no stale
//! markers for that) and the test waits until its remote-write queue has sent everything.
//! Then `{__name__=~".+"}[10m]` must return the same raw samples from both stores, and each
//! corpus expression is evaluated against both, as `GET`/`POST /api/v1/query` (`query`,
//! `time`) at six times and as `POST`/`GET /api/v1/query_range` (`query`, `start`, `end`,
//! `step`; steps 1 s and 7 s), times in seconds with milliseconds. Answers must agree as
//! `compat/compare.rs` says; every disagreement is printed, with a summary, and the test
//! fails. The full report, with what the reference answered to each expression, is written to
//! `CARGO_TARGET_TMPDIR/promql_compat-<store>.txt`.
//!
//! `SYSMON_COMPAT_ONLY=text` evaluates only the expressions containing `text`.

mod compat;
mod util;

use compat::run::{Target, run};

/// The harness proves itself: two Prometheus servers holding the same samples must agree on
/// everything, so any mismatch against sysmon is sysmon's.
#[test]
fn prometheus_receiver_matches_prometheus() {
    run(Target::Prometheus);
}

/// sysmon's `/api/v1/write`, `/api/v1/query` and `/api/v1/query_range` against Prometheus.
#[test]
fn sysmon_matches_prometheus() {
    run(Target::Sysmon);
}
