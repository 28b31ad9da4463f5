//! sysmon's time-series engine (DESIGN.md, data path steps 4 and 5).
//!
//! One redb file, shared with the aggregator's other tables (every table here is named
//! `tsdb_*`), holds everything:
//!
//! - a **series index**: series id <-> [`Labels`], with an in-memory inverted index (label
//!   pair -> series ids) that answers any mix of the four PromQL [`Matcher`]s;
//! - a **write-ahead log**: [`Tsdb::submit`] queues a [`WriteBatch`]; one writer thread
//!   group-commits many batches in one fsynced transaction (one compact record per batch,
//!   plus the producer's seq for exactly-once delivery) and only then answers;
//! - **head chunks** in memory, Gorilla-encoded as samples arrive, which a sealer thread
//!   turns into **sealed chunks** (per stream the smallest of Gorilla, packed integer and
//!   scaled-decimal encodings, zstd when it pays) written together with their **1-minute and
//!   1-hour rollups** ([`RollupPoint`]) while the WAL is trimmed;
//! - **retention** per tier ([`TsdbConfig`]), applied by the sealer thread.
//!
//! Reads ([`Tsdb::select`], [`Tsdb::series`], [`Tsdb::label_names`], [`Tsdb::label_values`],
//! [`Tsdb::select_rollup`]) use redb snapshots and short copies of the heads; they never
//! wait for a commit.
//!
//! The crate has no feature flags. Its calls block, except [`Tsdb::submit`] and
//! [`Tsdb::write_rollups`], which answer on a tokio oneshot: async callers run the others
//! with `spawn_blocking`.
#![warn(missing_docs, unreachable_pub)]

mod batch;
mod codec;
mod config;
mod db;
mod error;
mod head;
mod index;
mod labels;
mod matcher;
mod pack;
mod partition;
mod postings;
mod read;
mod recovery;
mod retention;
mod rollup;
mod schema;
mod seal;
mod shared;
mod stats;
mod wal;
mod writer;

pub use batch::{CommitOutcome, KeyedBatch, SeriesKey, WriteBatch};
pub use config::{Clock, TsdbConfig};
pub use db::Tsdb;
pub use error::{Error, Result};
pub use labels::{Labels, METRIC_NAME};
pub use matcher::{MatchKind, Matcher};
pub use read::{RollupSeries, SampleColumns, SeriesData};
pub use rollup::{RollupPoint, STALE_MARKER_BITS, Tier, fold_samples, is_stale_marker};
pub use stats::TsdbStats;

/// The chunk codec, for the benches in `benches/`. Not part of the API.
#[doc(hidden)]
pub mod bench_support {
    /// Encodes sealed chunks (zstd level 3 when it pays).
    pub struct ChunkEncoder(crate::codec::ChunkEncoder);

    impl Default for ChunkEncoder {
        fn default() -> Self {
            ChunkEncoder(crate::codec::ChunkEncoder::new(3))
        }
    }

    impl ChunkEncoder {
        /// An encoder at zstd `level` (0: none).
        pub fn with_level(level: i32) -> ChunkEncoder {
            ChunkEncoder(crate::codec::ChunkEncoder::new(level))
        }

        /// Encodes samples as a sealed chunk.
        pub fn encode(&mut self, ts: &[i64], values: &[f64]) -> Vec<u8> {
            self.0.encode(ts, values, None)
        }
    }

    /// Decodes a sealed chunk into `ts` and `values`.
    ///
    /// # Errors
    /// The chunk is corrupt.
    pub fn decode_chunk(chunk: &[u8], ts: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<(), String> {
        crate::codec::decode_chunk(chunk, ts, values).map(|_| ())
    }
}
