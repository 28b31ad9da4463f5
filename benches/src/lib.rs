//! Shared pieces of sysmon's benches and of the fleet load generator `sysmon-loadgen`.
//!
//! Every figure a sysmon doc quotes comes from something in this crate (DESIGN.md,
//! "Contracts that tests hold"). The crate holds:
//!
//! - [`NodeLikeHost`]: a simulated host whose ~100 series have node_exporter's names and
//!   value shapes (the Rust twin of `gen_node_like.py`), encoded as self-contained wire
//!   batches exactly as the agent sends them;
//! - the `sysmon-loadgen` binary (`src/bin/loadgen.rs`): many such hosts streaming to one
//!   aggregator over the real mutual-TLS `Ingest` stream, reporting acked samples per second
//!   and ack latency;
//! - the `sysmon-master-store` binary (`src/bin/master_store.rs`): a federation master's
//!   bytes per host per day, from simulated replication into a real store;
//! - criterion benches under `benches/`.
//!
//! It has no feature flags.
#![warn(missing_docs, unreachable_pub)]

mod node_like;

pub use node_like::NodeLikeHost;
