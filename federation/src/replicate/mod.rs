//! Upward replication: a regional aggregator folds its raw samples into 1-minute rollups
//! and streams them, with its host registry, its replication frontier and its active alerts,
//! to its master through an uplink (the agent's spool, seqs and durable acks).

mod pass;
mod replicator;
mod source;
mod state;

pub use replicator::{Replicator, ReplicatorConfig};
pub use source::ReplicationSource;
