//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sysmon_tsdb::{CommitOutcome, Labels, SeriesData, Tsdb, TsdbConfig, WriteBatch};

/// Opens (or creates) the engine's file in `dir`.
pub fn open(dir: &Path, config: TsdbConfig) -> Tsdb {
    let db = redb::Database::create(dir.join("tsdb.redb")).expect("redb file opens");
    Tsdb::open(Arc::new(db), config).expect("tsdb opens")
}

/// Small chunks and a fast sealer, so that tests cross chunk boundaries.
pub fn small_config() -> TsdbConfig {
    TsdbConfig {
        chunk_max_samples: 8,
        seal_interval: Duration::from_millis(5),
        max_chunks_per_seal: 16,
        ..TsdbConfig::default()
    }
}

/// Labels from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
}

/// Submits a batch and waits for its outcome.
pub fn commit(tsdb: &Tsdb, batch: WriteBatch) -> CommitOutcome {
    tsdb.submit(batch).blocking_recv().expect("writer answers").expect("batch commits")
}

/// A batch of one producer.
pub fn batch(producer: Option<(&str, u64)>, series: &[Labels], samples: Vec<(u32, i64, f64)>) -> WriteBatch {
    WriteBatch { producer: producer.map(|(p, s)| (p.to_string(), s)), series: series.to_vec(), samples }
}

/// Samples as comparable bits.
pub fn bits(data: &SeriesData) -> Vec<(i64, u64)> {
    data.samples.iter().map(|(t, v)| (*t, v.to_bits())).collect()
}
