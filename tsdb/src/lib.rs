//! sysmon's time-series engine (DESIGN.md, data path steps 4 and 5).
//!
//! One redb file holds everything: an inverted index of label pairs, a write-ahead log
//! written by group commit before any batch is acknowledged, sealed Gorilla-compressed
//! chunks, and 1-minute and 1-hour rollup tiers, each with its own retention.
#![warn(missing_docs, unreachable_pub)]

mod codec;
mod error;
mod labels;
mod matcher;
mod rollup;

pub use error::{Error, Result};
pub use labels::{Labels, METRIC_NAME};
pub use matcher::{MatchKind, Matcher};

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
