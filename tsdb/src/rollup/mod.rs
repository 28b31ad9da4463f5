//! Rollup tiers: per-bucket summaries of raw samples, computed as chunks are sealed and
//! written in the same transaction, so that a bucket holds every sealed sample exactly once.
//! Completed points are stored in runs written once; see `run.rs`.

mod point;
mod run;
mod stage;
mod tier;

pub use point::{RollupPoint, STALE_MARKER_BITS, is_stale_marker};
pub(crate) use run::{RunScratch, decode_open, decode_open_into, decode_run, run_extent, run_last_start, split_runs};
pub(crate) use stage::{RollupStage, RollupWrites};
pub use tier::Tier;
