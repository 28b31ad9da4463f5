//! Rollup tiers: per-bucket summaries of raw samples.

mod tier;

pub use tier::Tier;
