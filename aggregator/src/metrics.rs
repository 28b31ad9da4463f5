//! The aggregator's own health figures, served at `/metrics`.
//!
//! Every drop or refusal is counted here by the same code that logs it, so the log and
//! `/metrics` always agree.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// Counters of the ingest path.
#[derive(Default)]
pub(crate) struct IngestMetrics {
    /// Samples committed to disk.
    pub(crate) stored_samples: Counter,
    /// Batches refused for breaking a rule or limit.
    pub(crate) rejected_batches: Counter,
    /// Batches received again after they were durable (dropped, already stored).
    pub(crate) replayed_batches: Counter,
    /// Streams refused because the agent id did not match the certificate.
    pub(crate) refused_streams: Counter,
    /// Samples dropped for being older than their series' newest sample (or at its time
    /// with another value), as Prometheus drops them.
    pub(crate) out_of_order_samples: Counter,
    /// Batches held back until the storage engine had room in its queues.
    pub(crate) backpressure_waits: Counter,
    /// remote_write requests answered, by outcome.
    pub(crate) remote_write_requests: Counter,
    /// remote_write series refused for breaking a rule or limit.
    pub(crate) remote_write_refused_series: Counter,
    /// Events agents reported (`sysmon_agent_events_total{kind}`).
    pub(crate) agent_events: crate::ingest::AgentEvents,
}

impl IngestMetrics {
    /// Registers every counter in `registry` under the `sysmon_ingest_` prefix.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("sysmon_ingest");
        sub.register("stored_samples", "Samples committed to disk", self.stored_samples.clone());
        sub.register("rejected_batches", "Batches refused for breaking a rule or limit", self.rejected_batches.clone());
        sub.register(
            "replayed_batches",
            "Batches received again after they were durable",
            self.replayed_batches.clone(),
        );
        sub.register(
            "refused_streams",
            "Streams refused because the agent id did not match the certificate",
            self.refused_streams.clone(),
        );
        sub.register(
            "out_of_order_samples",
            "Samples dropped for being older than their series' newest sample",
            self.out_of_order_samples.clone(),
        );
        sub.register(
            "backpressure_waits",
            "Batches held back until the storage engine had room in its queues",
            self.backpressure_waits.clone(),
        );
        sub.register("remote_write_requests", "remote_write requests received", self.remote_write_requests.clone());
        sub.register(
            "remote_write_refused_series",
            "remote_write series refused for breaking a rule or limit",
            self.remote_write_refused_series.clone(),
        );
        self.agent_events.register(registry);
    }
}
