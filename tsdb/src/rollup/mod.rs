//! Rollup tiers: per-bucket summaries of raw samples, materialized from a partition's
//! chunks once the partition is old (see `materialize.rs`), so that a bucket holds every
//! sample exactly once. Points are stored in runs written once; see `run.rs`. Final weeks of
//! the 1-hour tier are packed, many series' runs per value; see `packed.rs`.

mod compact;
mod done;
mod materialize;
mod packed;
mod point;
mod run;
mod tier;

pub(crate) use compact::compact_received;
pub(crate) use done::{Materialized, complete_before, tier_bit};
pub(crate) use materialize::materialize;
pub(crate) use packed::{HOUR_PACKS, decode_packed, pack_final_weeks};
pub use point::{RollupPoint, STALE_MARKER_BITS, fold_samples, is_stale_marker};
pub(crate) use run::{RunScratch, corrupt_run, decode_run, latest_per_bucket, run_extent, run_last_start, split_runs};
pub use tier::Tier;
