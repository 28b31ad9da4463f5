//! sysmon federation: how aggregators find each other and how a fleet becomes one view
//! (DESIGN.md, data path step 6).
//!
//! - [`replicate`]: a regional folds its raw samples into 1-minute rollups and streams
//!   them, with its host registry and its replication frontier, to its master through an
//!   uplink ([`sysmon_uplink`]: the agent's disk spool, seqs and durable acks);
//! - [`fanout`]: a master reads raw samples from the aggregators below it for queries that
//!   need raw resolution or minutes not replicated yet, and marks a result partial when a
//!   region cannot answer;
//! - [`wire`]: federation's messages to and from the engine's types.
//!
//! The aggregator (`sysmon-aggregator`) wires these in by `role`; the crate never reads the
//! aggregator's store itself but through [`replicate::ReplicationSource`] and
//! [`fanout::RegionRoutes`]. It has no feature flags.
#![warn(missing_docs, unreachable_pub)]

mod error;
pub mod fanout;
pub mod replicate;
pub mod wire;

pub use error::{Error, Result};

/// Wall-clock now, unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
