//! The storage engine's figures at `/metrics`: a collector that reads [`Tsdb::stats`] on
//! each scrape, so nothing is copied between scrapes and the figures are never stale.
//! Names follow Prometheus's own `prometheus_tsdb_*` where one exists (head series, WAL,
//! out-of-order samples), under the `sysmon_tsdb_` prefix.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sysmon_tsdb::{Tsdb, TsdbStats};

/// Encodes [`TsdbStats`] on every scrape.
pub(crate) struct TsdbCollector(pub(crate) Arc<Tsdb>);

impl std::fmt::Debug for TsdbCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TsdbCollector")
    }
}

/// A gauge or counter read from one snapshot.
enum Figure {
    Gauge(fn(&TsdbStats) -> u64),
    Counter(fn(&TsdbStats) -> u64),
}

/// Every figure: name (without prefix or `_total`), help, how to read it.
const FIGURES: &[(&str, &str, Figure)] = &[
    ("series", "Series in the index", Figure::Gauge(|s| s.series as u64)),
    ("head_samples", "Samples in head chunks, not yet sealed", Figure::Gauge(|s| s.head_samples)),
    ("head_chunks", "Head chunks, open or cut and waiting for the sealer", Figure::Gauge(|s| s.head_chunks as u64)),
    (
        "head_bytes",
        "Approximate memory held by head chunks and per-series state",
        Figure::Gauge(|s| s.head_bytes as u64),
    ),
    (
        "pending_seal_chunks",
        "Head chunks cut and waiting for the sealer",
        Figure::Gauge(|s| s.pending_seal_chunks as u64),
    ),
    ("sealed_chunks", "Sealed chunks stored", Figure::Gauge(|s| s.sealed_chunks)),
    ("wal_records", "WAL records stored (batches not yet sealed)", Figure::Gauge(|s| s.wal_records)),
    ("wal_bytes", "Bytes of WAL records stored", Figure::Gauge(|s| s.wal_bytes)),
    ("queued_batches", "Batches waiting for the writer", Figure::Gauge(|s| s.queued_batches as u64)),
    ("queued_samples", "Samples waiting for the writer", Figure::Gauge(|s| s.queued_samples as u64)),
    ("sealed_bytes", "Bytes of sealed chunks written", Figure::Counter(|s| s.sealed_bytes_total)),
    ("sealed_samples", "Samples sealed into chunks", Figure::Counter(|s| s.sealed_samples_total)),
    ("wal_written_bytes", "Bytes of WAL records written", Figure::Counter(|s| s.wal_bytes_written_total)),
    ("commits", "Group commits", Figure::Counter(|s| s.commits_total)),
    ("appended_samples", "Samples stored", Figure::Counter(|s| s.appended_total)),
    (
        "out_of_order_samples",
        "Samples refused as older than their series' newest sample",
        Figure::Counter(|s| s.out_of_order_total),
    ),
    (
        "duplicate_samples",
        "Samples ignored as equal to their series' newest sample",
        Figure::Counter(|s| s.duplicates_total),
    ),
    ("replayed_batches", "Batches answered as replays without storing", Figure::Counter(|s| s.replays_total)),
    ("refused_batches", "Batches refused because a queue was full", Figure::Counter(|s| s.refused_batches_total)),
    ("commit_errors", "Group commits that failed", Figure::Counter(|s| s.commit_errors_total)),
    ("seal_errors", "Sealing transactions that failed", Figure::Counter(|s| s.seal_errors_total)),
    ("expired_chunks", "Sealed chunks deleted by retention", Figure::Counter(|s| s.expired_chunks_total)),
    ("expired_rollup_rows", "Rollup rows deleted by retention", Figure::Counter(|s| s.expired_rollup_rows_total)),
    (
        "packed_hour_runs",
        "Series' weeks of 1-hour rollups moved into packs",
        Figure::Counter(|s| s.packed_hour_runs_total),
    ),
    (
        "materialized_partitions",
        "Two-hour partitions whose rollup tiers were written from their raw chunks",
        Figure::Counter(|s| s.materialized_partitions_total),
    ),
    (
        "compacted_partitions",
        "Two-hour partitions whose received rollups (a federation master's) were compacted and their 1-hour points put together",
        Figure::Counter(|s| s.compacted_partitions_total),
    ),
    ("removed_series", "Series removed by retention", Figure::Counter(|s| s.removed_series_total)),
];

impl Collector for TsdbCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        for (name, help, figure) in FIGURES {
            let name = format!("sysmon_tsdb_{name}");
            match figure {
                Figure::Gauge(read) => {
                    let gauge = ConstGauge::new(read(&stats) as i64);
                    gauge.encode(encoder.encode_descriptor(&name, help, None, gauge.metric_type())?)?;
                }
                Figure::Counter(read) => {
                    let counter = ConstCounter::new(read(&stats));
                    counter.encode(encoder.encode_descriptor(&name, help, None, counter.metric_type())?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn every_figure_is_exposed_once_with_its_type() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let tsdb = Arc::new(Tsdb::open(db, sysmon_tsdb::TsdbConfig::default()).unwrap());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(TsdbCollector(tsdb.clone())));
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains("# TYPE sysmon_tsdb_series gauge\nsysmon_tsdb_series 0\n"), "{text}");
        assert!(text.contains("# TYPE sysmon_tsdb_commits counter\nsysmon_tsdb_commits_total 0\n"), "{text}");
        assert_eq!(text.matches("# TYPE ").count(), FIGURES.len());
        drop(registry);
        Arc::into_inner(tsdb).expect("the registry held the only other handle").close().unwrap();
    }
}
