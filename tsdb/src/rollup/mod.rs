//! Rollup tiers: per-bucket summaries of raw samples, computed as chunks are sealed and
//! written in the same transaction, so that a bucket holds every sealed sample exactly once.
//! Points are stored in blocks (see `block.rs`).

mod block;
mod codec;
mod point;
mod tier;

pub(crate) use block::{BlockSource, BlockStage, decode_block};
pub(crate) use point::fold_samples;
pub use point::{RollupPoint, STALE_MARKER_BITS, is_stale_marker};
pub use tier::Tier;
