//! The uplink: a sender's crash-safe, acknowledged stream to an upstream aggregator
//! (DESIGN.md, data path steps 2 and 3, and step 6 for federation).
//!
//! An agent ships its collections through it to a regional aggregator; a regional ships its
//! rollups and host registry through it to its master, and a master to a higher master.
//! Both use the same parts:
//!
//! - the **outbox**: every batch is appended to the disk spool ([`sysmon_spool`]) and synced
//!   before it is sent, removed only when the aggregator acks it, sent first after a
//!   restart; drops (spool full, damaged, unwritable) are counted, logged and reported
//!   upstream as `spool_dropped` events;
//! - the **shipper**: one long-lived mutual-TLS gRPC `Ingest` stream: Hello (with the
//!   highest spooled seq), the aggregator's durable seq in answer, then batches in seq
//!   order with a bounded window in flight, acked as the aggregator commits them;
//! - the **failover** policy over an [`EndpointSource`] (a static list, or discovery):
//!   preferred endpoint first, jittered backoff, failback to a preferred endpoint once it
//!   returns.
//!
//! Open one with [`Uplink::open`], queue batches with [`Uplink::push`], and run the stream
//! with [`Uplink::ship`]. Its figures are in [`UplinkMetrics`]. The crate has no feature
//! flags.
#![warn(missing_docs, unreachable_pub)]

mod endpoints;
mod error;
mod failover;
mod metrics;
mod outbox;
mod settings;
mod shipper;
mod tls_probe;
mod uplink;

pub use endpoints::{EndpointSource, StaticEndpoints};
pub use error::{Error, Result};
pub use metrics::UplinkMetrics;
pub use settings::{ByteSize, SpoolSettings, UplinkSettings};
pub use shipper::HelloInfo;
pub use uplink::Uplink;

/// The spool's payload encoding, for the agent's benches. Not part of the API.
#[doc(hidden)]
pub mod bench_support {
    /// A batch as the outbox spools it.
    pub fn encode_payload(batch: &sysmon_proto::v1::Batch, collected_at_ms: i64) -> Vec<u8> {
        crate::outbox::encode_payload(batch, collected_at_ms)
    }
}

/// Wall-clock now, unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// An error and its causes on one line, each cause once.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
