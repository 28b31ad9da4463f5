//! sysmon's wire protocol.
//!
//! The agent -> aggregator `Ingest` stream (DESIGN.md, data path step 3), which federating
//! aggregators use too (step 6), and the `Federation` service a master reads raw samples
//! through: protobuf messages generated from `proto/sysmon/v1/ingest.proto` by protox and
//! tonic's build crate, plus the gRPC clients and servers.
//!
//! [`prometheus`] holds the remote_write `WriteRequest` that Prometheus servers push.
//!
//! The module [`v1`] holds everything generated for sysmon's own protocol; [`ingest_client`], [`ingest_server`],
//! [`federation_client`] and [`federation_server`] are re-exported for brevity.
#![warn(missing_docs, unreachable_pub)]

/// Generated protobuf messages and gRPC stubs of package `sysmon.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod v1 {
    tonic::include_proto!("sysmon.v1");
}

/// Prometheus's remote_write 1.0 messages (the subset sysmon reads), package `prometheus`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod prometheus {
    tonic::include_proto!("prometheus");
}

pub use v1::{federation_client, federation_server, ingest_client, ingest_server};

/// The largest encoded message either side accepts (16 MiB).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
